// dr-xai quantize on the released referable package, calibrated on phantom photographs: the
// package it writes, its agreement with the float model, onnxruntime-web, heat maps, error paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { loadDataset, writePhantomDataset } from '../../src/data/index.ts';
import { CamExplainer } from '../../src/explain/index.ts';
import { MODELS_DIR, loadModel, modelPreprocessConfig, readSidecar, toInputTensor } from '../../src/models/index.ts';
import { decodeFundus, preprocessFundus } from '../../src/preprocess/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FLOAT = path.join(MODELS_DIR, 'mobilenet_v2-aptos224-referable.onnx');
const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

const dir = mkdtempSync(path.join(tmpdir(), 'drxai-quantize-'));
const data = path.join(dir, 'phantoms');
const int8 = path.join(dir, 'referable-int8.onnx');

test('dr-xai quantize writes an int8 package: the float sidecar plus how it was quantized, a quarter of the size', async () => {
  await writePhantomDataset(data, { n: 24, seed: 8, size: 256, quiet: true });
  const r = run(['quantize', '--model', FLOAT, '--calibration', data, '--n', '16', '--out', int8, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /52 convolutions with int8 weights \(7-bit, bias-corrected\), 63 activations quantized; parameters 8\.8 MB -> 2\.4 MB; calibrated on 16 photographs/);
  assert.match(r.stdout, /not a diagnosis/);
  const float = await readSidecar(FLOAT);
  const q = await readSidecar(int8);
  assert.deepEqual(q.operatingPoint, float.operatingPoint);
  assert.deepEqual(q.explain, float.explain);
  assert.deepEqual(q.preprocess, float.preprocess);
  assert.equal(q.metrics, undefined, 'the float figures are not the int8 model\'s');
  assert.equal(q.quantization?.weightBits, 7);
  assert.equal(q.quantization?.calibration.images, 16);
  assert.equal(q.quantization?.from.sha256, createHash('sha256').update(readFileSync(FLOAT)).digest('hex'));
  assert.ok(statSync(int8).size < 0.3 * statSync(FLOAT).size);
});

/** Eight phantoms, prepared as screening prepares a photograph. */
async function prepared(model: Awaited<ReturnType<typeof loadModel>>) {
  const ds = await loadDataset(data);
  const config = modelPreprocessConfig(model.info);
  return Promise.all(
    ds.samples.slice(0, 8).map(async (s) => {
      const d = await decodeFundus(readFileSync(s.path), s.path, model.info.input.size);
      return preprocessFundus(d.image, config, { decodeFactor: d.decodeFactor, sourceWidth: d.sourceWidth, sourceHeight: d.sourceHeight }).image;
    }),
  );
}

test('the int8 package predicts close to the float one, and onnxruntime-web runs it with the same logits to int8 rounding', async () => {
  const f = await loadModel(FLOAT);
  const q = await loadModel(int8);
  const images = await prepared(f);
  const pf = await f.predict(images);
  const pq = await q.predict(images);
  for (let i = 0; i < images.length; i++) assert.ok(Math.abs(pf.probability[i] - pq.probability[i]) < 0.1, `image ${i}: ${pf.probability[i]} vs ${pq.probability[i]}`);
  ortWeb.env.wasm.numThreads = 1;
  const web = await ortWeb.InferenceSession.create(readFileSync(int8), { executionProviders: ['wasm'] });
  const x = toInputTensor(images, q.info.input);
  const out = await web.run({ image: new ortWeb.Tensor('float32', x, [images.length, 3, 224, 224]) });
  const logits = out.logits.data as Float32Array;
  // The same model to within int8 rounding: WASM's integer kernels requantize their own way.
  for (let i = 0; i < images.length; i++) assert.ok(Math.abs(logits[i] - pq.logits[i]) < 0.05, `wasm ${logits[i]} vs node ${pq.logits[i]}`);
  await Promise.all([f.release(), q.release(), web.release()]);
});

test('heat maps of the int8 package come from its dequantized graph and match the float model\'s', async () => {
  // The two phantoms the float model finds most referable: a map of a clear negative can be all zero.
  const f = await loadModel(FLOAT);
  const all = await prepared(f);
  const p = (await f.predict(all)).probability;
  const images = [...all.keys()].sort((i, j) => p[j] - p[i]).slice(0, 2).map((i) => all[i]);
  await f.release();
  const ef = await CamExplainer.create(FLOAT);
  const eq = await CamExplainer.create(int8);
  assert.deepEqual([ef.layer, eq.layer], ['features.13', 'features.13'], 'the int8 package explains on the float package\'s layer');
  const [a, b] = [await ef.attribute(images), await eq.attribute(images)];
  for (let i = 0; i < images.length; i++) {
    const x = a[i].map;
    const y = b[i].map;
    const mx = x.reduce((s, v) => s + v, 0) / x.length;
    const my = y.reduce((s, v) => s + v, 0) / y.length;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let j = 0; j < x.length; j++) {
      sxy += (x[j] - mx) * (y[j] - my);
      sxx += (x[j] - mx) ** 2;
      syy += (y[j] - my) ** 2;
    }
    const corr = sxy / Math.sqrt(sxx * syy);
    assert.ok(corr > 0.9, `image ${i}: Pearson r ${corr}`);
  }
});

test('dr-xai quantize refuses bad input in one line, writing nothing', () => {
  const out = path.join(dir, 'never.onnx');
  const cases: [string[], RegExp][] = [
    [['--model', int8, '--calibration', data, '--out', out], /already quantized; quantize its float package instead/],
    [['--model', FLOAT, '--calibration', data, '--out', out, '--weight-bits', '9'], /--weight-bits/],
    [['--model', FLOAT, '--calibration', data, '--out', path.join(dir, 'x.txt')], /--out must name an \.onnx file/],
    [['--model', FLOAT, '--calibration', path.join(dir, 'nowhere'), '--out', out], /nowhere/],
  ];
  for (const [args, message] of cases) {
    const r = run(['quantize', ...args, '--quiet']);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('dr-xai: error')).length, 1, r.stderr);
    assert.ok(!existsSync(out));
  }
});
