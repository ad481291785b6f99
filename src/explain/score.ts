/**
 * Where does the heat fall? Heat maps scored against pixel lesion masks (all planes in the
 * model-input geometry, width*height, nonzero = inside).
 *
 * - Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016):
 *   a hit when the map's maximum inside the retina (the first in raster order on ties) lies
 *   within `tolerance` pixels of a lesion pixel (any of MA, HE, EX, SE); here tolerance = 1% of
 *   the image width. The maximum is looked for where the product shows heat: the overlays and
 *   the API blank the heat outside the retina, where the model input is black and a coarse map
 *   upsampled from 7 x 7 can still peak (IDRiD_01 peaked on the top edge). Images without
 *   lesions score null.
 * - Energy ratio per lesion type t: (heat inside t / heat inside the retina) divided by
 *   (area of t / area of the retina) — how many times more heat t gets than under a uniform map
 *   (1 = chance). Computed inside the retina mask (lesions live there; the black padding would
 *   only dilute both shares); null when t is absent or the map has no heat in the retina.
 * - Optic disc: the share of the retina's heat on the OD, next to the OD's share of the area.
 * - `outsideRetina`: the share of all heat that falls outside the retina.
 */
import { DrXaiError, Rng } from '../core/index.ts';

export const LESION_KINDS = ['MA', 'HE', 'EX', 'SE'] as const;
export type LesionKind = (typeof LESION_KINDS)[number];

export interface LesionPlanes {
  MA: Uint8Array;
  HE: Uint8Array;
  EX: Uint8Array;
  SE: Uint8Array;
  OD: Uint8Array;
}

export interface HeatScore {
  pointingHit: boolean | null;
  maxAt: { x: number; y: number };
  energyRatio: Record<LesionKind | 'any', number | null>;
  odHeatShare: number | null;
  odAreaShare: number | null;
  outsideRetina: number;
}

export interface ScoreOptions {
  /** Pointing-game tolerance as a fraction of the image width (default 0.01). */
  tolerance?: number;
}

export const DEFAULT_POINTING_TOLERANCE = 0.01;

/** Union of the four lesion planes. */
export function anyLesion(lesions: LesionPlanes): Uint8Array {
  const n = lesions.MA.length;
  const out = new Uint8Array(n);
  for (const k of LESION_KINDS) {
    const p = lesions[k];
    for (let i = 0; i < n; i++) if (p[i]) out[i] = 1;
  }
  return out;
}

/** Score one heat map (any non-negative values; only ratios are used) against its masks. */
export function scoreHeatmap(map: ArrayLike<number>, width: number, height: number, lesions: LesionPlanes, retina: Uint8Array, opts: ScoreOptions = {}): HeatScore {
  const n = width * height;
  for (const [name, plane] of [...Object.entries(lesions), ['retina', retina]] as [string, Uint8Array][]) {
    if (plane.length !== n) throw new DrXaiError(`${name} mask has ${plane.length} values, the map ${width}x${height}`);
  }
  const union = anyLesion(lesions);
  let best = -Infinity;
  let at = 0;
  let total = 0;
  let inRetina = 0;
  let retinaArea = 0;
  let bestAnywhere = -Infinity;
  let atAnywhere = 0;
  for (let i = 0; i < n; i++) {
    const v = map[i];
    if (v > bestAnywhere) {
      bestAnywhere = v;
      atAnywhere = i;
    }
    total += v;
    if (retina[i]) {
      if (v > best) {
        best = v;
        at = i;
      }
      inRetina += v;
      retinaArea++;
    }
  }
  if (retinaArea === 0) at = atAnywhere;
  const mx = at % width;
  const my = Math.floor(at / width);
  // pointing game
  let hasLesion = false;
  for (let i = 0; i < n; i++) if (union[i] && retina[i]) hasLesion = true;
  let pointingHit: boolean | null = null;
  if (hasLesion) {
    const tol = (opts.tolerance ?? DEFAULT_POINTING_TOLERANCE) * width;
    const r = Math.floor(tol);
    pointingHit = false;
    for (let y = Math.max(0, my - r); y <= Math.min(height - 1, my + r) && !pointingHit; y++) {
      for (let x = Math.max(0, mx - r); x <= Math.min(width - 1, mx + r); x++) {
        if (union[y * width + x] && (x - mx) ** 2 + (y - my) ** 2 <= tol * tol) {
          pointingHit = true;
          break;
        }
      }
    }
  }
  const share = (plane: Uint8Array): { heat: number; area: number } => {
    let heat = 0;
    let area = 0;
    for (let i = 0; i < n; i++) {
      if (plane[i] && retina[i]) {
        heat += map[i];
        area++;
      }
    }
    return { heat, area };
  };
  const ratio = (plane: Uint8Array): number | null => {
    const { heat, area } = share(plane);
    if (area === 0 || !(inRetina > 0)) return null;
    return heat / inRetina / (area / retinaArea);
  };
  const energyRatio = { MA: ratio(lesions.MA), HE: ratio(lesions.HE), EX: ratio(lesions.EX), SE: ratio(lesions.SE), any: ratio(union) };
  const od = share(lesions.OD);
  return {
    pointingHit,
    maxAt: { x: mx, y: my },
    energyRatio,
    odHeatShare: inRetina > 0 ? od.heat / inRetina : null,
    odAreaShare: retinaArea > 0 ? od.area / retinaArea : null,
    outsideRetina: total > 0 ? (total - inRetina) / total : 0,
  };
}

/** Baseline: uniform noise in [0, 1) inside the retina, 0 outside (seeded). */
export function randomHeatmap(rng: Rng, width: number, height: number, retina?: Uint8Array): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = !retina || retina[i] ? rng.next() : 0;
  return out;
}

/** Fraction of the width used as the centre baseline's standard deviation. */
export const CENTRE_SIGMA = 0.25;

/** Baseline: a Gaussian at the image centre, sigma = CENTRE_SIGMA * width (the centre bias of saliency work). */
export function centreGaussianHeatmap(width: number, height: number, sigmaFraction = CENTRE_SIGMA): Float32Array {
  const out = new Float32Array(width * height);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const s2 = 2 * (sigmaFraction * width) ** 2;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / s2);
  return out;
}

export interface ScoreSummary {
  images: number;
  /** Hits / images with lesions. */
  pointingGame: number | null;
  pointingImages: number;
  /** Mean over images where the type is present. */
  energyRatio: Record<LesionKind | 'any', number | null>;
  odHeatShare: number | null;
  odAreaShare: number | null;
  outsideRetina: number | null;
}

function mean(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

export function summariseScores(scores: HeatScore[]): ScoreSummary {
  const pointed = scores.filter((s) => s.pointingHit !== null);
  const energyRatio = {} as Record<LesionKind | 'any', number | null>;
  for (const k of [...LESION_KINDS, 'any'] as const) energyRatio[k] = mean(scores.map((s) => s.energyRatio[k]));
  return {
    images: scores.length,
    pointingGame: pointed.length ? pointed.filter((s) => s.pointingHit).length / pointed.length : null,
    pointingImages: pointed.length,
    energyRatio,
    odHeatShare: mean(scores.map((s) => s.odHeatShare)),
    odAreaShare: mean(scores.map((s) => s.odAreaShare)),
    outsideRetina: mean(scores.map((s) => s.outsideRetina)),
  };
}
