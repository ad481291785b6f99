import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { RgbImage } from '../../src/core/index.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test/fixtures/explain');

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as T;
}

export interface CamCase {
  model: string;
  target: 'referable' | number;
  layer: string;
  method: 'gradcam' | 'gradcam++' | 'scorecam';
  variant: 'paper' | 'pytorch-grad-cam';
  weights: number[][];
  lowRes: number[][][];
  map: number[][][];
  logits: number[][];
  score: number[];
}

export interface CamReference {
  size: number;
  images: number[][];
  cases: CamCase[];
}

export function referenceImages(ref: CamReference): RgbImage[] {
  return ref.images.map((px) => ({ width: ref.size, height: ref.size, channels: 3, data: Uint8Array.from(px) }));
}

/** |a - b| <= atol + rtol |b| everywhere, with the worst index in the message. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (err > worstErr || Number.isNaN(actual[i])) {
      worstErr = Number.isNaN(actual[i]) ? Infinity : err;
      worst = i;
    }
  }
  assert.ok(worst < 0, `${what}: at ${worst} got ${actual[worst]}, expected ${expected[worst]}`);
}
