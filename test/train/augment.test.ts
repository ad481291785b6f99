import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, type RgbImage } from '../../src/core/index.ts';
import { applyAugment, drawAugment, resolveTrainConfig, sampleSeed, type AugmentParams } from '../../src/train/index.ts';

const S = 64;
const C = (S - 1) / 2;
const inDisc = (x: number, y: number, r: number) => (x - C) ** 2 + (y - C) ** 2 <= r * r;

/** A retina-like disc (radius 28) with a gradient, black outside, as after preprocessing. */
function disc(): RgbImage {
  const data = new Uint8Array(S * S * 3);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (inDisc(x, y, 28)) data.set([60 + 2 * x, 40 + 2 * y, 90], (y * S + x) * 3);
  return { width: S, height: S, channels: 3, data };
}

const IDENTITY: AugmentParams = { hflip: false, vflip: false, rotate: 0, scale: 1, shiftX: 0, shiftY: 0, brightness: 1, contrast: 1, gamma: 1 };
const px = (img: RgbImage, x: number, y: number) => Array.from(img.data.subarray((y * S + x) * 3, (y * S + x) * 3 + 3));

test('identity parameters return the image unchanged', async () => {
  const img = disc();
  assert.deepEqual((await applyAugment(img, IDENTITY)).data, img.data);
});

test('a horizontal flip mirrors the image (libvips lands it at most one pixel over)', async () => {
  const img = disc();
  const out = await applyAugment(img, { ...IDENTITY, hflip: true });
  let exact = 0;
  let shifted = 0;
  for (let y = 4; y < S - 4; y++) for (let x = 4; x < S - 4; x++) {
    if (px(out, x, y).join() === px(img, S - 1 - x, y).join()) exact++;
    if (px(out, x, y).join() === px(img, S - x, y).join()) shifted++;
  }
  assert.equal(Math.max(exact, shifted), (S - 8) ** 2);
});

test('random augmentation keeps everything outside the warped retina black and is reproducible from its seed', async () => {
  const img = disc();
  const cfg = resolveTrainConfig({}, {}).augment;
  for (let k = 0; k < 8; k++) {
    const p = drawAugment(new Rng(sampleSeed(42, 3, k)), cfg, S);
    const a = await applyAugment(img, p);
    const b = await applyAugment(img, drawAugment(new Rng(sampleSeed(42, 3, k)), cfg, S));
    assert.deepEqual(a.data, b.data);
    // The retina (radius 28, scaled by at most 1.1, shifted by at most 0.05 S) never reaches these pixels.
    const reach = 28 * p.scale + Math.hypot(p.shiftX, p.shiftY) + 2;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (!inDisc(x, y, reach)) assert.deepEqual(px(a, x, y), [0, 0, 0], `pixel (${x},${y}) of augmentation ${k}`);
    // ... and keeps most of the retina lit.
    let lit = 0;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (inDisc(x - p.shiftX, y - p.shiftY, 28 * p.scale - 2) && px(a, x, y).some((v) => v > 0)) lit++;
    assert.ok(lit > 0.95 * Math.PI * (28 * p.scale - 2) ** 2, `augmentation ${k}: only ${lit} retina pixels lit`);
  }
  assert.notDeepEqual(drawAugment(new Rng(sampleSeed(42, 3, 0)), cfg, S), drawAugment(new Rng(sampleSeed(42, 4, 0)), cfg, S));
});

test('brightness, contrast and gamma act inside the retina only', async () => {
  const img = disc();
  const out = await applyAugment(img, { ...IDENTITY, brightness: 1.2 });
  // Brightness alone (contrast 1, gamma 1) is a gain: 100 -> 120, clipped at 255.
  assert.deepEqual(px(out, 20, 30), px(img, 20, 30).map((v) => Math.min(255, Math.round(v * 1.2))));
  assert.deepEqual(px(out, 0, 0), [0, 0, 0]);
  const g = await applyAugment(img, { ...IDENTITY, gamma: 2 });
  assert.deepEqual(px(g, 20, 30), px(img, 20, 30).map((v) => Math.round(255 * (v / 255) ** 2)));
});

test('quarter turns: a turn of 90 degrees is a lossless rotation (within libvips\' one pixel), and turning adds one draw after the others', async () => {
  const img = disc();
  const out = await applyAugment(img, { ...IDENTITY, rotate: 90 });
  // counter-clockwise with the y axis up (rows are stored top down): output (x, y) shows input (y, S - 1 - x)
  let best = 0;
  for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
    let same = 0;
    for (let y = 4; y < S - 4; y++) for (let x = 4; x < S - 4; x++) if (px(out, x, y).join() === px(img, y + dx, S - 1 - x + dy).join()) same++;
    best = Math.max(best, same);
  }
  assert.equal(best, (S - 8) ** 2);
  const plain = resolveTrainConfig({}, {}).augment;
  assert.equal(plain.quarter_turns, false);
  const turned = { ...plain, rotate: 0, quarter_turns: true };
  const seen = new Set<number>();
  for (let k = 0; k < 64; k++) {
    const a = drawAugment(new Rng(sampleSeed(42, 1, k)), { ...plain, rotate: 0 }, S);
    const b = drawAugment(new Rng(sampleSeed(42, 1, k)), turned, S);
    assert.deepEqual({ ...b, rotate: 0 }, { ...a, rotate: 0 });
    assert.ok([0, 90, 180, 270].includes(b.rotate));
    seen.add(b.rotate);
  }
  assert.equal(seen.size, 4);
});
