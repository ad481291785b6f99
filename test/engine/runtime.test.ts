// TrainingSession, optimizers, export and activation gradients on the tiny CNN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import {
  AdamW, SGD, TrainingSession, createSession, exportInference, fromOnnxBytes, gradientsWrt, runGraph, toOnnxBytes,
} from '../../src/engine/index.ts';
import { addLoss, tinyCnn } from '../../src/models/efficientnet.ts';

function randomBatch(rng: Rng, n: number, size: number, k: number) {
  const image = new Float32Array(n * 3 * size * size).map(() => rng.normal());
  const targets = new Float32Array(n * k);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    labels.push(i % k);
    targets[i * k + (i % k)] = 1;
  }
  // Make the classes learnable: shift the first channel by the label.
  for (let i = 0; i < n; i++) for (let j = 0; j < size * size; j++) image[i * 3 * size * size + j] += labels[i];
  return { image, targets };
}

test('tinyCnn trains: AdamW lowers the loss on a fixed batch, and a seeded run with dropout repeats exactly', async () => {
  const run = async () => {
    const m = tinyCnn({ numClasses: 3, batch: 6, imageSize: 32, seed: 7, regularize: true, dropRate: 0.2 });
    const loss = addLoss(m, { kind: 'ce' });
    const s = await TrainingSession.create(m.graph, { loss, threads: 1 });
    assert.equal(s.masks.length, 1);
    const opt = new AdamW({ lr: 3e-3, weightDecay: 0.01, noDecay: (n) => m.builder.shape(n).length <= 1 });
    const batch = randomBatch(new Rng(1), 6, 32, 3);
    const rng = new Rng(99);
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await s.step(batch, rng);
      losses.push(r.loss);
      opt.step(s.state, r.grads);
    }
    await s.release();
    return losses;
  };
  const a = await run();
  assert.ok(a[a.length - 1] < a[0] * 0.5, `loss went ${a[0]} -> ${a[a.length - 1]}`);
  assert.deepEqual(await run(), a);
});

test('tinyCnn has exactly the parameters of its layers (63,389 with 5 classes), whatever the input size', () => {
  // Convolutions without bias, BatchNorm weight + bias (running statistics are buffers):
  // stem 3*16*9 + 2*16, blocks.0 16*32*9 + 2*32, depthwise 32*9 + 2*32, SE (32*8 + 8) + (8*32 + 32),
  // pointwise 32*64 + 2*64, blocks.2 64*64*9 + 2*64, head 64*256 + 2*256, classifier 256*5 + 5.
  const expected = 3 * 16 * 9 + 32 + 16 * 32 * 9 + 64 + 32 * 9 + 64 + (32 * 8 + 8) + (8 * 32 + 32) + 32 * 64 + 128 + 64 * 64 * 9 + 128 + 64 * 256 + 512 + 256 * 5 + 5;
  assert.equal(expected, 63_389);
  for (const imageSize of [32, 128]) {
    const m = tinyCnn({ numClasses: 5, batch: 1, imageSize });
    assert.equal(m.params.reduce((s, p) => s + m.graph.initializers.get(p)!.data.length, 0), expected);
  }
});

test('exported model (BN folded, masks removed, dynamic batch) reproduces the eval-mode graph to 1e-5', async () => {
  const m = tinyCnn({ numClasses: 4, batch: 3, imageSize: 32, seed: 3, regularize: true });
  const loss = addLoss(m, { kind: 'bce' });
  const s = await TrainingSession.create(m.graph, { loss, threads: 1 });
  const opt = new SGD({ lr: 0.05, momentum: 0.9 });
  const rng = new Rng(5);
  const batch = randomBatch(rng, 3, 32, 4);
  for (let i = 0; i < 3; i++) opt.step(s.state, (await s.step(batch, rng)).grads); // non-trivial BN stats
  const ref = await s.evaluate({ image: batch.image }, [m.logits, m.features]);
  const ex = exportInference(m.graph, s.state, { input: m.input, logits: m.logits, features: m.features });
  assert.equal(ex.foldedBatchNorms, 6);
  assert.ok(!ex.graph.nodes.some((n) => n.op === 'BatchNormalization'));
  assert.deepEqual(ex.graph.inputs.map((v) => v.name), ['image']);
  assert.deepEqual(ex.graph.outputs, ['logits', 'features']);
  const session = await createSession(ex.bytes, { threads: 1 });
  const { Tensor } = await import('onnxruntime-node');
  const out = await session.run({ image: new Tensor('float32', batch.image, [3, 3, 32, 32]) });
  const close = (a: Float32Array, b: Float32Array) => {
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return worst / scale;
  };
  assert.ok(close(out.logits.data as Float32Array, ref[m.logits]) < 1e-5);
  assert.ok(close(out.features.data as Float32Array, ref[m.features]) < 1e-5);
  assert.deepEqual(out.features.dims, [3, 256, 4, 4]);
  // Any batch size: the second image alone gives the second row.
  const one = await session.run({ image: new Tensor('float32', batch.image.slice(3 * 32 * 32, 2 * 3 * 32 * 32), [1, 3, 32, 32]) });
  assert.ok(close(one.logits.data as Float32Array, ref[m.logits].slice(4, 8)) < 1e-5);
  // The file reads back into the same graph.
  const back = fromOnnxBytes(ex.bytes, { batch: 2 });
  assert.deepEqual(back.values.get('logits')!.shape, [2, 4]);
  assert.equal(back.nodes.length, ex.graph.nodes.length);
  await s.release();
});

test('gradientsWrt: d logit_c / d features equals W[c,k] / (H*W) exactly, and d/d image matches finite differences', async () => {
  const m = tinyCnn({ numClasses: 3, batch: 2, imageSize: 32, seed: 11 });
  const q = gradientsWrt(m.graph, m.logits, [m.features, m.input]);
  const session = await createSession(q.graph, { threads: 1 });
  const rng = new Rng(4);
  const image = new Float32Array(2 * 3 * 32 * 32).map(() => rng.normal());
  const seed = new Float32Array([0, 1, 0, 0, 0, 1]); // class 1 for sample 0, class 2 for sample 1
  const out = await runGraph(session, q.graph, { image, [q.seed]: seed });
  const gf = out[q.gradients.get(m.features)!].data as Float32Array;
  const w = m.graph.initializers.get('classifier.weight')!.data as Float32Array; // [3, 256]
  const hw = 16;
  for (const [n, c] of [[0, 1], [1, 2]]) {
    for (const k of [0, 17, 255]) for (const i of [0, 5, 15]) assert.ok(Math.abs(gf[(n * 256 + k) * hw + i] - w[c * 256 + k] / hw) < 1e-9);
  }
  // Directional derivative of logit_1(sample 0) along a random image direction.
  const gi = out[q.gradients.get(m.input)!].data as Float32Array;
  const dir = new Float32Array(image.length).map(() => rng.normal());
  let analytic = 0;
  for (let i = 0; i < image.length; i++) analytic += gi[i] * dir[i] * (i < image.length / 2 ? 1 : 0);
  const fwd = await createSession(m.graph, { threads: 1 });
  const logitAt = async (t: number) => {
    const x = image.map((v, i) => (i < image.length / 2 ? v + t * dir[i] : v));
    const o = await runGraph(fwd, m.graph, { image: x });
    return (o[m.logits].data as Float32Array)[1];
  };
  const h = 1e-2;
  const numeric = (await logitAt(h)) - (await logitAt(-h));
  assert.ok(Math.abs(analytic - numeric / (2 * h)) < 2e-3 * Math.max(1, Math.abs(analytic)), `${analytic} vs ${numeric / (2 * h)}`);
});

test('SGD with momentum and weight decay follows torch.optim.SGD on a quadratic; optimizer state round-trips', () => {
  // f(p) = 0.5 * p^2 => g = p. PyTorch SGD(lr=0.1, momentum=0.9, weight_decay=0.1): first step
  // buf = g + wd p = 1.1 p; p1 = p - 0.1 * 1.1 = 0.89 (p0 = 1).
  const params = new Map([['p', Float32Array.of(1)]]);
  const sgd = new SGD({ lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
  sgd.step(params, new Map([['p', Float32Array.of(1)]]));
  assert.ok(Math.abs(params.get('p')![0] - 0.89) < 1e-7);
  // second step: g = 0.89 + 0.089 = 0.979; buf = 0.9*1.1 + 0.979 = 1.969; p = 0.89 - 0.1969
  sgd.step(params, new Map([['p', Float32Array.of(0.89)]]));
  assert.ok(Math.abs(params.get('p')![0] - (0.89 - 0.1969)) < 1e-6);
  const copy = new SGD({ lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
  copy.setState(sgd.getState());
  const a = new Map([['p', Float32Array.of(0.5)]]);
  const b = new Map([['p', Float32Array.of(0.5)]]);
  sgd.step(a, new Map([['p', Float32Array.of(0.3)]]));
  copy.step(b, new Map([['p', Float32Array.of(0.3)]]));
  assert.deepEqual(a, b);
  assert.throws(() => new AdamW({ lr: 1 }).setState(sgd.getState()), /sgd optimizer state, expected adamw/);
});

test('ONNX write/read round trip keeps ops, attributes and initializers', () => {
  const m = tinyCnn({ numClasses: 2, batch: 1, imageSize: 32 });
  const back = fromOnnxBytes(toOnnxBytes(m.graph));
  assert.equal(back.nodes.length, m.graph.nodes.length);
  assert.deepEqual(back.nodes.map((n) => n.op), m.graph.nodes.map((n) => n.op));
  assert.deepEqual(back.nodes[0].attrs, m.graph.nodes[0].attrs);
  assert.deepEqual(back.initializers.get('conv_stem.weight')!.data, m.graph.initializers.get('conv_stem.weight')!.data);
  assert.deepEqual(back.values.get(m.logits)!.shape, [1, 2]);
});

test('import refuses an unsupported op, naming it, and garbage bytes', () => {
  const m = tinyCnn({ numClasses: 2, batch: 1, imageSize: 32 });
  m.graph.nodes.push({ op: 'NonMaxSuppression', name: 'nms', inputs: [m.logits], outputs: ['boxes'], attrs: {} });
  m.graph.values.set('boxes', { name: 'boxes', dtype: 'int64', shape: [1, 3] });
  assert.throws(() => fromOnnxBytes(toOnnxBytes(m.graph), { source: 'model.onnx' }), /model\.onnx: unsupported ONNX op 'NonMaxSuppression' \(node 'nms'\)/);
  assert.throws(() => fromOnnxBytes(new Uint8Array([1, 2, 3, 4, 5]), { source: 'x.onnx' }), /x\.onnx: not an ONNX model/);
});

test('EfficientNet with drop-path and dropout: masks are inputs for training, gone from the export', async () => {
  const { buildEfficientNet, EFFICIENTNET_CONFIGS } = await import('../../src/models/efficientnet.ts');
  const cfg = { ...EFFICIENTNET_CONFIGS.efficientnet_b0, widthMult: 0.2, depthMult: 0.34 };
  const m = buildEfficientNet(cfg, { numClasses: 2, batch: 2, imageSize: 32, regularize: true });
  const kinds = m.graph.masks.map((k) => k.kind);
  assert.ok(kinds.includes('droppath') && kinds.includes('dropout'));
  // Linear stochastic-depth schedule: block i of B gets 0.2 * i / B; dropout is the variant's 0.2.
  for (const mk of m.graph.masks) assert.ok(mk.p > 0 && mk.p <= 0.2);
  const state = new Map([...m.graph.initializers].filter(([n]) => !m.graph.constants.has(n)).map(([n, t]) => [n, t.data as Float32Array]));
  const ex = exportInference(m.graph, state, { input: m.input, logits: m.logits, features: m.features });
  assert.deepEqual(ex.graph.inputs.map((v) => v.name), ['image']);
  assert.ok(!ex.graph.nodes.some((n) => n.op === 'BatchNormalization'));
});

test('frozen BatchNorm (batchNorm: eval) trains without touching the running statistics', async () => {
  const m = tinyCnn({ numClasses: 2, batch: 2, imageSize: 32, seed: 2 });
  const loss = addLoss(m, { kind: 'bce' });
  const s = await TrainingSession.create(m.graph, { loss, batchNorm: 'eval', threads: 1 });
  assert.equal(s.training.batchNorm.length, 0);
  const before = Float32Array.from(s.state.get('bn1.running_var')!);
  const r = await s.step(randomBatch(new Rng(3), 2, 32, 2));
  assert.ok(Number.isFinite(r.loss) && r.grads.get('conv_stem.weight')!.some((v) => v !== 0));
  assert.deepEqual(s.state.get('bn1.running_var'), before);
  await s.release();
});
