// A photograph that keeps its aspect is screened as the package's squashed training images were.
// Needs ../shared/data/aptos2019-224; runs only with DRXAI_REAL_DATA=1. The full measurement
// (330 images, AUROC, DeLong, operating point) is scripts/aspect-check.mts (models/MODEL_CARD.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeImage, encodePng } from '../../src/core/index.ts';
import { loadModel } from '../../src/models/index.ts';
import { resizeArea } from '../../src/preprocess/index.ts';
import { screenPhotograph } from '../../src/screening/index.ts';
import { ROOT } from '../serve/helpers.ts';

const IMAGES = path.resolve(ROOT, '../shared/data/aptos2019-224/images');
const skip = process.env.DRXAI_REAL_DATA === '1' ? false : 'set DRXAI_REAL_DATA=1 to run on ../shared/data';

test('released referable package: a 4:3 stretch of an APTOS-224 image scores as the image itself (squash), not with the aspect kept', { skip, timeout: 300_000 }, async () => {
  const pkg = path.join(ROOT, 'models', 'mobilenet_v2-aptos224-referable');
  const sidecar = JSON.parse(readFileSync(`${pkg}.json`, 'utf8'));
  assert.equal(sidecar.preprocess.squash, true, 'the released package squashes');
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-aspect-'));
  try {
    copyFileSync(`${pkg}.onnx`, path.join(dir, 'kept.onnx'));
    writeFileSync(path.join(dir, 'kept.json'), JSON.stringify({ ...sidecar, preprocess: { ...sidecar.preprocess, squash: false } }));
    const squashed = await loadModel(`${pkg}.onnx`);
    const kept = await loadModel(path.join(dir, 'kept.onnx'));
    // Any 60 APTOS-224 images (the first by name): this compares one photograph's scores, nothing is tuned.
    const ids = readdirSync(IMAGES).filter((f) => f.endsWith('.png')).sort().slice(0, 60).map((f) => f.replace(/\.png$/, ''));
    const dSquash: number[] = [];
    const dKept: number[] = [];
    for (const id of ids) {
      const bytes = readFileSync(path.join(IMAGES, `${id}.png`));
      const img = await decodeImage(bytes, id);
      const stretched = await encodePng(resizeArea(img, Math.round((img.width * 4) / 3), img.height));
      const p = async (m: typeof squashed, b: Uint8Array) => (await screenPhotograph(m, { source: id, bytes: b })).probability as number;
      const base = await p(squashed, bytes);
      assert.equal(base, await p(kept, bytes), 'a square image is not changed by the squash');
      dSquash.push(Math.abs((await p(squashed, stretched)) - base));
      dKept.push(Math.abs((await p(kept, stretched)) - base));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`# |dp| of the 4:3 stretch over ${ids.length} images: squash mean ${mean(dSquash).toFixed(4)} max ${Math.max(...dSquash).toFixed(4)}; aspect kept mean ${mean(dKept).toFixed(4)} max ${Math.max(...dKept).toFixed(4)}`);
    // The stretch and the squash each resample (224 -> 299 -> 224 px), which alone moves a few borderline
    // images (measured: mean 0.014, max 0.15); keeping the aspect moves them about three times as much.
    assert.ok(mean(dSquash) < 0.02, `squash: mean |dp| ${mean(dSquash)}`);
    assert.ok(mean(dKept) > 2 * mean(dSquash), `aspect kept moves the probability more: ${mean(dKept)} vs ${mean(dSquash)}`);
    await squashed.release();
    await kept.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
