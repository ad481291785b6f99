// Static QDQ quantization: exact parameters on known tensors, bias correction, the round trip to
// the float graph, and that ONNX Runtime fuses what we write into integer kernels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { Rng } from '../../src/core/index.ts';
import {
  GraphBuilder, RangeCalibrator, activationQuantParams, createSession, dequantizeQdq, emptyGraph, float32, fromOnnxBytes, quantizationTargets,
  quantizeQdq, quantizeWeightsPerChannel, runGraph, toOnnxBytes, type Graph,
} from '../../src/engine/index.ts';

test('weights: symmetric per output channel, scale max|w| / (2^(bits-1) - 1)', () => {
  const w = float32([2, 3], [1, -0.6, 0.25, 0.1, 0.3, -0.4]);
  const q8 = quantizeWeightsPerChannel(w, 8);
  assert.deepEqual([...q8.scales], [Math.fround(1 / 127), Math.fround(Math.fround(0.4) / 127)]);
  // 127; -0.6 * 127 = -76.2; 0.25 * 127 = 31.75; channel 2 in units of 0.4 / 127: 31.75, 95.25, -127.
  assert.deepEqual([...q8.q], [127, -76, 32, 32, 95, -127]);
  const q7 = quantizeWeightsPerChannel(w, 7);
  // qmax 63: -37.8, 15.75; 15.75, 47.25.
  assert.deepEqual([...q7.q], [63, -38, 16, 16, 47, -63]);
  // An all-zero channel gets scale 1 and zeros, not NaN.
  const z = quantizeWeightsPerChannel(float32([1, 2], [0, 0]));
  assert.deepEqual([...z.q], [0, 0]);
  assert.equal(z.scales[0], 1);
});

test('activations: uint8 affine with the range widened to contain 0', () => {
  assert.deepEqual(activationQuantParams({ min: -1, max: 3 }), { scale: 4 / 255, zeroPoint: 64 }); // 63.75 -> 64
  assert.deepEqual(activationQuantParams({ min: 0.5, max: 2 }), { scale: 2 / 255, zeroPoint: 0 }); // ReLU-like: zero point 0
  assert.deepEqual(activationQuantParams({ min: -2, max: -1 }), { scale: 2 / 255, zeroPoint: 255 });
  assert.deepEqual(activationQuantParams({ min: 0, max: 0 }), { scale: 1, zeroPoint: 0 });
  assert.throws(() => activationQuantParams({ min: -Infinity, max: 1 }), /not finite/);
});

/** conv 3x3 -> Clip(0, 6) -> depthwise 3x3 -> Clip -> conv 1x1, a residual Add, a 1x1 head conv: MobileNetV2's block in miniature. */
function block(batch: number, seed = 3): { g: Graph; input: string; out: string } {
  const rng = new Rng(seed);
  const b = new GraphBuilder(emptyGraph('block'));
  const x = b.input('image', 'float32', [batch, 3, 12, 12]);
  const w = (shape: number[], s: number) => b.initializer(b.fresh('w'), float32(shape, Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal() * s)));
  const c1 = b.conv(x, w([8, 3, 3, 3], 0.3), w([8], 0.1), { pads: 1 });
  const r1 = b.op('Clip', [c1, b.scalar(0), b.scalar(6)]);
  const c2 = b.conv(r1, w([8, 1, 3, 3], 0.4), w([8], 0.1), { pads: 1, group: 8 });
  const r2 = b.op('Clip', [c2, b.scalar(0), b.scalar(6)]);
  const c3 = b.conv(r2, w([8, 8, 1, 1], 0.3), undefined);
  const sum = b.add(c3, r1);
  const out = b.conv(sum, w([4, 8, 1, 1], 0.3), w([4], 0.1));
  b.output(out);
  return { g: b.graph, input: x, out };
}

async function calibrated(g: Graph, batches: Float32Array[], n: number): Promise<RangeCalibrator> {
  const c = await RangeCalibrator.create(g, { threads: 1 });
  for (const x of batches) await c.observe(x, n);
  await c.release();
  return c;
}

test('QDQ of a conv block: targets are the inputs of Conv and Add, names are kept, ONNX Runtime fuses it into QLinearConv / QLinearAdd that compute the QDQ semantics, within 5% of float', async () => {
  const n = 4;
  const { g, out } = block(n);
  const targets = quantizationTargets(g);
  assert.equal(targets.length, 5, `image, clip 1 (Conv and Add), clip 2, conv 3, the sum: ${targets}`);
  assert.ok(targets.includes('image'));
  const rng = new Rng(11);
  const batches = Array.from({ length: 4 }, () => new Float32Array(n * 3 * 144).map(() => rng.normal()));
  const cal = await calibrated(g, batches, n);
  for (const t of targets) assert.ok(cal.ranges.get(t)!.max > cal.ranges.get(t)!.min, t);
  const { graph: q, summary } = quantizeQdq(g, cal.ranges, { channelMeans: cal.channelMeans() });
  assert.equal(summary.weights, 4);
  assert.equal(summary.activations, 5);
  assert.deepEqual(q.outputs, [out]);
  assert.equal(q.nodes.filter((x) => x.op === 'QuantizeLinear').length, 5);
  // Weight DQs read int8 initializers per channel; the bias-less 1x1 conv gained an int32 bias.
  const dqW = q.nodes.filter((x) => x.op === 'DequantizeLinear' && q.initializers.get(x.inputs[0])?.dtype === 'int8');
  assert.equal(dqW.length, 4);
  assert.ok(dqW.every((x) => 'i' in x.attrs.axis && x.attrs.axis.i === 0));
  assert.equal(q.nodes.filter((x) => x.op === 'DequantizeLinear' && q.initializers.get(x.inputs[0])?.dtype === 'int32').length, 4);

  const bytes = toOnnxBytes(q, { dynamicBatch: true });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-qdq-'));
  const optimized = path.join(dir, 'optimized.onnx');
  const s8 = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: optimized });
  const ops = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!.map((x) => x.opType);
  // The head conv's output is float (nothing quantized reads it): DQ -> Conv stays float there.
  assert.equal(ops.filter((o) => o === 'QLinearConv').length, 3, `optimized ops: ${ops}`);
  assert.ok(ops.includes('QLinearAdd'), `optimized ops: ${ops}`);
  assert.ok(!ops.includes('Clip'), 'Clip(0, 6) folded into the quantization range');

  // The fused integer kernels compute what the QDQ graph says (ORT's reference DQ -> float op -> Q
  // path, optimisations off), up to one rounding step; both stay close to the float graph.
  const emulated = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const sf = await createSession(g, { threads: 1 });
  const x = new Float32Array(n * 3 * 144).map(() => rng.normal());
  const feed = { image: new ort.Tensor('float32', x, [n, 3, 12, 12]) };
  const f = (await runGraph(sf, g, { image: x }))[out].data as Float32Array;
  const fused = (await s8.run(feed))[out].data as Float32Array;
  const reference = (await emulated.run(feed))[out].data as Float32Array;
  const rel = (a: Float32Array, c: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - c[i]) ** 2, 0) / a.reduce((s, v) => s + v * v, 0));
  assert.ok(rel(reference, fused) < 0.01, `fused vs QDQ semantics: ${rel(reference, fused)}`);
  assert.ok(rel(f, fused) < 0.05, `int8 vs float: ${rel(f, fused)}`);
  await Promise.all([s8.release(), sf.release(), emulated.release()]);
});

test('a Conv that feeds GlobalAveragePool (a network\'s last, whose map is also an output) gets a quantized output, so ORT fuses it into QLinearConv too', async () => {
  const n = 2;
  const { g, out } = block(n, 5);
  const b = new GraphBuilder(g);
  const pooled = b.op('GlobalAveragePool', [out]);
  b.output(pooled);
  // A pool of something no Conv makes (a SiLU product, as EfficientNet's squeeze-excitation) is left in float.
  const silu = b.silu(out);
  b.output(b.op('GlobalAveragePool', [silu]));
  const targets = quantizationTargets(b.graph);
  assert.equal(targets.length, 6, `the block's five and the head conv's output: ${targets}`);
  assert.ok(targets.includes(out));
  assert.ok(!targets.includes(silu));
  const rng = new Rng(12);
  const cal = await calibrated(b.graph, Array.from({ length: 3 }, () => new Float32Array(n * 3 * 144).map(() => rng.normal())), n);
  const { graph: q } = quantizeQdq(b.graph, cal.ranges, { channelMeans: cal.channelMeans() });
  assert.deepEqual(q.outputs, b.graph.outputs, 'the feature map and the pooled outputs keep their names');
  assert.deepEqual(b.graph.outputs.slice(0, 2), [out, pooled]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-qdq-'));
  const optimized = path.join(dir, 'optimized.onnx');
  const s8 = await ort.InferenceSession.create(toOnnxBytes(q, { dynamicBatch: true }), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: optimized });
  const ops = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!.map((x) => x.opType);
  assert.equal(ops.filter((o) => o === 'QLinearConv').length, 4, `every conv fused, the head's too: ${ops}`);
  assert.ok(!ops.includes('Conv') && !ops.includes('FusedConv'), `no float conv left: ${ops}`);
  const sf = await createSession(b.graph, { threads: 1 });
  const x = new Float32Array(n * 3 * 144).map(() => rng.normal());
  const f = (await runGraph(sf, b.graph, { image: x }))[pooled].data as Float32Array;
  const got = (await s8.run({ image: new ort.Tensor('float32', x, [n, 3, 12, 12]) }))[pooled].data as Float32Array;
  const rel = Math.sqrt(f.reduce((s, v, i) => s + (v - got[i]) ** 2, 0) / f.reduce((s, v) => s + v * v, 0));
  assert.ok(rel < 0.05, `int8 vs float after pooling: ${rel}`);
  await Promise.all([s8.release(), sf.release()]);
});

test('bias correction: on a constant input the corrected conv with int8 weights gives the float output (up to the int32 bias step)', async () => {
  const n = 1;
  const rng = new Rng(5);
  const b = new GraphBuilder(emptyGraph('conv'));
  const x = b.input('image', 'float32', [n, 4, 6, 6]);
  const w = b.initializer('w', float32([5, 4, 3, 3], Array.from({ length: 180 }, () => rng.normal() * 0.5)));
  const bias = b.initializer('b', float32([5], [0.1, -0.2, 0.3, 0, 0.05]));
  const y = b.conv(x, w, bias); // no padding: every window sees only the constant
  b.output(y);
  const g = b.graph;
  const constant = new Float32Array(n * 4 * 36).fill(0.7);
  const cal = await calibrated(g, [constant], n);
  assert.ok(cal.channelMeans().get('image')!.every((m) => Math.abs(m - 0.7) < 1e-6));
  const sf = await createSession(g, { threads: 1 });
  const f = (await runGraph(sf, g, { image: constant }))[y].data as Float32Array;
  const deviation = async (corrected: boolean) => {
    const { graph } = quantizeQdq(g, cal.ranges, { weightBits: 7, channelMeans: corrected ? cal.channelMeans() : undefined });
    const weightsOnly = dequantizeQdq(graph); // int8 weights and biases, activations exact
    const s = await createSession(weightsOnly, { threads: 1 });
    const v = (await runGraph(s, weightsOnly, { image: constant }))[y].data as Float32Array;
    await s.release();
    return Math.max(...f.map((a, i) => Math.abs(a - v[i])));
  };
  const without = await deviation(false);
  const withCorrection = await deviation(true);
  assert.ok(without > 1e-2, `7-bit rounding moves a 36-weight channel visibly (${without})`);
  assert.ok(withCorrection < 1e-3, `corrected: ${withCorrection}`);
  await sf.release();
});

test('dequantizeQdq: back to the float graph\'s ops and names with the int8 weights, readable from the ONNX file', async () => {
  const n = 2;
  const { g, out } = block(n);
  const rng = new Rng(2);
  const cal = await calibrated(g, [new Float32Array(n * 3 * 144).map(() => rng.normal())], n);
  const { graph: q } = quantizeQdq(g, cal.ranges);
  const back = dequantizeQdq(fromOnnxBytes(toOnnxBytes(q, { dynamicBatch: true }), { batch: n }));
  assert.deepEqual(back.nodes.map((x) => x.op), g.nodes.map((x) => x.op));
  assert.deepEqual(back.nodes.map((x) => x.outputs), g.nodes.map((x) => x.outputs));
  assert.deepEqual(back.outputs, [out]);
  // The first conv's weights are the int8 values times their channel scale.
  const conv = back.nodes.find((x) => x.op === 'Conv')!;
  const wq = q.initializers.get(`${g.nodes[0].inputs[1]}_quantized`)!.data as Int8Array;
  const scale = q.initializers.get(`${g.nodes[0].inputs[1]}_scale`)!.data as Float32Array;
  const wd = back.initializers.get(conv.inputs[1])!.data as Float32Array;
  const per = wq.length / scale.length;
  for (let i = 0; i < wq.length; i++) assert.equal(wd[i], Math.fround(wq[i] * scale[Math.floor(i / per)]));
  // It runs, close to the float graph (weights rounded, activations exact).
  const x = new Float32Array(n * 3 * 144).map(() => rng.normal());
  const s1 = await createSession(g, { threads: 1 });
  const s2 = await createSession(back, { threads: 1 });
  const a = (await runGraph(s1, g, { image: x }))[out].data as Float32Array;
  const c = (await runGraph(s2, back, { image: x }))[out].data as Float32Array;
  const rel = Math.sqrt(a.reduce((s, v, i) => s + (v - c[i]) ** 2, 0) / a.reduce((s, v) => s + v * v, 0));
  assert.ok(rel < 0.02 && rel > 0, `relative error ${rel}`);
  await Promise.all([s1.release(), s2.release()]);
});

test('quantizeQdq refuses a graph whose calibration misses a target', () => {
  const { g } = block(1);
  assert.throws(() => quantizeQdq(g, new Map()), /no calibration range for tensor 'image'/);
});
