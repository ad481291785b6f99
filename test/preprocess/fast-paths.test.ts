// The pipeline's shortcuts give the same results as the plain steps: colour steps that skip the
// black outside of the mask and resize one grey plane, and a persistent PreprocessPool that
// writes the same files as a one-off run; morphology on runs equals the opening by definition;
// the Lab colour caches return what the arithmetic returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng, Rng, type RgbImage } from '../../src/core/index.ts';
import {
  convexHullFill,
  largestConnectedComponent,
  medianBlur,
  minEnclosingCircle,
  morphologyOpen,
  otsuThreshold,
  PreprocessPool,
  preprocessFundus,
  labToRgb,
  resizeArea,
  retinaMask,
  rgbToLab,
  runPreprocess,
} from '../../src/preprocess/index.ts';
import { channel } from '../../src/preprocess/mask.ts';
import { boundingBox } from '../../src/preprocess/circle.ts';
import { ellipseHalfWidths } from '../../src/preprocess/runs.ts';
import { thresholdBinary } from '../../src/preprocess/threshold.ts';
import { CASES, loadFixture } from './fixtures.ts';

test('the grey-plane, mask-skipping colour path equals the step-by-step one (keepSteps)', async () => {
  for (const name of CASES) {
    const img = await loadFixture(`${name}_in.png`);
    for (const cfg of [{ size: 64 }, { size: 64, green: false }, { size: 64, benGraham: true }, { size: 64, mask: false }]) {
      const r = preprocessFundus(img, cfg, { keepSteps: true });
      const s = r.steps!;
      // without steps, Lab -> RGB -> grey is one fused pass: the same image
      assert.deepEqual(preprocessFundus(img, cfg).image.data, r.image.data, `${name} ${JSON.stringify(cfg)} fused`);
      // green step: (R + 8G + B + 5) / 10 of the CLAHE image, on all three channels
      const from = s.clahe ?? s.cropped;
      const g = s.green;
      if (g) {
        for (let i = 0; i < g.data.length; i += 3) {
          const v = Math.floor((from.data[i] + 8 * from.data[i + 1] + from.data[i + 2] + 5) / 10);
          assert.ok(g.data[i] === v && g.data[i + 1] === v && g.data[i + 2] === v, `${name} ${JSON.stringify(cfg)} green at ${i}`);
        }
      }
      // the final image is the INTER_AREA resize of the last step, three channels
      const last = s.benGraham ?? s.green ?? s.clahe ?? s.cropped;
      const resized = resizeArea(last, r.geometry.resizedWidth, r.geometry.resizedHeight);
      const { offsetX, offsetY, size } = r.geometry;
      for (let y = 0; y < resized.height; y++) {
        const a = resized.data.subarray(y * resized.width * 3, (y + 1) * resized.width * 3);
        const b = r.image.data.subarray(((offsetY + y) * size + offsetX) * 3, ((offsetY + y) * size + offsetX + resized.width) * 3);
        assert.deepEqual(b, a, `${name} ${JSON.stringify(cfg)} row ${y}`);
      }
    }
  }
});

test('a PreprocessPool run writes the same outputs as a one-off run', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-pool-'));
  const pool = new PreprocessPool(2);
  try {
    const items = [];
    for (const name of CASES) {
      const file = path.join(dir, `${name}.png`);
      writeFileSync(file, await encodePng(await loadFixture(`${name}_in.png`)));
      items.push({ id: name, path: file });
    }
    await pool.ready();
    const viaPool = await runPreprocess(items, { out: path.join(dir, 'pool'), pool, config: { size: 64 }, quiet: true });
    const oneOff = await runPreprocess(items, { out: path.join(dir, 'once'), jobs: 1, config: { size: 64 }, quiet: true });
    assert.equal(viaPool.processed, items.length);
    for (let i = 0; i < items.length; i++) {
      assert.deepEqual(readFileSync(viaPool.records[i].output!), readFileSync(oneOff.records[i].output!), items[i].id);
    }
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Opening by definition: min then max over the elliptic kernel, pixels outside the image ignored. */
function bruteOpen(src: Uint8Array, w: number, h: number, hw: number[]): Uint8Array {
  const r = hw.length >> 1;
  const pass = (img: Uint8Array, erode: boolean) => {
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = erode ? 255 : 0;
        for (let k = 0; k < hw.length; k++) {
          const yy = y + k - r;
          if (yy < 0 || yy >= h) continue;
          for (let xx = x - hw[k]; xx <= x + hw[k]; xx++) {
            if (xx < 0 || xx >= w) continue;
            const p = img[yy * w + xx] ? 255 : 0;
            v = erode ? Math.min(v, p) : Math.max(v, p);
          }
        }
        out[y * w + x] = v;
      }
    }
    return out;
  };
  return pass(pass(src, true), false);
}

test('morphologyOpen (on runs) equals the opening by definition on random blobs and noise', () => {
  const rng = new Rng(11);
  for (const [w, h, density] of [[61, 47, 0.5], [40, 33, 0.9], [9, 9, 0.7], [1, 12, 0.8], [30, 1, 0.8], [50, 50, 0.97]] as const) {
    const src = new Uint8Array(w * h);
    for (let i = 0; i < src.length; i++) src[i] = rng.next() < density ? 255 : 0;
    // a filled disc, so that there are large runs as in a fundus mask
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (w * h) / 12) src[y * w + x] = 255;
    assert.deepEqual(morphologyOpen(src, w, h, 9), bruteOpen(src, w, h, ellipseHalfWidths(9)), `${w}x${h}`);
    assert.deepEqual(morphologyOpen(src, w, h, 5), bruteOpen(src, w, h, ellipseHalfWidths(5)), `${w}x${h} k5`);
  }
});

/** The median by definition: sort the ksize x ksize window, borders replicated. */
function bruteMedian(src: Uint8Array, w: number, h: number, k: number): Uint8Array {
  const r = k >> 1;
  const out = new Uint8Array(w * h);
  const win: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      win.length = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) win.push(src[Math.min(h - 1, Math.max(0, y + dy)) * w + Math.min(w - 1, Math.max(0, x + dx))]);
      }
      win.sort((a, b) => a - b);
      out[y * w + x] = win[win.length >> 1];
    }
  }
  return out;
}

test('medianBlur (four rows at a time for ksize 9) equals the median by definition', () => {
  const rng = new Rng(5);
  for (const [w, h] of [[23, 17], [1, 7], [12, 1], [9, 2], [30, 3], [17, 5], [40, 6], [11, 13]]) {
    const src = new Uint8Array(w * h);
    // smooth ramps plus noise and saturated specks: values at both ends of the range
    for (let i = 0; i < src.length; i++) src[i] = rng.next() < 0.1 ? (rng.next() < 0.5 ? 0 : 255) : Math.floor((i % w) * 7 + rng.next() * 60) & 255;
    assert.deepEqual(medianBlur(src, w, h, 9), bruteMedian(src, w, h, 9), `${w}x${h} k9`);
    assert.deepEqual(medianBlur(src, w, h, 5), bruteMedian(src, w, h, 5), `${w}x${h} k5`);
  }
});

test('retinaMask (spans on runs) equals the per-pixel definition: hull AND shrunk circle, solidity, box', async () => {
  const rng = new Rng(3);
  const images: RgbImage[] = [];
  for (const name of CASES) images.push(await loadFixture(`${name}_in.png`));
  // irregular bright blobs with dark holes and specks, off-centre and touching the border
  for (const [w, h] of [[80, 60], [57, 90], [120, 41]]) {
    const data = new Uint8Array(w * h * 3);
    const cx = w * (0.3 + 0.4 * rng.next()), cy = h * (0.3 + 0.4 * rng.next()), r = Math.min(w, h) * (0.4 + 0.3 * rng.next());
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = Math.hypot((x - cx) * (1 + 0.3 * Math.sin(y / 5)), y - cy);
        const v = d < r && rng.next() > 0.05 && Math.hypot(x - cx - r / 3, y - cy) > r / 5 ? 120 + Math.floor(rng.next() * 100) : Math.floor(rng.next() * 20);
        data.set([v, v, v], (y * w + x) * 3);
      }
    }
    images.push({ width: w, height: h, channels: 3, data });
  }
  for (const img of images) {
    const { width: w, height: h } = img;
    const rm = retinaMask(img, { keepSteps: true });
    const med = medianBlur(channel(img, 1), w, h, 9);
    const t = otsuThreshold(med);
    assert.equal(rm.otsu, t);
    const { mask: lcc } = largestConnectedComponent(morphologyOpen(thresholdBinary(med, t), w, h, 9), w, h);
    assert.deepEqual(rm.steps!.lcc, lcc);
    const hull = convexHullFill(lcc, w, h)!;
    const c = minEnclosingCircle(lcc, w, h)!;
    assert.deepEqual(rm.circle, c);
    const rr = 0.98 * c.r;
    const want = new Uint8Array(w * h);
    let area = 0, above = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (hull[i] !== 0 && (x - c.cx) * (x - c.cx) + (y - c.cy) * (y - c.cy) <= rr * rr) {
          want[i] = 255;
          area++;
          if (lcc[i] !== 0) above++;
        }
      }
    }
    assert.deepEqual(rm.mask, want, `${w}x${h}`);
    assert.equal(rm.area, area);
    assert.equal(rm.solidity, above / area);
    assert.deepEqual(rm.box, boundingBox(want, w, h));
  }
});

test('Lab conversions give the same values from their colour caches as computed afresh', () => {
  // 3 x 70000 random colours: more than the 65536 cache slots, so slots get overwritten
  const rng = new Rng(9);
  const n = 70000;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.next() * 256);
  const img: RgbImage = { width: n, height: 1, channels: 3, data };
  const first = rgbToLab(img);
  const back = labToRgb(first);
  // the same colours again, in reverse order: mostly cache hits now
  const rev = new Uint8Array(data.length);
  for (let p = 0; p < n; p++) rev.set(data.subarray(3 * (n - 1 - p), 3 * (n - p)), 3 * p);
  const second = rgbToLab({ ...img, data: rev });
  const back2 = labToRgb(second);
  for (let p = 0; p < n; p++) {
    const q = n - 1 - p;
    assert.deepEqual(second.data.subarray(3 * p, 3 * p + 3), first.data.subarray(3 * q, 3 * q + 3), `Lab of colour ${q}`);
    assert.deepEqual(back2.data.subarray(3 * p, 3 * p + 3), back.data.subarray(3 * q, 3 * q + 3), `RGB of Lab ${q}`);
  }
});
