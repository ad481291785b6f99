// Loads the OpenCV reference fixtures made by scripts/fixtures/make_preprocess_fixtures.py.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/core/index.ts';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/preprocess');

export interface CaseMeta {
  width: number;
  height: number;
  otsu: number;
  circle: [number, number, number];
  bbox: [number, number, number, number];
  resizes: Record<string, string>;
  variants: Record<string, { size: number; mask?: boolean; crop?: boolean; green?: boolean; ben?: boolean }>;
  /** bench/preprocess_ref.py quality_score of each variant's cropped photograph. */
  quality: Record<string, { retinaFraction: number; maskSolidity: number; mean: number; darkFraction: number; saturatedFraction: number; laplacianStd: number; sharpness: number }>;
}
export const META: { opencv: string; cases: Record<string, CaseMeta>; tex: { otsu: number } } = JSON.parse(
  readFileSync(path.join(FIXTURES, 'meta.json'), 'utf8'),
);
export const CASES = Object.keys(META.cases);

/** A fixture PNG as stored: 3 channels for colour files, 1 for grey planes. */
export async function loadFixture(name: string): Promise<RgbImage> {
  const file = path.join(FIXTURES, name);
  const grey = (await sharp(file).metadata()).channels === 1;
  const pipeline = grey ? sharp(file).extractChannel(0) : sharp(file);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 && info.channels !== 3) throw new Error(`${name}: ${info.channels} channels`);
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Count of positions where |a - b| > tol, and the largest difference. */
export function diffStats(a: Uint8Array, b: Uint8Array, tol = 0): { over: number; max: number; differing: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let over = 0, max = 0, differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) differing++;
    if (d > tol) over++;
    if (d > max) max = d;
  }
  return { over, max, differing };
}
