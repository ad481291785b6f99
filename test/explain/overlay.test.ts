import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { JET_RGB, drawContour, heatToRgb, overlayHeat } from '../../src/explain/index.ts';
import { composeBoard } from '../../src/core/index.ts';
import { readJson } from './helpers.ts';

const jet = readJson<{ jetRgb: number[]; heat: number[][]; image: number[]; overlay: number[] }>('jet.json');
const S = jet.heat.length;

test('the JET table is OpenCV COLORMAP_JET in RGB order', () => {
  assert.deepEqual(Array.from(JET_RGB), jet.jetRgb);
});

test('overlay equals cv2.addWeighted(image, 0.5, applyColorMap(uint8(255 heat), JET), 0.5, 0)', () => {
  const image = { width: S, height: S, channels: 3 as const, data: Uint8Array.from(jet.image) };
  const out = overlayHeat(image, Float32Array.from(jet.heat.flat()));
  assert.deepEqual(Array.from(out.data), jet.overlay);
});

test('outside the retina the image is left dark; heatToRgb colours 0 dark blue and 1 dark red', () => {
  const image = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array([0, 0, 0, 100, 100, 100]) };
  const out = overlayHeat(image, new Float32Array([1, 1]), { retina: new Uint8Array([0, 255]) });
  assert.deepEqual(Array.from(out.data.subarray(0, 3)), [0, 0, 0]);
  assert.deepEqual(Array.from(out.data.subarray(3)), [114, 50, 50]); // JET(255) = (128, 0, 0); (100 + 128)/2, 100/2
});

test('contours outline a mask without filling it', () => {
  const img = { width: 5, height: 5, channels: 3 as const, data: new Uint8Array(75) };
  const mask = new Uint8Array(25);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) mask[y * 5 + x] = 255;
  drawContour(img, mask, [255, 255, 255]);
  const lit = Array.from({ length: 25 }, (_, i) => img.data[3 * i]);
  assert.deepEqual(lit, [0, 0, 0, 0, 0, 0, 255, 255, 255, 0, 0, 255, 0, 255, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
  assert.equal(heatToRgb(new Float32Array([0]), 1, 1).data[2], JET_RGB[2]);
});

test('a board composes cells and captions into one PNG of the expected size', { skip: !existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf') && !process.env.DRXAI_FONT }, async () => {
  const tile = { width: 32, height: 32, channels: 3 as const, data: new Uint8Array(32 * 32 * 3).fill(200) };
  const png = await composeBoard(
    [{ images: [tile, tile], caption: ['a <b> & c', 'line 2'] }, { images: [tile, tile], caption: ['x'] }, { images: [tile, tile], caption: ['y'] }],
    { title: 'T', footer: ['disclaimer'], columns: 2, fontSize: 11 },
  );
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  // two columns of (2 tiles + 2 px) plus gaps; two rows
  assert.equal(meta.width, 2 * (2 * 32 + 2) + 3 * 8);
  const raw = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  // the first tile sits at (8, titleH + 8) and is grey 200
  const titleH = Math.round(11 * 2.2);
  const p = ((titleH + 8 + 5) * raw.info.width + 8 + 5) * raw.info.channels;
  assert.deepEqual([raw.data[p], raw.data[p + 1], raw.data[p + 2]], [200, 200, 200]);
});
