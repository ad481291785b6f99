import type { Rng } from '../../core/index.ts';
import { quadrantOf, type LesionPlan } from './grade.ts';
import type { Lesion, LesionType, MaskedLesionType, PhantomAnatomy, PhantomDifficulty } from './types.ts';
import { growNewVessels, type VesselSegment } from './vessels.ts';

/**
 * Lesion placement and shapes. Each masked lesion paints two things: its effect (how strongly
 * it changes the colour, 0..1, soft edges and contrast included) and its mask (the pixels
 * where its shape covers at least half the pixel, contrast not included), so a faint lesion is
 * still fully present in the ground truth.
 *
 * Sizes follow the clinical descriptions, with the optic disc diameter (about 0.27 retina
 * radii here) as the yardstick (Wilkinson et al., Ophthalmology 2003; ETDRS Report 10, 1991):
 * microaneurysms < 125 um (< 1/14 disc diameter), blot haemorrhages up to about 1/3 disc
 * diameter, flame haemorrhages elongated along the nerve fibres radiating from the disc,
 * hard exudates as clusters of small sharp yellow deposits near the macula, cotton-wool spots
 * as fuzzy pale patches of 1/4 to 1/2 disc diameter near the disc and arcades.
 */

export interface LesionLayer {
  effect: Float32Array;
  mask: Uint8Array;
}

export interface LesionDrawing {
  lesions: Lesion[];
  layers: Partial<Record<MaskedLesionType, LesionLayer>>;
  /** New vessels, drawn like veins. */
  newVessels: VesselSegment[];
}

interface Geometry {
  size: number;
  anatomy: PhantomAnatomy;
  /** Normalised distance from the retina centre (1 on the rim). */
  rho: (x: number, y: number) => number;
  /** Vessel absorbance, to keep lesions off large vessels. */
  vessels: Float32Array;
}

// Nominal radii, in retina radii (R = anatomy.retina.radiusX).
const RADIUS: Record<LesionType, [number, number]> = {
  MA: [0.006, 0.011],
  HE: [0.02, 0.045],
  EX: [0.025, 0.07],
  SE: [0.03, 0.06],
  NV: [0.08, 0.12],
};

/** Where each kind tends to appear: a disc (centre as a function of anatomy, radius in R). */
function regionFor(type: LesionType, a: PhantomAnatomy): { cx: number; cy: number; radius: number } {
  const f = a.fovea;
  const d = a.opticDisc;
  switch (type) {
    case 'MA': // posterior pole
      return { cx: f.x, cy: f.y, radius: 0.75 };
    case 'EX': // around the macula (circinate rings)
      return { cx: f.x, cy: f.y, radius: 0.45 };
    case 'SE': // near the disc and arcades
      return { cx: (f.x + d.x) / 2, cy: (f.y + d.y) / 2, radius: 0.6 };
    default: // haemorrhages anywhere on the retina
      return { cx: a.retina.x, cy: a.retina.y, radius: 0.9 };
  }
}

function newLayer(size: number): LesionLayer {
  return { effect: new Float32Array(size * size), mask: new Uint8Array(size * size) };
}

/** The pixel square within `reach` of (cx, cy), clipped to the size x size image. */
function clippedSquare(cx: number, cy: number, reach: number, size: number): { x0: number; x1: number; y0: number; y1: number } {
  return {
    x0: Math.max(0, Math.floor(cx) - reach),
    x1: Math.min(size - 1, Math.ceil(cx) + reach),
    y0: Math.max(0, Math.floor(cy) - reach),
    y1: Math.min(size - 1, Math.ceil(cy) + reach),
  };
}

/**
 * Paint a star-shaped blob: `radiusAt(theta)` gives its outline; `soft` is the edge width in
 * pixels (about 1 for a sharp, anti-aliased edge); `core` in [0, 1] darkens the middle.
 */
function paintBlob(layer: LesionLayer, size: number, cx: number, cy: number, maxRadius: number, radiusAt: (theta: number) => number, soft: number, strength: number, core: number): void {
  const reach = Math.ceil(maxRadius + soft + 1);
  const { x0, x1, y0, y1 } = clippedSquare(cx, cy, reach, size);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const d = Math.sqrt(dx * dx + dy * dy);
      const r = radiusAt(Math.atan2(dy, dx));
      const cover = Math.min(1, Math.max(0, 0.5 + (r - d) / soft));
      if (cover <= 0) continue;
      const i = y * size + x;
      if (d <= r) layer.mask[i] = 255;
      const inner = d < r ? 1 - (d * d) / (r * r) : 0;
      const e = strength * cover * (1 - core + core * inner);
      if (e > layer.effect[i]) layer.effect[i] = e;
    }
  }
}

/** Paint an ellipse with half-axes `a` (along `angle`) and `b`; `soft` in pixels across the short axis. */
function paintEllipse(layer: LesionLayer, size: number, cx: number, cy: number, a: number, b: number, angle: number, soft: number, strength: number, core: number): void {
  const reach = Math.ceil(a + soft + 1);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const { x0, x1, y0, y1 } = clippedSquare(cx, cy, reach, size);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const u = (x - cx) * cos + (y - cy) * sin;
      const v = -(x - cx) * sin + (y - cy) * cos;
      const ua = u / a;
      const vb = v / b;
      const q = Math.sqrt(ua * ua + vb * vb);
      const cover = Math.min(1, Math.max(0, 0.5 + ((1 - q) * b) / soft));
      if (cover <= 0) continue;
      const i = y * size + x;
      if (q <= 1) layer.mask[i] = 255;
      const inner = q < 1 ? 1 - q * q : 0;
      const e = strength * cover * (1 - core + core * inner);
      if (e > layer.effect[i]) layer.effect[i] = e;
    }
  }
}

/** Random outline: a circle wobbled by a few low harmonics. */
function wobbly(rng: Rng, radius: number, amount: number): { radiusAt: (t: number) => number; max: number } {
  const a2 = rng.uniform(0, amount);
  const p2 = rng.uniform(0, 2 * Math.PI);
  const a3 = rng.uniform(0, amount);
  const p3 = rng.uniform(0, 2 * Math.PI);
  const a4 = rng.uniform(0, amount);
  const p4 = rng.uniform(0, 2 * Math.PI);
  return {
    radiusAt: (t) => radius * (1 + a2 * Math.cos(2 * t + p2) + a3 * Math.cos(3 * t + p3) + a4 * Math.cos(4 * t + p4)),
    max: radius * (1 + a2 + a3 + a4),
  };
}

/**
 * Place the planned lesions by rejection sampling (inside the retina and the image, off the
 * optic disc, the fovea and large vessels, apart from each other) and paint them.
 */
export function drawLesions(rng: Rng, plan: LesionPlan, g: Geometry, difficulty: PhantomDifficulty): LesionDrawing {
  const { size, anatomy } = g;
  const R = anatomy.retina.radiusX;
  const lesions: Lesion[] = [];
  const layers: Partial<Record<MaskedLesionType, LesionLayer>> = {};
  const newVessels: VesselSegment[] = [];
  const contrast = (): number => difficulty.lesionContrast * rng.uniform(1 - difficulty.contrastJitter, 1);
  const radius = (type: LesionType): number =>
    Math.max(type === 'MA' ? 0.9 : 1.2, R * rng.uniform(RADIUS[type][0], RADIUS[type][1]) * rng.uniform(1 - difficulty.sizeJitter, 1 + difficulty.sizeJitter));

  const fits = (type: LesionType, x: number, y: number, r: number, strict: boolean): boolean => {
    if (x - r < 1 || y - r < 1 || x + r > size - 2 || y + r > size - 2) return false;
    if (g.rho(x, y) > 0.9 - r / R) return false;
    const od = anatomy.opticDisc;
    if (type !== 'NV' && Math.hypot(x - od.x, y - od.y) < 1.3 * od.radius + r) return false;
    if (type !== 'NV' && Math.hypot(x - anatomy.fovea.x, y - anatomy.fovea.y) < 0.05 * R + r) return false;
    if (!strict) return true;
    if (type !== 'NV' && g.vessels[Math.round(y) * size + Math.round(x)] > 0.12) return false;
    const gap = 0.01 * R;
    return lesions.every((l) => Math.hypot(x - l.x, y - l.y) >= r + l.radius + gap);
  };

  const place = (type: LesionType, quadrant: number | null): Lesion | null => {
    const region = regionFor(type, anatomy);
    const r = radius(type);
    // Strict spacing first; if the retina is crowded, allow touching lesions and vessels.
    for (const strict of [true, false]) {
      for (let attempt = 0; attempt < 400; attempt++) {
        let x: number;
        let y: number;
        if (type === 'NV') {
          // New vessels at the disc (NVD) or along the arcades (NVE).
          const od = anatomy.opticDisc;
          const onDisc = lesions.every((l) => l.type !== 'NV');
          const dist = onDisc ? od.radius * rng.uniform(0.3, 1.4) : R * rng.uniform(0.3, 0.55);
          const t = rng.uniform(0, 2 * Math.PI);
          x = Math.round((onDisc ? od.x : anatomy.fovea.x) + dist * Math.cos(t));
          y = Math.round((onDisc ? od.y : anatomy.fovea.y) + dist * Math.sin(t));
        } else {
          const rr = region.radius * R * Math.sqrt(rng.next());
          const t = rng.uniform(0, 2 * Math.PI);
          x = Math.round(region.cx + rr * Math.cos(t));
          y = Math.round(region.cy + rr * Math.sin(t));
        }
        if (quadrant !== null && quadrantOf(x, y, anatomy.retina) !== quadrant) continue;
        if (fits(type, x, y, r, strict)) return { type, x, y, radius: r };
      }
    }
    return null;
  };

  const order: Array<[LesionType, number | null]> = [];
  for (let i = 0; i < plan.counts.NV; i++) order.push(['NV', null]);
  for (let q = 0; q < 4; q++) for (let i = 0; i < plan.hePerQuadrant; i++) order.push(['HE', q]);
  for (let i = 4 * plan.hePerQuadrant; i < plan.counts.HE; i++) order.push(['HE', null]);
  for (const type of ['SE', 'EX', 'MA'] as const) for (let i = 0; i < plan.counts[type]; i++) order.push([type, null]);

  for (const [type, quadrant] of order) {
    const lesion = place(type, quadrant);
    if (!lesion) continue;
    lesions.push(lesion);
    const { x, y, radius: r } = lesion;
    const c = contrast();
    if (type === 'NV') {
      newVessels.push(...growNewVessels(rng, R, { x, y }, r));
      continue;
    }
    const layer = (layers[type] ??= newLayer(size));
    if (type === 'MA') {
      paintBlob(layer, size, x, y, r, () => r, 1, c, 0.2);
    } else if (type === 'HE') {
      if (rng.next() < 0.35) {
        // Flame: elongated along the nerve fibre layer, which radiates from the disc.
        const od = anatomy.opticDisc;
        const along = Math.atan2(y - od.y, x - od.x) + rng.normal(0, 0.15);
        const b = Math.max(1, r * rng.uniform(0.3, 0.5));
        paintEllipse(layer, size, x, y, r, b, along, Math.max(1, 0.35 * b), c, 0.35);
      } else {
        const blob = wobbly(rng, r * 0.8, 0.12);
        paintBlob(layer, size, x, y, blob.max, blob.radiusAt, Math.max(1, 0.35 * r), c, 0.3);
      }
    } else if (type === 'EX') {
      // A cluster of small sharp deposits scattered around the centre.
      const deposits = 3 + rng.int(10);
      for (let k = 0; k < deposits; k++) {
        const t = rng.uniform(0, 2 * Math.PI);
        const rr = k === 0 ? 0 : r * Math.min(1, Math.abs(rng.normal(0, 0.5)));
        const br = Math.max(0.8, R * rng.uniform(0.004, 0.013));
        const dx = Math.round(x + rr * Math.cos(t));
        const dy = Math.round(y + rr * Math.sin(t));
        const blob = wobbly(rng, br, 0.15);
        paintBlob(layer, size, dx, dy, blob.max, blob.radiusAt, 1, c * rng.uniform(0.8, 1), 0.15);
      }
    } else {
      // Cotton-wool spot: fuzzy edge, a third of its radius wide.
      const blob = wobbly(rng, r * 0.85, 0.1);
      paintBlob(layer, size, x, y, blob.max, blob.radiusAt, Math.max(1.5, 0.5 * r), 0.7 * c, 0.5);
    }
  }
  return { lesions, layers, newVessels };
}
