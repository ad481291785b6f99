/**
 * Deletion and insertion curves (Petsiuk et al., "RISE", BMVC 2018, section 4.1): remove the
 * pixels a heat map ranks highest first and watch the target probability fall (deletion; a
 * faithful map falls fast, low area under the curve), or add them first to a blurred canvas and
 * watch it rise (insertion; high area). Only retina pixels are ranked and changed; a deleted
 * pixel becomes black, the colour of the background after preprocessing; the insertion canvas is
 * the image blurred with a Gaussian of sigma = 5% of its width (RISE's blurred start), black
 * outside the retina. All steps of a curve go through the model as one batch.
 * The same curves for a random pixel order are the baseline a map has to beat.
 */
import sharp from 'sharp';
import { Rng, type RgbImage } from '../core/index.ts';
import { trapezoidArea } from '../evaluate/index.ts';
import type { CamExplainer } from './explainer.ts';
import { REFERABLE_TARGET, type CamTarget } from './targets.ts';

export interface FaithfulnessOptions {
  target?: CamTarget;
  /** Retina mask (width*height, 0 = outside); default the whole image. */
  retina?: Uint8Array;
  /** Number of steps after the start (default 16): fractions 0, 1/steps, ..., 1. */
  steps?: number;
  /** Rank pixels by the map (default) or in a seeded random order (the baseline). */
  order?: 'map' | { random: number };
}

export interface FaithfulnessCurves {
  fractions: number[];
  deletion: number[];
  insertion: number[];
  deletionAuc: number;
  insertionAuc: number;
}

export const BLUR_SIGMA_FRACTION = 0.05;

/** Retina pixel indices, most salient first (stable on ties), or in a seeded random order. */
export function rankPixels(map: ArrayLike<number>, retina: Uint8Array | undefined, order: FaithfulnessOptions['order'] = 'map'): number[] {
  const idx: number[] = [];
  for (let i = 0; i < map.length; i++) if (!retina || retina[i]) idx.push(i);
  if (order === 'map') return idx.sort((a, b) => map[b] - map[a] || a - b);
  return new Rng(order.random).shuffle(idx);
}

async function blurred(image: RgbImage, retina?: Uint8Array): Promise<RgbImage> {
  const sigma = Math.max(0.3, BLUR_SIGMA_FRACTION * image.width);
  const buf = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } }).blur(sigma).raw().toBuffer();
  const data = new Uint8Array(buf.buffer, buf.byteOffset, buf.length).slice();
  if (retina) for (let i = 0; i < retina.length; i++) if (!retina[i]) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = 0;
  return { ...image, data };
}

/** Deletion and insertion curves of one preprocessed image under `map` (its size). */
export async function faithfulnessCurves(explainer: CamExplainer, image: RgbImage, map: Float32Array, opts: FaithfulnessOptions = {}): Promise<FaithfulnessCurves> {
  const steps = opts.steps ?? 16;
  const order = rankPixels(map, opts.retina, opts.order ?? 'map');
  const canvas = await blurred(image, opts.retina);
  const fractions = Array.from({ length: steps + 1 }, (_, s) => s / steps);
  const del: RgbImage[] = [];
  const ins: RgbImage[] = [];
  for (const f of fractions) {
    const k = Math.round(f * order.length);
    const d = image.data.slice();
    const n = canvas.data.slice();
    for (let j = 0; j < k; j++) {
      const p = 3 * order[j];
      d[p] = d[p + 1] = d[p + 2] = 0;
      n[p] = image.data[p];
      n[p + 1] = image.data[p + 1];
      n[p + 2] = image.data[p + 2];
    }
    del.push({ ...image, data: d });
    ins.push({ ...image, data: n });
  }
  const target = opts.target ?? REFERABLE_TARGET;
  const all = [...del, ...ins];
  const scores = await explainer.forward(explainer.inputTensor(all), all.length, target);
  const deletion = scores.probability.slice(0, del.length);
  const insertion = scores.probability.slice(del.length);
  return { fractions, deletion, insertion, deletionAuc: trapezoidArea(fractions, deletion), insertionAuc: trapezoidArea(fractions, insertion) };
}
