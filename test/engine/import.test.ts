// A model exported from PyTorch by torch.onnx.export (scripts/fixtures/make_engine_fixtures.py):
// imported, run, differentiated and fine-tuned, against PyTorch's own values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder, TrainingSession, createSession, crossEntropyLoss, defaultParams, fromOnnxBytes, gradientsWrt, runGraph } from '../../src/engine/index.ts';

const base = path.resolve(import.meta.dirname, '../fixtures/engine/torch_import');
const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { tensors: { name: string; shape: number[]; offset: number }[] };
const bin = readFileSync(`${base}.bin`);
const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
const fx = (name: string) => {
  const t = meta.tensors.find((v) => v.name === name)!;
  return all.subarray(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1));
};
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
};
const load = () => fromOnnxBytes(readFileSync(`${base}.onnx`), { batch: 2, source: 'torch_import.onnx' });

test('a torch.onnx.export model imports with static shapes and gives PyTorch logits', async () => {
  const g = load();
  assert.deepEqual(g.inputs.map((v) => [v.name, v.shape]), [['input', [2, 3, 16, 16]]]);
  assert.deepEqual(g.values.get('logits')!.shape, [2, 3]);
  const s = await createSession(g, { threads: 1 });
  const out = await runGraph(s, g, { input: fx('input') });
  assert.ok(relErr(out.logits.data as Float32Array, fx('logits')) < 1e-5);
});

test('input gradient of the imported model (MaxPool, Relu, residual Add, Gemm) matches PyTorch autograd', async () => {
  const q = gradientsWrt(load(), 'logits', ['input']);
  const s = await createSession(q.graph, { threads: 1 });
  const out = await runGraph(s, q.graph, { input: fx('input'), [q.seed]: fx('R') });
  const e = relErr(out[q.gradients.get('input')!].data as Float32Array, fx('input_grad'));
  assert.ok(e < 1e-4, `rel err ${e}`);
});

test('the imported model fine-tunes: cross-entropy gradients of the classifier match PyTorch', async () => {
  const g = load();
  const b = new GraphBuilder(g);
  const targets = b.input('targets', 'float32', [2, 3]);
  const loss = crossEntropyLoss(b, 'logits', targets);
  const params = defaultParams(g);
  assert.equal(params.length, 8); // 3 convs (BN folded by the exporter) x weight+bias, fc weight+bias
  const s = await TrainingSession.create(g, { loss, params, threads: 1 });
  const r = await s.step({ input: fx('input'), targets: fx('targets') });
  assert.ok(relErr(r.grads.get('fc.weight')!, fx('grad/fc.weight')) < 1e-4);
  assert.ok(relErr(r.grads.get('fc.bias')!, fx('grad/fc.bias')) < 1e-4);
  await s.release();
});
