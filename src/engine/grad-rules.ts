/**
 * The vector-Jacobian product of each ONNX op, written with standard ONNX ops (so the inference
 * build of ONNX Runtime runs the backward pass): one rule per op in RULES, the ops through which
 * no gradient flows in NON_DIFFERENTIABLE. backprop (autodiff.ts) applies them.
 */
import { DrXaiError } from '../core/index.ts';
import type { Node, Shape, TensorData } from './ir.ts';
import { GraphBuilder, float32, sizeOf } from './ir.ts';
import { attrFloat, attrInt, attrInts, intValues } from './attrs.ts';
import { convGeometry, convPads, reduceAxes } from './shape.ts';
import { ONNX_DTYPE } from './dtypes.ts';

/** Ops through which no gradient flows (comparisons, casts to bool, index maths). */
export const NON_DIFFERENTIABLE = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not', 'Cast', 'Sign', 'Floor', 'Ceil']);

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

export function floatType(b: GraphBuilder, name: string): 'float32' | 'float64' {
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

export function scalarLike(b: GraphBuilder, like: string, v: number): string {
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

export const RULES: Record<string, Rule> = {
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

function convGrad(c: Ctx): string[] {
  const { b, node } = c;
  const [x, w, bias] = node.inputs;
  const gy = c.gy[0];
  const xs = b.shape(x);
  const ws = b.shape(w);
  const ys = b.shape(gy);
  const { r, k, s, d, p, g } = convGeometry(node, ws);
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
        // ORT runs this as many tiny convolutions with huge kernels: 20% of an EfficientNet-B0
        // step's kernel time (224 px, batch 8), where PyTorch has a fused kernel (144 channels
        // at 56 x 56, 3 x 3: 51 ms against 15). Three other forms measured no faster on B0's
        // shapes on 2 cores (same example: one group per channel with the batch as its input
        // channels 57 ms; a Slice, Mul and ReduceSum per kernel tap 57 ms; an im2col by a
        // one-hot grouped Conv, then a batched MatMul 70 ms), and row tiling did not help.
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

