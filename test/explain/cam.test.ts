import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CamExplainer, type CamTarget } from '../../src/explain/index.ts';
import { DrXaiError } from '../../src/core/index.ts';
import { FIXTURES, ROOT, assertClose, readJson, referenceImages, type CamReference } from './helpers.ts';

const ref = readJson<CamReference>('cam_reference.json');
const images = referenceImages(ref);
const targetOf = (t: 'referable' | number): CamTarget => (t === 'referable' ? { kind: 'referable' } : { kind: 'class', index: t });

// Every case of scripts/fixtures/make_cam_fixtures.py: PyTorch hooks + NumPy formulas + cv2 resize.
for (const c of ref.cases) {
  test(`${c.method} (${c.variant}) on ${c.model}, target ${c.target}, layer ${c.layer} matches the PyTorch reference`, async () => {
    const explainer = await CamExplainer.create(path.join(FIXTURES, `${c.model}.onnx`), { method: c.method, variant: c.variant, layer: c.layer, threads: 1 });
    try {
      assert.equal(explainer.gradientSource, c.layer === 'features' ? 'closed-form' : 'autodiff');
      const out = await explainer.attribute(images, { target: targetOf(c.target) });
      out.forEach((a, n) => {
        assertClose(a.logits, c.logits[n], 1e-5, 1e-5, 'logits');
        assert.ok(Math.abs(a.score - c.score[n]) < 1e-5, `score ${a.score} vs ${c.score[n]}`);
        assertClose(a.weights, c.weights[n], 1e-7, 1e-4, `weights[${n}]`);
        assertClose(a.lowRes, c.lowRes[n].flat(), 1e-6, 1e-4, `lowRes[${n}]`);
        assertClose(a.map, c.map[n].flat(), 1e-5, 0, `map[${n}]`);
        assert.equal(a.map.length, ref.size * ref.size);
      });
    } finally {
      await explainer.release();
    }
  });
}

test('the closed-form head path equals the autodiff path on the same layer (1e-5)', async () => {
  for (const model of ['cam_binary', 'cam_grade']) {
    for (const target of [{ kind: 'referable' }, { kind: 'class', index: 0 }] as CamTarget[]) {
      for (const method of ['gradcam++', 'gradcam'] as const) {
        const fast = await CamExplainer.create(path.join(FIXTURES, `${model}.onnx`), { method, gradients: 'closed-form', threads: 1 });
        const slow = await CamExplainer.create(path.join(FIXTURES, `${model}.onnx`), { method, gradients: 'autodiff', threads: 1 });
        assert.equal(fast.gradientSource, 'closed-form');
        assert.equal(slow.gradientSource, 'autodiff');
        const a = await fast.attribute(images, { target });
        const b = await slow.attribute(images, { target });
        for (let n = 0; n < images.length; n++) {
          assertClose(a[n].weights, b[n].weights, 1e-7, 1e-5, `${model} ${method} weights`);
          assertClose(a[n].map, b[n].map, 1e-5, 0, `${model} ${method} map`);
        }
        await fast.release();
        await slow.release();
      }
    }
  }
});

test('closed form on the tiny package: g = W/(h w), so Grad-CAM weights are W/64 and Grad-CAM++ weights are 64 relu(g)/(2 + g sum A)', async () => {
  const { readFileSync } = await import('node:fs');
  const { fromOnnxBytes } = await import('../../src/engine/index.ts');
  const { loadModel } = await import('../../src/models/index.ts');
  const onnxPath = path.join(ROOT, 'test/fixtures/models/tiny.onnx');
  // The head row read by the engine's ONNX reader (not by src/explain/head.ts).
  const FW = fromOnnxBytes(readFileSync(onnxPath)).initializers.get('FW')!.data as Float32Array;
  const model = await loadModel(onnxPath);
  const img = { width: 8, height: 8, channels: 3 as const, data: Uint8Array.from({ length: 192 }, (_, i) => (i * 37) % 256) };
  const A = (await model.predict([img], { features: true })).features!.data;
  const gc = await CamExplainer.create(model, { method: 'gradcam', threads: 1 });
  const gpp = await CamExplainer.create(model, { method: 'gradcam++', threads: 1 });
  const [a] = await gc.attribute([img]);
  const [b] = await gpp.attribute([img]);
  let positive = 0;
  for (let k = 0; k < 4; k++) {
    let sumA = 0;
    for (let i = 0; i < 64; i++) sumA += A[k * 64 + i];
    const g = Math.fround(FW[k] / 64);
    assert.ok(Math.abs(a.weights[k] - g) <= 1e-7 * Math.abs(g), `Grad-CAM channel ${k}: ${a.weights[k]} vs ${g}`);
    const want = g > 0 ? (64 * g * g * g) / (2 * g * g + sumA * g * g * g) : 0;
    if (g > 0) positive++;
    assert.ok(Math.abs(b.weights[k] - want) <= 1e-6 * Math.max(1e-3, Math.abs(want)), `Grad-CAM++ channel ${k}: ${b.weights[k]} vs ${want}`);
  }
  assert.ok(positive > 0 && positive < 4, 'the fixture has both signs of head weight, so the relu(g) branch is exercised');
  await gc.release();
  await gpp.release();
  await model.release();
});

test('a missing layer and a forced closed form on a non-head layer are clear user errors', async () => {
  const onnx = path.join(FIXTURES, 'cam_grade.onnx');
  await assert.rejects(CamExplainer.create(onnx, { layer: 'no_such_tensor' }), (e: unknown) => e instanceof DrXaiError && /no tensor named 'no_such_tensor'/.test(e.message));
  await assert.rejects(CamExplainer.create(onnx, { layer: 'act1', gradients: 'closed-form' }), (e: unknown) => e instanceof DrXaiError && /not a graph output followed only by global average pooling/.test(e.message));
  const ex = await CamExplainer.create(onnx, { threads: 1 });
  await assert.rejects(ex.attribute(images, { target: { kind: 'class', index: 5 } }), (e: unknown) => e instanceof DrXaiError && /outside 0..4/.test(e.message));
  await ex.release();
});

test("the sidecar's explain layer and method are the defaults; options still override them", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-explain-'));
  const onnx = path.join(dir, 'm.onnx');
  copyFileSync(path.join(FIXTURES, 'cam_grade.onnx'), onnx);
  const sidecar = JSON.parse(readFileSync(path.join(FIXTURES, 'cam_grade.json'), 'utf8'));
  writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, explain: { layer: 'act1', method: 'gradcam', chosenBy: 'test' } }));
  const byModel = await CamExplainer.create(onnx, { threads: 1 });
  assert.equal(byModel.layer, 'act1');
  assert.equal(byModel.method.name, 'gradcam');
  assert.equal(byModel.gradientSource, 'autodiff');
  const byCaller = await CamExplainer.create(onnx, { threads: 1, layer: 'features', method: 'gradcam++' });
  assert.equal(byCaller.layer, 'features');
  assert.equal(byCaller.method.name, 'gradcam++');
  // The same layer and method given explicitly give the same map as the sidecar's defaults.
  const explicit = await CamExplainer.create(path.join(FIXTURES, 'cam_grade.onnx'), { threads: 1, layer: 'act1', method: 'gradcam' });
  const [a] = await byModel.attribute(images.slice(0, 1));
  const [b] = await explicit.attribute(images.slice(0, 1));
  assert.deepEqual(Array.from(a.map), Array.from(b.map));
  for (const e of [byModel, byCaller, explicit]) await e.release();
});
