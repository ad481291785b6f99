import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, bceWithLogitsLoss, crossEntropyLoss } from '../../src/engine/index.ts';
import { conv2dRef, gradCheck } from './gradcheck.ts';

const f64 = 'float64' as const;

// Each case: the op applied to random parameters, loss = sum(R * op(...)).
const cases: Record<string, (b: GraphBuilder, p: (n: string, s: number[], sc?: number) => string) => string> = {
  'Add/Sub/Mul/Div with broadcasting': (b, p) => {
    const a = p('a', [2, 3, 4]);
    const c = p('c', [3, 1]);
    const d = p('d', [4]);
    const e = b.add(b.op('Exp', [p('e', [1, 3, 1], 0.3)]), b.scalar(1, f64)); // keep the divisor away from 0
    return b.div(b.sub(b.mul(a, c), d), e);
  },
  'Relu, Clip, Sigmoid, Tanh': (b, p) => {
    const x = p('x', [2, 5], 3);
    const clip = b.op('Clip', [x, b.scalar(-1, f64), b.scalar(2, f64)]);
    return b.add(b.add(b.relu(x), clip), b.add(b.sigmoid(x), b.op('Tanh', [x])));
  },
  'LeakyRelu': (b, p) => b.op('LeakyRelu', [p('x', [3, 8], 4)], { alpha: { f: 0.1 } }),
  'Exp, Log, Abs, Neg, Sqrt, Reciprocal': (b, p) => {
    const x = p('x', [2, 4]);
    const pos = b.add(b.op('Abs', [x]), b.scalar(0.5, f64));
    return b.add(b.add(b.op('Log', [pos]), b.op('Sqrt', [pos])), b.add(b.op('Reciprocal', [pos]), b.op('Neg', [b.op('Exp', [x])])));
  },
  'Softmax and LogSoftmax': (b, p) => {
    const x = p('x', [3, 5]);
    return b.add(b.softmax(x, 1), b.logSoftmax(x, 1));
  },
  'ReduceMean, ReduceSum, GlobalAveragePool-free pooling': (b, p) => {
    const x = p('x', [2, 3, 4, 2]);
    return b.add(b.reduceMean(x, [2, 3], true), b.reduceSum(x, [0, 3], true));
  },
  'Reshape, Flatten, Transpose, Concat, Split, Expand, Where': (b, p) => {
    const x = p('x', [2, 3, 4]);
    const y = p('y', [2, 2, 4]);
    const cat = b.concat([x, y], 1);
    const t = b.transpose(b.reshape(cat, [2, 5, 2, 2]), [0, 2, 3, 1]);
    const f = b.flatten(t, 1);
    const [s1, s2] = b.node('Split', [f, b.ints([8, 12])], { axis: { i: 1 } }, 2);
    const ex = b.op('Expand', [p('z', [1, 8]), b.ints([2, 8])]);
    const w = b.op('Where', [b.op('Greater', [s1, b.scalar(0, f64)]), s1, ex]);
    return b.concat([w, s2], 1);
  },
  'Gemm (all transpose combinations) and MatMul (batched, broadcast)': (b, p) => {
    const a = p('a', [3, 4]);
    const at = p('at', [4, 3]);
    const w = p('w', [5, 4]);
    const wt = p('wt', [4, 5]);
    const c = p('c', [5]);
    const g1 = b.op('Gemm', [a, w, c], { transB: { i: 1 }, alpha: { f: 0.7 }, beta: { f: 1.3 } });
    const g2 = b.op('Gemm', [at, wt], { transA: { i: 1 } });
    const g3 = b.op('Gemm', [at, w], { transA: { i: 1 }, transB: { i: 1 } });
    const g4 = b.op('Gemm', [a, wt, c]);
    const m = b.matmul(p('m', [2, 3, 4]), p('n', [4, 5]));
    return b.add(b.add(b.add(g1, g2), b.add(g3, g4)), m);
  },
  'MaxPool': (b, p) => b.op('MaxPool', [p('x', [2, 2, 5, 5])], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } }),
  'Pad (constant)': (b, p) => b.op('Pad', [p('x', [1, 2, 3, 3]), b.ints([0, 0, 1, 2, 0, 0, 2, 1])]),
  'BCE with logits (pos_weight, sample weights)': (b, p) => {
    const x = p('x', [4, 3], 3);
    const t = b.constant({ dtype: f64, shape: [4, 3], data: Float64Array.of(1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0) });
    const pw = p('pw', [3], 0.5);
    const w = b.constant({ dtype: f64, shape: [4], data: Float64Array.of(1, 2, 0.5, 1) });
    return b.reshape(bceWithLogitsLoss(b, x, t, { posWeight: b.add(b.op('Abs', [pw]), b.scalar(0.5, f64)), sampleWeights: w }), [1]);
  },
  'cross-entropy (soft targets, sample weights)': (b, p) => {
    const x = p('x', [3, 4], 2);
    const t = b.constant({ dtype: f64, shape: [3, 4], data: Float64Array.of(1, 0, 0, 0, 0, 0.1, 0.9, 0, 0, 0, 0, 1) });
    const w = b.constant({ dtype: f64, shape: [3], data: Float64Array.of(1, 3, 0.5) });
    return b.reshape(b.add(crossEntropyLoss(b, x, t, { sampleWeights: w }), crossEntropyLoss(b, x, t)), [1]);
  },
};

for (const [name, build] of Object.entries(cases)) {
  test(`gradient of ${name} matches float64 finite differences`, async () => {
    const { checked } = await gradCheck({ dtype: f64, build });
    assert.ok(checked > 0);
  });
}

// Element-wise ops without double kernels in ONNX Runtime (and x*sigmoid(x), which ORT fuses
// into a float-only kernel): float32 analytic gradients against a float64 JavaScript forward.
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const elementwise32: Record<string, { op: (b: GraphBuilder, x: string) => string; f: (v: number) => number }> = {
  'SiLU (fused x*sigmoid(x) gradient)': { op: (b, x) => b.silu(x), f: (v) => v * sigmoid(v) },
  HardSwish: { op: (b, x) => b.op('HardSwish', [x]), f: (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6 },
  HardSigmoid: { op: (b, x) => b.op('HardSigmoid', [x], { alpha: { f: 1 / 6 }, beta: { f: 0.5 } }), f: (v) => Math.min(Math.max(v / 6 + 0.5, 0), 1) },
  Softplus: { op: (b, x) => b.op('Softplus', [x]), f: (v) => Math.log1p(Math.exp(v)) },
};
for (const [name, e] of Object.entries(elementwise32)) {
  test(`gradient of ${name} matches float64 finite differences`, async () => {
    await gradCheck({
      dtype: 'float32',
      build: (b, p) => e.op(b, p('x', [3, 16], 3)),
      reference: (v) => v.get('x')!.map(e.f),
    });
  });
}

test('gradient of BatchNormalization (training mode, batch statistics) matches finite differences', async () => {
  await gradCheck({
    dtype: f64,
    build: (b, p) => {
      const x = p('x', [3, 2, 2, 2], 2);
      const mean = b.constant({ dtype: f64, shape: [2], data: Float64Array.of(0.1, -0.2) });
      const v = b.constant({ dtype: f64, shape: [2], data: Float64Array.of(1.5, 0.7) });
      return b.batchNorm(b.add(x, b.scalar(3, f64)), p('gamma', [2]), p('beta', [2]), mean, v);
    },
  });
});

test('gradient of BatchNormalization (eval mode, running statistics) matches finite differences', async () => {
  await gradCheck({
    dtype: f64,
    batchNorm: 'eval',
    build: (b, p) => {
      const mean = b.constant({ dtype: f64, shape: [3], data: Float64Array.of(0.1, -0.2, 0.3) });
      const v = b.constant({ dtype: f64, shape: [3], data: Float64Array.of(1.5, 0.7, 2) });
      return b.batchNorm(p('x', [2, 3, 2]), p('gamma', [3]), p('beta', [3]), mean, v);
    },
  });
});

// Conv has no double kernel in ONNX Runtime: analytic float32 gradients against float64
// finite differences of a direct JavaScript convolution.
interface ConvCase { x: number[]; w: number[]; strides: number[]; pads: number[]; dilations: number[]; group: number; bias: boolean }
const convCases: Record<string, ConvCase> = {
  '3x3 stride 1 pad 1': { x: [2, 3, 5, 5], w: [4, 3, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, bias: true },
  '3x3 stride 2 pad 1 (odd input, trimmed weight gradient)': { x: [2, 3, 7, 6], w: [4, 3, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, bias: false },
  'depthwise 3x3 stride 1': { x: [2, 4, 5, 5], w: [4, 1, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 4, bias: false },
  'depthwise 5x5 stride 2': { x: [2, 3, 9, 8], w: [3, 1, 5, 5], strides: [2, 2], pads: [2, 2, 2, 2], dilations: [1, 1], group: 3, bias: true },
  'grouped (2 groups, 2 in / 3 out per group)': { x: [2, 4, 5, 5], w: [6, 2, 3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 2, bias: true },
  'pointwise 1x1': { x: [3, 5, 3, 4], w: [6, 5, 1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, bias: true },
  '1x1 stride 2': { x: [2, 3, 5, 5], w: [4, 3, 1, 1], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, bias: false },
  'dilation 2, asymmetric pads': { x: [1, 2, 7, 7], w: [3, 2, 3, 3], strides: [1, 1], pads: [2, 1, 0, 2], dilations: [2, 2], group: 1, bias: false },
  'stride 2 depthwise with channel multiplier 2': { x: [2, 2, 6, 6], w: [4, 1, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 2, bias: false },
};

for (const [name, cc] of Object.entries(convCases)) {
  test(`gradient of Conv ${name} matches float64 finite differences`, async () => {
    await gradCheck({
      dtype: 'float32',
      build: (b, p) => b.conv(p('x', cc.x), p('w', cc.w), cc.bias ? p('bias', [cc.w[0]]) : undefined, cc),
      reference: (v) => conv2dRef(v.get('x')!, cc.x, v.get('w')!, cc.w, v.get('bias'), cc).y,
    });
  });
}

test('gradient of GlobalAveragePool and AveragePool matches float64 finite differences', async () => {
  const xs = [2, 3, 4, 4];
  await gradCheck({
    dtype: 'float32',
    build: (b, p) => {
      const x = p('x', xs);
      const gap = b.globalAveragePool(x);
      const avg = b.op('AveragePool', [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
      return b.add(avg, gap);
    },
    reference: (v) => {
      const x = v.get('x')!;
      const y = new Float64Array(2 * 3 * 2 * 2);
      for (let n = 0; n < 2; n++)
        for (let c = 0; c < 3; c++) {
          let mean = 0;
          for (let i = 0; i < 16; i++) mean += x[(n * 3 + c) * 16 + i] / 16;
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 2; j++) {
              let s = 0;
              for (let a = 0; a < 2; a++) for (let e = 0; e < 2; e++) s += x[(n * 3 + c) * 16 + (2 * i + a) * 4 + 2 * j + e] / 4;
              y[((n * 3 + c) * 2 + i) * 2 + j] = s + mean;
            }
        }
      return y;
    },
  });
});

test('an op without a gradient rule is refused with its name', async () => {
  const b = new GraphBuilder('g');
  const x = b.initializer('x', { dtype: f64, shape: [2], data: Float64Array.of(1, 2) });
  const y = b.op('Floor', [x]);
  const z = b.op('Erf', [b.mul(y, x)]);
  const loss = b.reduceSum(z, [0], false);
  const { buildTrainingGraph } = await import('../../src/engine/index.ts');
  assert.throws(() => buildTrainingGraph(b.graph, { loss, wrt: ['x'] }), /no gradient for ONNX op 'Erf'/);
});
