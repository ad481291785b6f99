// Building blocks against OpenCV 4.6 (fixtures from scripts/fixtures/make_preprocess_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  medianBlur,
  otsuThreshold,
  morphologyOpen,
  largestConnectedComponent,
  minEnclosingCircle,
  convexHullFill,
  retinaMask,
  rgbToLab,
  labToRgb,
  clahe,
  resizeArea,
  resizeNearest,
} from '../../src/preprocess/index.ts';
import { channel } from '../../src/preprocess/mask.ts';
import { resizeAreaChannel } from '../../src/preprocess/resize.ts';
import { boundingBox } from '../../src/preprocess/circle.ts';
import { ellipseHalfWidths } from '../../src/preprocess/runs.ts';
import { thresholdBinary } from '../../src/preprocess/threshold.ts';
import { roundHalfEven, saturateU8 } from '../../src/preprocess/rounding.ts';
import { CASES, META, loadFixture, diffStats } from './fixtures.ts';

test('rounding is OpenCV cvRound (half to even) and saturates', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, 0, 2, 3]);
  assert.deepEqual([-3, 254.5, 255.5, 300, NaN].map(saturateU8), [0, 254, 255, 255, 0]);
  // Its fast path (truncating v + 0.5) agrees with the clamped roundHalfEven on every tie and on
  // the neighbours of each tie, including the double just below 0.5 (where v + 0.5 rounds up to 1).
  const probes = [0.49999999999999994, 1e-300, 254.99999, Math.fround(0.1) * 3];
  for (let k = 0; k < 256; k++) for (const d of [-1e-6, -1e-12, 0, 1e-12, 1e-6]) probes.push(k + 0.5 + d, Math.fround(k + 0.5 + d));
  for (const v of probes) assert.equal(saturateU8(v), Math.min(255, Math.max(0, roundHalfEven(v))), `saturateU8(${v})`);
});

test('elliptic 9x9 kernel rows equal cv2.getStructuringElement(MORPH_ELLIPSE, (9, 9))', () => {
  assert.deepEqual(ellipseHalfWidths(9), [0, 3, 3, 4, 4, 4, 3, 3, 0]);
});

for (const name of CASES) {
  const meta = META.cases[name];
  test(`retina mask steps equal OpenCV exactly (${name}, ${meta.width}x${meta.height})`, async () => {
    const img = await loadFixture(`${name}_in.png`);
    const { width: w, height: h } = img;
    const med = medianBlur(channel(img, 1), w, h, 9);
    assert.equal(diffStats(med, (await loadFixture(`${name}_median.png`)).data).differing, 0, 'medianBlur(9)');
    const t = otsuThreshold(med);
    assert.equal(t, meta.otsu, 'Otsu threshold');
    const opened = morphologyOpen(thresholdBinary(med, t), w, h, 9);
    assert.equal(diffStats(opened, (await loadFixture(`${name}_opened.png`)).data).differing, 0, 'morphologyEx OPEN');
    const { mask: lcc } = largestConnectedComponent(opened, w, h);
    assert.equal(diffStats(lcc, (await loadFixture(`${name}_lcc.png`)).data).differing, 0, 'largest component');
    const c = minEnclosingCircle(lcc, w, h)!;
    // OpenCV works in float32 with its own order of operations; 1e-5 px is far below a pixel.
    assert.ok(Math.abs(c.cx - meta.circle[0]) < 1e-5 && Math.abs(c.cy - meta.circle[1]) < 1e-5 && Math.abs(c.r - meta.circle[2]) < 1e-5, `circle ${JSON.stringify(c)} vs ${meta.circle}`);
    assert.equal(diffStats(convexHullFill(lcc, w, h)!, (await loadFixture(`${name}_hull.png`)).data).differing, 0, 'convex hull fill');
    const rm = retinaMask(img);
    // Exact here; a pixel whose centre lies within ~1e-5 px of the 0.98 r circle could flip
    // because the circle is computed in another order of operations than OpenCV's.
    assert.equal(diffStats(rm.mask, (await loadFixture(`${name}_mask.png`)).data).differing, 0, 'final mask');
    assert.ok(rm.solidity > 0.9 && rm.solidity <= 1);
    assert.deepEqual(boundingBox(rm.mask, w, h), { x: meta.bbox[0], y: meta.bbox[1], width: meta.bbox[2], height: meta.bbox[3] });
  });

  test(`Lab, CLAHE and INTER_AREA match OpenCV (${name})`, async () => {
    const img = await loadFixture(`${name}_in.png`);
    const refLab = await loadFixture(`${name}_lab.png`);
    const lab = rgbToLab(img);
    const d = diffStats(lab.data, refLab.data, 1);
    assert.equal(d.over, 0, 'RGB->Lab within 1');
    assert.ok(d.differing <= lab.data.length * 0.001, `RGB->Lab off by one in ${d.differing} values`);
    // CLAHE alone, on OpenCV's own L plane: exact.
    const L = channel(refLab, 0);
    const out = clahe(L, img.width, img.height, 2.0, 8);
    assert.equal(diffStats(out, (await loadFixture(`${name}_clahe.png`)).data).differing, 0, 'CLAHE');
    for (const [size, file] of Object.entries(meta.resizes)) {
      const [w, h] = size.split('x').map(Number);
      const r = diffStats(resizeArea(img, w, h).data, (await loadFixture(file)).data, 1);
      assert.equal(r.over, 0, `INTER_AREA ${size} within 1`);
      assert.ok(r.differing <= w * h * 3 * 0.01, `INTER_AREA ${size}: ${r.differing} values off by one`);
    }
  });
}

test('CLAHE equals OpenCV on an awkward size with other clip limits and grids', async () => {
  const tex = await loadFixture('tex_in.png');
  for (const [file, clip, tx, ty] of [['tex_clahe_2_8.png', 2, 8, 8], ['tex_clahe_4_5x3.png', 4, 5, 3], ['tex_clahe_40_8.png', 40, 8, 8]] as const) {
    const out = clahe(tex.data, tex.width, tex.height, clip, tx, ty);
    assert.equal(diffStats(out, (await loadFixture(file)).data).differing, 0, file);
  }
  assert.equal(otsuThreshold(tex.data), META.tex.otsu);
});

test('RGB<->Lab over a sample of the colour cube is within 1 of OpenCV', async () => {
  const cube = await loadFixture('cube_in.png');
  assert.equal(diffStats(rgbToLab(cube).data, (await loadFixture('cube_lab.png')).data, 1).over, 0);
  const labs = await loadFixture('labcube_in.png');
  const back = diffStats(labToRgb(labs).data, (await loadFixture('labcube_rgb.png')).data, 1);
  assert.equal(back.over, 0);
  assert.ok(back.differing < labs.data.length * 0.05, `Lab->RGB: ${back.differing} values off by one`);
  // black and white are fixed points of the round trip
  const bw = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array([0, 0, 0, 255, 255, 255]) };
  assert.deepEqual([...rgbToLab(bw).data], [0, 128, 128, 255, 128, 128]);
  assert.deepEqual([...labToRgb(rgbToLab(bw)).data], [0, 0, 0, 255, 255, 255]);
});

test('nearest resize follows OpenCV indexing (floor(dx * src / dst))', () => {
  const row = { width: 5, height: 1, channels: 1 as const, data: new Uint8Array([10, 20, 30, 40, 50]) };
  assert.deepEqual([...resizeNearest(row, 2, 1).data], [10, 30]);
  assert.deepEqual([...resizeNearest(row, 7, 1).data], [10, 10, 20, 30, 30, 40, 50]);
  // integer-factor area = box mean (2x2 rounds half up, as OpenCV's SIMD path)
  const sq = { width: 2, height: 2, channels: 1 as const, data: new Uint8Array([1, 2, 2, 1]) };
  assert.deepEqual([...resizeArea(sq, 1, 1).data], [2]);
});

test('opening removes specks smaller than the kernel and keeps the disc; LCC keeps the biggest blob', () => {
  const w = 40, h = 30;
  const p = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - 20) ** 2 + (y - 15) ** 2 <= 100) p[y * w + x] = 255;
  for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) p[y * w + x] = 255; // 3x3 speck
  const o = morphologyOpen(p, w, h, 9);
  assert.equal(o[2 * w + 2], 0);
  assert.equal(o[15 * w + 20], 255);
  const two = new Uint8Array(w * h);
  two.fill(255, 0, 5); // area 5, first in raster order
  two.fill(255, 10 * w, 10 * w + 7); // area 7
  const { mask, area } = largestConnectedComponent(two, w, h);
  assert.equal(area, 7);
  assert.equal(mask[0], 0);
  assert.equal(mask[10 * w + 3], 255);
  // diagonal touch joins components (8-connectivity)
  const diag = new Uint8Array(9);
  diag[0] = diag[4] = diag[8] = 255;
  assert.equal(largestConnectedComponent(diag, 3, 3).area, 3);
});

test('resizeAreaChannel equals resizeArea of the extracted channel (shrinking, integer factors, enlarging)', async () => {
  const img = await loadFixture('odd_in.png');
  for (const c of [0, 1, 2]) {
    const plane = { width: img.width, height: img.height, channels: 1 as const, data: channel(img, c) };
    for (const [w, h] of [[100, 71], [256, 181], [257, 181], [300, 200], [37, 181]]) {
      assert.deepEqual(resizeAreaChannel(img, c, w, h), resizeArea(plane, w, h), `channel ${c} -> ${w}x${h}`);
    }
  }
});

test('resizeArea of a plane (which skips each row\'s zero ends) equals the three-channel path on the plane copied to three channels', () => {
  // rows that are zero but for their first and last pixel, a disc on black, and an all-zero row
  for (const [w, h, dw, dh] of [[1001, 9, 7, 4], [999, 7, 13, 3], [842, 40, 256, 13], [257, 181, 100, 71]]) {
    const plane = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      if (y === 1) continue;
      if (y % 2 === 0) (plane[y * w] = 100), (plane[y * w + w - 1] = 200);
      else for (let x = 0; x < w; x++) if ((x - w / 2) ** 2 / (w * w) + (y - h / 2) ** 2 / (h * h) < 0.2) plane[y * w + x] = 1 + ((x * 7 + y * 13) % 255);
    }
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < plane.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = plane[i];
    const one = resizeArea({ width: w, height: h, channels: 1, data: plane }, dw, dh).data;
    const three = resizeArea({ width: w, height: h, channels: 3, data: rgb }, dw, dh).data;
    assert.deepEqual(one, channel({ width: dw, height: dh, channels: 3, data: three }, 0), `${w}x${h} -> ${dw}x${dh}`);
  }
});
