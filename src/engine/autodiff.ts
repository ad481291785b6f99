/**
 * Reverse-mode automatic differentiation over the IR (Griewank & Walther, "Evaluating
 * Derivatives", 2008, ch. 3): walk the nodes between the differentiated tensors and the seed in
 * reverse topological order, apply each op's vector-Jacobian product, and sum the contributions
 * of tensors used more than once. Every gradient is expressed with standard ONNX ops, so the
 * ordinary inference build of ONNX Runtime executes the training graph (its gradient kernels
 * such as ConvGrad are not in that build).
 */
import { DrXaiError } from '../core/index.ts';
import type { Graph, Node, Shape, TensorData } from './ir.ts';
import { GraphBuilder, OPSET, cloneGraph, float32, sizeOf } from './ir.ts';
import { attrFloat, attrInt, attrInts, intValues } from './attrs.ts';
import { convPads, reduceAxes } from './shape.ts';
import { ONNX_DTYPE } from './dtypes.ts';

/** Ops through which no gradient flows (comparisons, casts to bool, index maths). */
const NON_DIFFERENTIABLE = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not', 'Cast', 'Sign', 'Floor', 'Ceil']);

/** Batch statistics a training-mode BatchNormalization emits, for the running-stat update. */
export interface BatchNormStats {
  /** Forward graph names of the node's running buffers. */
  runningMean: string;
  runningVar: string;
  /** Training-graph outputs: batch mean and biased batch variance. */
  batchMean: string;
  batchVar: string;
  /** Elements per channel in the batch (N*H*W), for the unbiased correction n/(n-1). */
  count: number;
}

interface Ctx {
  b: GraphBuilder;
  node: Node;
  /** Gradient of each output ('' when none flows back). */
  gy: string[];
  /** Whether each input needs a gradient. */
  needs: boolean[];
  /** Training-mode BatchNormalization batch statistics by node name. */
  bnBatch: Map<string, { mean: string; variance: string }>;
}

const zerosLike = (b: GraphBuilder, dtype: 'float32' | 'float64') => b.scalar(0, dtype);

function floatType(b: GraphBuilder, name: string): 'float32' | 'float64' {
  const d = b.dtype(name);
  if (d !== 'float32' && d !== 'float64') throw new Error(`gradient of non-float tensor '${name}'`);
  return d;
}

/** Sum a gradient over the axes that broadcasting expanded, back to `target`'s shape. */
export function unbroadcast(b: GraphBuilder, g: string, target: Shape): string {
  const gs = b.shape(g);
  if (gs.length === target.length && gs.every((d, i) => d === target[i])) return g;
  const lead = gs.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead || (target[i - lead] === 1 && gs[i] !== 1)) axes.push(i);
  }
  let r = axes.length ? b.reduceSum(g, axes, true) : g;
  if (b.shape(r).length !== target.length || b.shape(r).some((d, i) => d !== target[i])) r = b.reshape(r, target);
  return r;
}

/** Reshape a per-channel [C] tensor to broadcast against [N, C, spatial...]. */
function perChannel(b: GraphBuilder, v: string, rank: number): string {
  const c = b.shape(v)[0];
  return b.reshape(v, [1, c, ...new Array(rank - 2).fill(1)]);
}

function scalarLike(b: GraphBuilder, like: string, v: number): string {
  return b.scalar(v, floatType(b, like));
}

// ---------------------------------------------------------------------------------------------
// Vector-Jacobian products, one per op. Each returns the gradient of every input ('' = none).

type Rule = (c: Ctx) => string[];

const elementwiseUnary = (f: (b: GraphBuilder, x: string, y: string, g: string) => string): Rule => (c) => [f(c.b, c.node.inputs[0], c.node.outputs[0], c.gy[0])];

/** mask ? g : 0 */
function where(b: GraphBuilder, mask: string, g: string): string {
  // g * float(mask) rather than Where(mask, g, 0): ONNX Runtime's CPU Where with a broadcast
  // scalar runs on one thread, a third of a MobileNetV2 training step (ORT profile, 224 px,
  // batch 16); Cast + Mul are vectorised and threaded. The two differ only where g is not finite.
  return b.mul(g, b.op('Cast', [mask], { to: { i: ONNX_DTYPE[floatType(b, g)] } }));
}

const RULES: Record<string, Rule> = {
  Identity: (c) => [c.gy[0]],
  Dropout: (c) => [c.gy[0], '', ''], // inference-mode Dropout (imported graphs) is the identity
  Add: (c) => [c.needs[0] ? unbroadcast(c.b, c.gy[0], c.b.shape(c.node.inputs[0])) : '', c.needs[1] ? unbroadcast(c.b, c.gy[0], c.b.shape(c.node.inputs[1])) : ''],
  Sub: (c) => [
    c.needs[0] ? unbroadcast(c.b, c.gy[0], c.b.shape(c.node.inputs[0])) : '',
    c.needs[1] ? c.b.op('Neg', [unbroadcast(c.b, c.gy[0], c.b.shape(c.node.inputs[1]))]) : '',
  ],
  Mul: (c) => {
    const [a, bb] = c.node.inputs;
    return [
      c.needs[0] ? unbroadcast(c.b, c.b.mul(c.gy[0], bb), c.b.shape(a)) : '',
      c.needs[1] ? unbroadcast(c.b, c.b.mul(c.gy[0], a), c.b.shape(bb)) : '',
    ];
  },
  Div: (c) => {
    // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -(1/b) * y
    const [a, bb] = c.node.inputs;
    const t = c.b.div(c.gy[0], bb);
    return [c.needs[0] ? unbroadcast(c.b, t, c.b.shape(a)) : '', c.needs[1] ? unbroadcast(c.b, c.b.op('Neg', [c.b.mul(t, c.node.outputs[0])]), c.b.shape(bb)) : ''];
  },
  Neg: elementwiseUnary((b, _x, _y, g) => b.op('Neg', [g])),
  Abs: elementwiseUnary((b, x, _y, g) => b.mul(g, b.op('Sign', [x]))),
  Exp: elementwiseUnary((b, _x, y, g) => b.mul(g, y)),
  Log: elementwiseUnary((b, x, _y, g) => b.div(g, x)),
  Sqrt: elementwiseUnary((b, _x, y, g) => b.div(g, b.mul(y, scalarLike(b, y, 2)))),
  Reciprocal: elementwiseUnary((b, _x, y, g) => b.op('Neg', [b.mul(g, b.mul(y, y))])),
  Tanh: elementwiseUnary((b, _x, y, g) => b.mul(g, b.sub(scalarLike(b, y, 1), b.mul(y, y)))),
  Softplus: elementwiseUnary((b, x, _y, g) => b.mul(g, b.sigmoid(x))),
  // PyTorch threshold_backward: gradient passes where the output is positive.
  Relu: elementwiseUnary((b, _x, y, g) => where(b, b.op('Greater', [y, scalarLike(b, y, 0)]), g)),
  LeakyRelu: (c) => {
    const { b, node } = c;
    const x = node.inputs[0];
    const alpha = attrFloat(node, 'alpha', 0.01);
    return [b.op('Where', [b.op('Greater', [x, scalarLike(b, x, 0)]), c.gy[0], b.mul(c.gy[0], scalarLike(b, x, alpha))])];
  },
  // hardtanh_backward: gradient passes strictly inside (min, max).
  Clip: (c) => {
    const { b, node } = c;
    const x = node.inputs[0];
    let mask = '';
    if (node.inputs[1]) mask = b.op('Greater', [x, node.inputs[1]]);
    if (node.inputs[2]) {
      const lt = b.op('Less', [x, node.inputs[2]]);
      mask = mask ? b.op('And', [mask, lt]) : lt;
    }
    return [mask ? where(b, mask, c.gy[0]) : c.gy[0], '', ''];
  },
  Sigmoid: elementwiseUnary((b, _x, y, g) => b.mul(g, b.mul(y, b.sub(scalarLike(b, y, 1), y)))),
  HardSigmoid: (c) => {
    const { b, node } = c;
    const x = node.inputs[0];
    const alpha = attrFloat(node, 'alpha', 0.2);
    const beta = attrFloat(node, 'beta', 0.5);
    const z = b.add(b.mul(x, scalarLike(b, x, alpha)), scalarLike(b, x, beta));
    const inside = b.op('And', [b.op('Greater', [z, scalarLike(b, x, 0)]), b.op('Less', [z, scalarLike(b, x, 1)])]);
    return [where(b, inside, b.mul(c.gy[0], scalarLike(b, x, alpha)))];
  },
  // hardswish_backward (PyTorch): 0 for x < -3, g*(x/3 + 1/2) for -3 <= x <= 3, g above.
  HardSwish: (c) => {
    const { b } = c;
    const x = c.node.inputs[0];
    const g = c.gy[0];
    const mid = b.mul(g, b.add(b.mul(x, scalarLike(b, x, 1 / 3)), scalarLike(b, x, 0.5)));
    const upper = b.op('Where', [b.op('LessOrEqual', [x, scalarLike(b, x, 3)]), mid, g]);
    return [b.op('Where', [b.op('Less', [x, scalarLike(b, x, -3)]), zerosLike(b, floatType(b, x)), upper])];
  },
  GlobalAveragePool: (c) => {
    const { b } = c;
    const xs = b.shape(c.node.inputs[0]);
    const n = sizeOf(xs.slice(2));
    return [b.op('Expand', [b.mul(c.gy[0], scalarLike(b, c.gy[0], 1 / n)), b.ints(xs)])];
  },
  ReduceSum: (c) => reduceGrad(c, false),
  ReduceMean: (c) => reduceGrad(c, true),
  Reshape: (c) => [c.b.reshape(c.gy[0], c.b.shape(c.node.inputs[0])), ''],
  Flatten: (c) => [c.b.reshape(c.gy[0], c.b.shape(c.node.inputs[0]))],
  Squeeze: (c) => [c.b.reshape(c.gy[0], c.b.shape(c.node.inputs[0])), ''],
  Unsqueeze: (c) => [c.b.reshape(c.gy[0], c.b.shape(c.node.inputs[0])), ''],
  Expand: (c) => [unbroadcast(c.b, c.gy[0], c.b.shape(c.node.inputs[0])), ''],
  Transpose: (c) => {
    const rank = c.b.shape(c.node.inputs[0]).length;
    const perm = attrInts(c.node, 'perm', undefined) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inv = new Array(rank);
    perm.forEach((p, i) => (inv[p] = i));
    return [c.b.transpose(c.gy[0], inv)];
  },
  Concat: (c) => {
    const { b, node } = c;
    const rank = b.shape(node.inputs[0]).length;
    const axis = (attrInt(node, 'axis', 0) + rank) % rank;
    const sizes = node.inputs.map((i) => b.shape(i)[axis]);
    return b.node('Split', [c.gy[0], b.ints(sizes)], { axis: { i: axis } }, node.inputs.length);
  },
  Split: (c) => {
    const { b, node } = c;
    const rank = b.shape(node.inputs[0]).length;
    const axis = (attrInt(node, 'axis', 0) + rank) % rank;
    const parts = node.outputs.map((o, k) => c.gy[k] || b.op('Expand', [zerosLike(b, floatType(b, o)), b.ints(b.shape(o))]));
    return [b.concat(parts, axis), ''];
  },
  Where: (c) => {
    const { b, node } = c;
    const [cond, x, y] = node.inputs;
    const z = zerosLike(b, floatType(b, node.outputs[0]));
    return [
      '',
      c.needs[1] ? unbroadcast(b, b.op('Where', [cond, c.gy[0], z]), b.shape(x)) : '',
      c.needs[2] ? unbroadcast(b, b.op('Where', [cond, z, c.gy[0]]), b.shape(y)) : '',
    ];
  },
  Pad: (c) => {
    const { b, node } = c;
    const mode = node.attrs.mode && 's' in node.attrs.mode ? node.attrs.mode.s : 'constant';
    if (mode !== 'constant') throw new DrXaiError(`gradient of Pad mode '${mode}' is not supported (node '${node.name}')`);
    const xs = b.shape(node.inputs[0]);
    const r = xs.length;
    const pads = node.inputs[1] ? intValues(b.constValue(node.inputs[1])!) : attrInts(node, 'pads', undefined)!;
    const starts = xs.map((_, i) => pads[i]);
    const ends = xs.map((d, i) => pads[i] + d);
    const axes = Array.from({ length: r }, (_, i) => i);
    return [b.op('Slice', [c.gy[0], b.ints(starts), b.ints(ends), b.ints(axes)]), '', ''];
  },
  Softmax: (c) => {
    // dx = y * (g - sum(g * y, axis))
    const { b, node } = c;
    const y = node.outputs[0];
    const rank = b.shape(y).length;
    const axis = (attrInt(node, 'axis', -1) + rank) % rank;
    const s = b.reduceSum(b.mul(c.gy[0], y), [axis], true);
    return [b.mul(y, b.sub(c.gy[0], s))];
  },
  LogSoftmax: (c) => {
    // dx = g - softmax(x) * sum(g, axis), softmax(x) = exp(logsoftmax(x))
    const { b, node } = c;
    const y = node.outputs[0];
    const rank = b.shape(y).length;
    const axis = (attrInt(node, 'axis', -1) + rank) % rank;
    const s = b.reduceSum(c.gy[0], [axis], true);
    return [b.sub(c.gy[0], b.mul(b.op('Exp', [y]), s))];
  },
  Gemm: (c) => gemmGrad(c),
  MatMul: (c) => {
    const { b, node } = c;
    const [a, bb] = node.inputs;
    const tr = (t: string) => {
      const r = b.shape(t).length;
      const perm = Array.from({ length: r }, (_, i) => i);
      perm[r - 1] = r - 2;
      perm[r - 2] = r - 1;
      return b.transpose(t, perm);
    };
    return [
      c.needs[0] ? unbroadcast(b, b.matmul(c.gy[0], tr(bb)), b.shape(a)) : '',
      c.needs[1] ? unbroadcast(b, b.matmul(tr(a), c.gy[0]), b.shape(bb)) : '',
    ];
  },
  Conv: (c) => convGrad(c),
  BatchNormalization: (c) => batchNormGrad(c),
  AveragePool: (c) => averagePoolGrad(c),
  MaxPool: (c) => maxPoolGrad(c),
};

function reduceGrad(c: Ctx, mean: boolean): string[] {
  const { b, node } = c;
  const xs = b.shape(node.inputs[0]);
  const axes = reduceAxes(node, xs.length, (n) => b.constValue(n));
  const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
  let g = b.reshape(c.gy[0], kept);
  if (mean) g = b.mul(g, scalarLike(b, g, 1 / axes.reduce((p, a) => p * xs[a], 1)));
  return [b.op('Expand', [g, b.ints(xs)]), ''];
}

function gemmGrad(c: Ctx): string[] {
  // Y = alpha * op(A) op(B) + beta * C (ONNX Gemm); transposes chosen so no explicit Transpose is needed.
  const { b, node } = c;
  const [a, bb, cc] = node.inputs;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const ta = attrInt(node, 'transA', 0);
  const tb = attrInt(node, 'transB', 0);
  const g = c.gy[0];
  const gemm = (x: string, y: string, tA: number, tB: number) => b.op('Gemm', [x, y], { alpha: { f: alpha }, transA: { i: tA }, transB: { i: tB } });
  const gA = c.needs[0] ? (ta ? gemm(bb, g, tb, 1) : gemm(g, bb, 0, tb ? 0 : 1)) : '';
  const gB = c.needs[1] ? (tb ? gemm(g, a, 1, ta) : gemm(a, g, ta ? 0 : 1, 0)) : '';
  let gC = '';
  if (cc && c.needs[2]) {
    gC = unbroadcast(b, beta === 1 ? g : b.mul(g, scalarLike(b, g, beta)), b.shape(cc));
  }
  return [gA, gB, gC];
}

/** Reverse the spatial axes of a conv weight (Slice with step -1). */
function flipSpatial(b: GraphBuilder, w: string): string {
  const ws = b.shape(w);
  const axes: number[] = [];
  for (let i = 2; i < ws.length; i++) if (ws[i] > 1) axes.push(i);
  if (!axes.length) return w;
  return b.op('Slice', [w, b.ints(axes.map(() => -1)), b.ints(axes.map(() => -(2 ** 31))), b.ints(axes), b.ints(axes.map(() => -1))]);
}

/** Geometry of a Conv node with ONNX defaults filled in. */
function convGeometry(b: GraphBuilder, node: Node) {
  const ws = b.shape(node.inputs[1]);
  const r = ws.length - 2;
  return {
    r,
    k: attrInts(node, 'kernel_shape', undefined) ?? ws.slice(2),
    s: attrInts(node, 'strides', undefined) ?? new Array(r).fill(1),
    d: attrInts(node, 'dilations', undefined) ?? new Array(r).fill(1),
    p: convPads(node, r),
    g: attrInt(node, 'group', 1),
  };
}

function convGrad(c: Ctx): string[] {
  const { b, node } = c;
  const [x, w, bias] = node.inputs;
  const gy = c.gy[0];
  const xs = b.shape(x);
  const ws = b.shape(w);
  const ys = b.shape(gy);
  const { r, k, s, d, p, g } = convGeometry(b, node);
  const [n, cin] = xs;
  const o = ws[0];
  const cg = ws[1];
  const og = o / g;
  const spatialAxes = Array.from({ length: r }, (_, i) => i + 2);
  const ints = (v: number[]) => ({ ints: v });

  // Input gradient (the transposed convolution of gy).
  let gx = '';
  if (c.needs[0]) {
    const backPads = [...k.map((kk, i) => d[i] * (kk - 1) - p[i]), ...k.map((kk, i) => d[i] * (kk - 1) - p[i + r])];
    if (s.every((v) => v === 1) && backPads.every((v) => v >= 0)) {
      // Stride 1: a Conv with the kernel flipped and its in/out channels swapped per group
      // (measured ~3x faster than ConvTranspose for depthwise kernels).
      let wt: string;
      if (g === 1) wt = b.transpose(w, [1, 0, ...spatialAxes]);
      else if (cg === 1 && og === 1) wt = w;
      else {
        const w5 = b.reshape(w, [g, og, cg, ...k]);
        wt = b.reshape(b.transpose(w5, [0, 2, 1, ...spatialAxes.map((a) => a + 1)]), [cin, og, ...k]);
      }
      gx = b.op('Conv', [gy, flipSpatial(b, wt)], {
        kernel_shape: ints(k),
        strides: ints(new Array(r).fill(1)),
        pads: ints(backPads),
        dilations: ints(d),
        group: { i: g },
      });
    } else {
      // ConvTranspose's weight layout [C_in=O, C_out/group, k...] is the forward weight itself.
      const natural = ys.slice(2).map((yy, i) => s[i] * (yy - 1) + (k[i] - 1) * d[i] + 1 - p[i] - p[i + r]);
      gx = b.op('ConvTranspose', [gy, w], {
        kernel_shape: ints(k),
        strides: ints(s),
        pads: ints(p),
        dilations: ints(d),
        group: { i: g },
        output_padding: ints(xs.slice(2).map((xx, i) => xx - natural[i])),
      });
    }
  }

  // Weight gradient: correlate x with gy, batch and channel axes swapped so the batch becomes the
  // contraction axis; the forward stride becomes the dilation and the dilation the stride.
  let gw = '';
  if (c.needs[1]) {
    const pointwise = k.every((v) => v === 1) && s.every((v) => v === 1) && p.every((v) => v === 0) && g === 1;
    if (pointwise) {
      // 1x1: dW[o,c] = sum_n gy[n,o,:] . x[n,c,:], a batched MatMul.
      const hw = sizeOf(xs.slice(2));
      const gy3 = b.reshape(gy, [n, o, hw]);
      const xT = b.transpose(b.reshape(x, [n, cin, hw]), [0, 2, 1]);
      const prod = b.matmul(gy3, xT);
      gw = b.reshape(n > 1 ? b.reduceSum(prod, [0], false) : prod, ws);
    } else {
      const common = { strides: ints(d), pads: ints(p), dilations: ints(s) };
      // The correlation can be longer than k when the stride does not divide the input: trim.
      const trimTo = (t: string) => {
        const ts = b.shape(t);
        if (ts.slice(2).every((v, i) => v === k[i])) return t;
        return b.op('Slice', [t, b.ints(new Array(r).fill(0)), b.ints(k), b.ints(spatialAxes)]);
      };
      if (g === 1) {
        const xt = b.transpose(x, [1, 0, ...spatialAxes]); // [C, N, H, W]
        const gyt = b.transpose(gy, [1, 0, ...spatialAxes]); // [O, N, Ho, Wo]
        const corr = b.op('Conv', [xt, gyt], { ...common, kernel_shape: ints(ys.slice(2)), group: { i: 1 } }); // [C, O, k']
        gw = b.transpose(trimTo(corr), [1, 0, ...spatialAxes]);
      } else {
        // Grouped/depthwise: one group per (sample, group) pair, then sum over the samples.
        const xg = cg === 1 ? b.reshape(x, [1, n * g, ...xs.slice(2)]) : b.reshape(b.transpose(b.reshape(x, [n, g, cg, ...xs.slice(2)]), [2, 0, 1, ...spatialAxes.map((a) => a + 1)]), [cg, n * g, ...xs.slice(2)]);
        const gyg = b.reshape(gy, [n * o, 1, ...ys.slice(2)]);
        const corr = trimTo(b.op('Conv', [xg, gyg], { ...common, kernel_shape: ints(ys.slice(2)), group: { i: n * g } })); // [Cg, N*O, k]
        const summed = n > 1 ? b.reduceSum(b.reshape(corr, [cg, n, o, ...k]), [1], false) : b.reshape(corr, [cg, o, ...k]);
        gw = cg === 1 ? b.reshape(summed, ws) : b.transpose(summed, [1, 0, ...spatialAxes]);
      }
    }
  }
  const gb = bias && c.needs[2] ? b.reduceSum(gy, [0, ...spatialAxes], false) : '';
  return [gx, gw, gb];
}

function batchNormGrad(c: Ctx): string[] {
  const { b, node } = c;
  const [x, scale] = node.inputs;
  const gy = c.gy[0];
  const xs = b.shape(x);
  const rank = xs.length;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const dt = floatType(b, x);
  const batch = c.bnBatch.get(node.name);
  const gbeta = b.reduceSum(gy, axes, false);
  if (!batch) {
    // Eval mode: y = scale * (x - mean) / sqrt(var + eps) + bias is affine in x.
    const [, , , mean, variance] = node.inputs;
    const invstd = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps, dt))])]);
    const gx = c.needs[0] ? b.mul(gy, perChannel(b, b.mul(scale, invstd), rank)) : '';
    const gscale = c.needs[1] ? b.mul(b.reduceSum(b.mul(gy, b.sub(x, perChannel(b, mean, rank))), axes, false), invstd) : '';
    return [gx, gscale, c.needs[2] ? gbeta : '', '', ''];
  }
  // Training mode (Ioffe & Szegedy 2015, eq. in sec. 3, backward pass):
  //   xhat = (x - mu) * invstd,  dgamma = sum(g * xhat),  dbeta = sum(g)
  //   dx = gamma * invstd * (g - dbeta/m - xhat * dgamma/m)
  // written as dx = a*g + b*(x - mu) + c with per-channel a, b, c so only four full-size
  // element-wise passes remain.
  const m = sizeOf(xs) / xs[1];
  const invstd = b.op('Reciprocal', [b.op('Sqrt', [b.add(batch.variance, b.scalar(eps, dt))])]);
  const xc = b.sub(x, perChannel(b, batch.mean, rank));
  const sumGXc = b.reduceSum(b.mul(gy, xc), axes, false);
  const gscale = b.mul(sumGXc, invstd);
  let gx = '';
  if (c.needs[0]) {
    const a = b.mul(scale, invstd);
    const coefXc = b.op('Neg', [b.mul(b.mul(a, b.mul(invstd, invstd)), b.mul(sumGXc, b.scalar(1 / m, dt)))]);
    const coefC = b.op('Neg', [b.mul(a, b.mul(gbeta, b.scalar(1 / m, dt)))]);
    gx = b.add(b.add(b.mul(gy, perChannel(b, a, rank)), b.mul(xc, perChannel(b, coefXc, rank))), perChannel(b, coefC, rank));
  }
  return [gx, c.needs[1] ? gscale : '', c.needs[2] ? gbeta : '', '', ''];
}

function averagePoolGrad(c: Ctx): string[] {
  // The adjoint of average pooling is a depthwise ConvTranspose with a constant 1/|window| kernel.
  const { b, node } = c;
  const x = node.inputs[0];
  const xs = b.shape(x);
  const r = xs.length - 2;
  if (attrInt(node, 'count_include_pad', 0) === 0 && convPads(node, r).some((v) => v > 0)) {
    throw new DrXaiError(`gradient of AveragePool with padding and count_include_pad=0 is not supported (node '${node.name}')`);
  }
  const k = attrInts(node, 'kernel_shape', undefined)!;
  const s = attrInts(node, 'strides', undefined) ?? new Array(r).fill(1);
  const p = convPads(node, r);
  const ch = xs[1];
  const kernel = b.constant({ ...float32([ch, 1, ...k]), data: new Float32Array(ch * sizeOf(k)).fill(1 / sizeOf(k)) } as TensorData, 'avgpool_kernel');
  const ys = b.shape(c.gy[0]);
  const natural = ys.slice(2).map((yy, i) => s[i] * (yy - 1) + k[i] - p[i] - p[i + r]);
  return [
    b.op('ConvTranspose', [c.gy[0], kernel], {
      kernel_shape: { ints: k },
      strides: { ints: s },
      pads: { ints: p },
      group: { i: ch },
      output_padding: { ints: xs.slice(2).map((v, i) => v - natural[i]) },
    }),
  ];
}

function maxPoolGrad(c: Ctx): string[] {
  // Route each output gradient to its argmax: ONNX MaxPool's second output holds flat indices
  // into the input (batch and channel offsets included), and ScatterElements(add) sums them.
  const { b, node } = c;
  const x = node.inputs[0];
  const xs = b.shape(x);
  let idx = node.outputs[1];
  if (!idx) {
    // The forward node gains its (optional) Indices output.
    idx = b.fresh(`${node.name}_indices`);
    node.outputs[1] = idx;
    b.graph.values.set(idx, { name: idx, dtype: 'int64', shape: b.shape(node.outputs[0]) });
  }
  const total = sizeOf(xs);
  const zeros = b.op('Expand', [zerosLike(b, floatType(b, x)), b.ints([total])]);
  const flat = b.op('ScatterElements', [zeros, b.reshape(idx, [-1]), b.reshape(c.gy[0], [-1])], { axis: { i: 0 }, reduction: { s: 'add' } });
  return [b.reshape(flat, xs)];
}

// ---------------------------------------------------------------------------------------------

/** Find the consumers of each tensor. */
function consumers(g: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) m.set(i, [...(m.get(i) ?? []), n]);
  return m;
}

/** x * sigmoid(x) with the sigmoid used nowhere else: differentiated as one SiLU. */
function siluInput(node: Node, producer: Map<string, Node>, uses: Map<string, Node[]>): { x: string; sig: Node } | undefined {
  if (node.op !== 'Mul') return undefined;
  for (const [xi, si] of [[0, 1], [1, 0]]) {
    const sig = producer.get(node.inputs[si]);
    if (sig && sig.op === 'Sigmoid' && sig.inputs[0] === node.inputs[xi] && (uses.get(sig.outputs[0]) ?? []).length === 1) {
      return { x: node.inputs[xi], sig };
    }
  }
  return undefined;
}

export interface BackpropResult {
  /** Gradient tensor name for each requested tensor (a zero constant when unconnected). */
  gradients: Map<string, string>;
}

/**
 * Append to `b` the nodes computing d(sum over seeds of <seed, tensor>)/d(wrt) and return the
 * gradient names. `seeds` maps a tensor to the tensor holding its incoming gradient.
 */
export function backprop(b: GraphBuilder, seeds: Map<string, string>, wrt: string[], bnBatch = new Map<string, { mean: string; variance: string }>()): BackpropResult {
  const g = b.graph;
  const forwardNodes = [...g.nodes];
  const producer = new Map<string, Node>();
  for (const n of forwardNodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const uses = consumers(g);

  // Tensors that depend on a wrt tensor (forward reachability).
  const depends = new Set(wrt);
  for (const n of forwardNodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (n.inputs.some((i) => depends.has(i))) for (const o of n.outputs) if (o) depends.add(o);
  }
  const grads = new Map<string, string[]>();
  for (const [t, s] of seeds) grads.set(t, [s]);
  const total = (t: string): string => {
    const parts = grads.get(t);
    if (!parts || parts.length === 0) return '';
    if (parts.length === 1) return parts[0];
    const sum = b.op('Sum', parts);
    grads.set(t, [sum]);
    return sum;
  };
  const handled = new Set<Node>();
  for (let i = forwardNodes.length - 1; i >= 0; i--) {
    const node = forwardNodes[i];
    if (handled.has(node) || NON_DIFFERENTIABLE.has(node.op)) continue;
    const gy = node.outputs.map((o) => (o ? total(o) : ''));
    if (gy.every((v) => !v)) continue;
    const needs = node.inputs.map((inp) => !!inp && depends.has(inp) && (b.dtype(inp) === 'float32' || b.dtype(inp) === 'float64'));
    if (!needs.some(Boolean)) continue;
    const silu = siluInput(node, producer, uses);
    let gin: string[];
    if (silu) {
      // d/dx [x * s(x)] = s + x*s*(1 - s) = s + y*(1 - s), with y = x*s the forward output.
      const s = silu.sig.outputs[0];
      const y = node.outputs[0];
      const deriv = b.add(s, b.mul(y, b.sub(scalarLike(b, y, 1), s)));
      const gx = b.mul(gy[0], deriv);
      handled.add(silu.sig);
      gin = node.inputs.map((inp) => (inp === silu.x ? gx : ''));
    } else {
      const rule = RULES[node.op];
      if (!rule) throw new DrXaiError(`no gradient for ONNX op '${node.op}' (node '${node.name}')`);
      gin = rule({ b, node, gy, needs, bnBatch });
      if (node.op === 'BatchNormalization' || node.op === 'MaxPool' || node.op === 'Dropout') gin.length = node.inputs.length;
    }
    node.inputs.forEach((inp, k) => {
      if (!needs[k] || !gin[k]) return;
      grads.set(inp, [...(grads.get(inp) ?? []), gin[k]]);
    });
  }
  const out = new Map<string, string>();
  for (const w of wrt) {
    let t = total(w);
    if (!t) t = b.op('Expand', [b.scalar(0, floatType(b, w)), b.ints(b.shape(w))]);
    out.set(w, t);
  }
  return { gradients: out };
}

export interface TrainingGraphOptions {
  /** Name of the scalar loss tensor in the forward graph. */
  loss: string;
  /** Initializers (or inputs) to differentiate; initializers listed here become graph inputs. */
  wrt: string[];
  /** 'train' (default): BatchNormalization uses batch statistics and emits them. */
  batchNorm?: 'train' | 'eval';
  /** Forward tensors to expose as extra outputs (e.g. logits). */
  extraOutputs?: string[];
}

export interface TrainingGraph {
  graph: Graph;
  loss: string;
  /** Parameter name -> gradient output name. */
  gradients: Map<string, string>;
  /** Parameters, now graph inputs fed from TypeScript each step. */
  params: string[];
  batchNorm: BatchNormStats[];
  extraOutputs: string[];
}

/**
 * Gradient graphs use opset-16+ forms (ScatterElements with reduction); ops of an imported
 * opset-13..16 graph mean the same at opset 17, so older graphs are raised to it.
 */
function raiseOpset(g: Graph): void {
  g.opset = Math.max(g.opset, OPSET);
}

/** Remove nodes and initializers that no graph output depends on. */
export function prune(g: Graph): void {
  const live = new Set(g.outputs);
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (n.outputs.some((o) => live.has(o))) {
      kept.push(n);
      for (const inp of n.inputs) if (inp) live.add(inp);
    }
  }
  g.nodes = kept.reverse();
  for (const name of [...g.initializers.keys()]) if (!live.has(name)) g.initializers.delete(name);
  g.inputs = g.inputs.filter((v) => live.has(v.name) || g.masks.some((m) => m.name === v.name));
  g.masks = g.masks.filter((m) => live.has(m.name));
  for (const name of [...g.values.keys()]) if (!live.has(name) && !g.inputs.some((v) => v.name === name)) g.values.delete(name);
}

/** Turn initializers into graph inputs (weights fed at run time). */
export function liftToInputs(g: Graph, names: string[]): void {
  for (const name of names) {
    const t = g.initializers.get(name);
    if (!t) {
      if (!g.inputs.some((v) => v.name === name)) throw new Error(`'${name}' is neither an initializer nor an input`);
      continue;
    }
    g.initializers.delete(name);
    g.inputs.push({ name, dtype: t.dtype, shape: [...t.shape] });
  }
}

/**
 * Build the training graph of a forward graph: outputs are the loss, the gradient of the loss
 * for every parameter in `wrt`, and each BatchNormalization's batch mean and biased variance
 * (for the running-statistics update done in TypeScript).
 *
 * Training-mode BatchNormalization is ONNX BatchNormalization(training_mode=1, momentum=0): with
 * momentum 0 its "running" outputs equal the batch statistics. Each node gets its own constant
 * mean/var inputs (sharing one pair made ORT return NaN gradients).
 */
export function buildTrainingGraph(forward: Graph, opts: TrainingGraphOptions): TrainingGraph {
  const g = cloneGraph(forward);
  raiseOpset(g);
  const b = new GraphBuilder(g);
  if (b.shape(opts.loss).length !== 0 && sizeOf(b.shape(opts.loss)) !== 1) throw new Error(`loss '${opts.loss}' is not a scalar`);
  const bnStats: BatchNormStats[] = [];
  const bnBatch = new Map<string, { mean: string; variance: string }>();
  if ((opts.batchNorm ?? 'train') === 'train') {
    for (const node of g.nodes) {
      if (node.op !== 'BatchNormalization') continue;
      const [x, , , rm, rv] = node.inputs;
      const xs = b.shape(x);
      const ch = xs[1];
      const dt = b.dtype(x) as 'float32' | 'float64';
      const zeros = b.constant({ dtype: dt, shape: [ch], data: dt === 'float32' ? new Float32Array(ch) : new Float64Array(ch) }, `${node.name}_mean0`);
      const ones = b.constant({ dtype: dt, shape: [ch], data: (dt === 'float32' ? new Float32Array(ch) : new Float64Array(ch)).fill(1) }, `${node.name}_var0`);
      const mean = b.fresh(`${node.name}_batch_mean`);
      const variance = b.fresh(`${node.name}_batch_var`);
      node.inputs = [node.inputs[0], node.inputs[1], node.inputs[2], zeros, ones];
      node.outputs = [node.outputs[0], mean, variance];
      node.attrs = { ...node.attrs, training_mode: { i: 1 }, momentum: { f: 0 } };
      g.values.set(mean, { name: mean, dtype: dt, shape: [ch] });
      g.values.set(variance, { name: variance, dtype: dt, shape: [ch] });
      bnBatch.set(node.name, { mean, variance });
      bnStats.push({ runningMean: rm, runningVar: rv, batchMean: mean, batchVar: variance, count: sizeOf(xs) / ch });
    }
  }
  const one = b.constant({ dtype: b.dtype(opts.loss), shape: b.shape(opts.loss), data: b.dtype(opts.loss) === 'float64' ? Float64Array.of(1) : Float32Array.of(1) }, 'loss_seed');
  const { gradients } = backprop(b, new Map([[opts.loss, one]]), opts.wrt, bnBatch);
  const gradOut = new Map<string, string>();
  const outputs = [opts.loss];
  for (const [p, gname] of gradients) {
    // Name each gradient after its parameter, through an Identity when the name is taken.
    const name = `${p}.grad`;
    if (!g.values.has(name)) b.node('Identity', [gname], {}, [name]);
    gradOut.set(p, name);
    outputs.push(name);
  }
  for (const s of bnStats) outputs.push(s.batchMean, s.batchVar);
  const extra = opts.extraOutputs ?? [];
  g.outputs = [...new Set([...outputs, ...extra])];
  liftToInputs(g, opts.wrt);
  prune(g);
  return { graph: g, loss: opts.loss, gradients: gradOut, params: [...opts.wrt], batchNorm: bnStats, extraOutputs: extra };
}

export interface ActivationGradientGraph {
  graph: Graph;
  /** Input to feed with d(scalar)/d(output), e.g. a one-hot row per sample for Grad-CAM. */
  seed: string;
  /** Tensor name -> output holding its gradient. The tensors themselves are outputs too. */
  gradients: Map<string, string>;
}

/**
 * A graph computing, besides its own outputs, the gradient of sum(seed * output) with respect to
 * any intermediate tensors (BatchNormalization in eval mode): with a one-hot seed this is
 * d logit_c / d activation, the quantity Grad-CAM and Grad-CAM++ weight feature maps by.
 */
export function gradientsWrt(forward: Graph, outputName: string, tensorNames: string[]): ActivationGradientGraph {
  const g = cloneGraph(forward);
  raiseOpset(g);
  const b = new GraphBuilder(g);
  for (const t of tensorNames) b.info(t);
  const seed = b.input(b.fresh(`${outputName}.grad_seed`), b.dtype(outputName), b.shape(outputName));
  const { gradients } = backprop(b, new Map([[outputName, seed]]), tensorNames);
  const out = new Map<string, string>();
  for (const [t, gname] of gradients) {
    const name = b.fresh(`${t}.grad`);
    b.node('Identity', [gname], {}, [name]);
    out.set(t, name);
  }
  g.outputs = [...new Set([...g.outputs, ...tensorNames, ...out.values()])];
  prune(g);
  return { graph: g, seed, gradients: out };
}
