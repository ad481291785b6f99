/**
 * Static shape inference for the ONNX ops the engine builds, differentiates and imports.
 * Rules follow the ONNX operator specification (https://onnx.ai/onnx/operators/), opset 13-17.
 */
import { DrXaiError } from '../core/index.ts';
import { DTYPE_BY_ONNX } from './dtypes.ts';
import type { Node, Shape, TensorData, ValueInfo } from './ir.ts';
import { attrInt, attrInts, intValues } from './attrs.ts';

type Info = Pick<ValueInfo, 'dtype' | 'shape'>;
type ConstOf = (name: string) => TensorData | undefined;

/** Numpy-style broadcast of shapes (ONNX multidirectional broadcasting). */
export function broadcastShapes(...shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) throw new Error(`shapes [${shapes.map((x) => x.join(',')).join('] [')}] do not broadcast`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** Output spatial size of a convolution/pooling window (ONNX Conv, floor mode). */
export function convOutSize(inSize: number, k: number, stride: number, padBegin: number, padEnd: number, dilation: number, ceil = false): number {
  const span = inSize + padBegin + padEnd - dilation * (k - 1) - 1;
  return (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
}

const UNARY_SAME = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Softplus', 'HardSwish', 'HardSigmoid',
  'LeakyRelu', 'Elu', 'Identity', 'Softmax', 'LogSoftmax', 'Clip', 'Erf', 'Floor', 'Ceil', 'Sign', 'Not',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'And', 'Or']);
const COMPARE = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual']);

function need(x: Info | undefined, what: string): Info {
  if (!x) throw new Error(`missing input ${what}`);
  return x;
}

function constInts(name: string | undefined, constOf: ConstOf, what: string): number[] {
  if (!name) throw new Error(`missing ${what}`);
  const t = constOf(name);
  if (!t) throw new Error(`${what} must be a constant (initializer) so shapes are static`);
  return intValues(t);
}

/** Axes of a reduction: the `axes` input (ReduceSum >= 13, all >= 18) or attribute. */
export function reduceAxes(node: Node, rank: number, constOf: ConstOf): number[] {
  let axes = attrInts(node, 'axes', undefined);
  if (!axes && node.inputs[1]) axes = constInts(node.inputs[1], constOf, 'axes');
  if (!axes || axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0)) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** Resolve a Reshape target (0 = copy, -1 = infer) against the input shape. */
export function resolveReshape(inShape: Shape, target: number[]): Shape {
  const total = inShape.reduce((a, b) => a * b, 1);
  const out = target.map((d, i) => (d === 0 ? inShape[i] : d));
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const inferred = out.indexOf(-1);
  if (inferred >= 0) out[inferred] = total / known;
  if (out.reduce((a, b) => a * b, 1) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`cannot reshape [${inShape}] to [${target}]`);
  }
  return out;
}

/** A node's output infos from its input infos (and constant inputs, for shapes given as tensors). */
type ShapeRule = (node: Node, ins: (Info | undefined)[], constOf: ConstOf) => (Info | undefined)[];

/** MaxPool, AveragePool. */
const poolShape: ShapeRule = (node, ins, constOf) => {
  const a = need(ins[0], 'X');
  const r = a.shape.length - 2;
  const k = attrInts(node, 'kernel_shape', undefined)!;
  const s = attrInts(node, 'strides', undefined) ?? new Array(r).fill(1);
  const d = attrInts(node, 'dilations', undefined) ?? new Array(r).fill(1);
  const p = convPads(node, r);
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  const shape = [a.shape[0], a.shape[1], ...a.shape.slice(2).map((n, i) => convOutSize(n, k[i], s[i], p[i], p[i + r], d[i], ceil))];
  return [{ dtype: a.dtype, shape }, { dtype: 'int64', shape }];
};

/** GlobalAveragePool, GlobalMaxPool. */
const globalPoolShape: ShapeRule = (node, ins, constOf) => {
  const a = need(ins[0], 'X');
  return [{ dtype: a.dtype, shape: [a.shape[0], a.shape[1], ...a.shape.slice(2).map(() => 1)] }];
};

/** ReduceSum, ReduceMean, ReduceMax, ReduceSumSquare. */
const reduceShape: ShapeRule = (node, ins, constOf) => {
  const a = need(ins[0], 'X');
  const axes = reduceAxes(node, a.shape.length, constOf);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const shape: number[] = [];
  a.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: a.dtype, shape }];
};

/** Output dtype/shape rules by op (ops with a rule of their own; element-wise ops are the sets above). */
const SHAPE_RULES: Record<string, ShapeRule> = {
  // y = saturate(round(x / scale) + zero_point): the zero point's type, uint8 when omitted.
  QuantizeLinear: (node, ins) => [{ dtype: ins[2]?.dtype ?? 'uint8', shape: [...need(ins[0], 'x').shape] }],
  // y = (x - zero_point) * scale, in the scale's type.
  DequantizeLinear: (node, ins) => [{ dtype: need(ins[1], 'x_scale').dtype, shape: [...need(ins[0], 'x').shape] }],
  Sum: (node, ins, constOf) => {
    const x = ins[0];
    const a = need(x, 'data_0');
    return [{ dtype: a.dtype, shape: broadcastShapes(...ins.map((v) => need(v, 'data').shape)) }];
  },
  Where: (node, ins, constOf) => {
    const x = ins[0];
    const c = need(x, 'condition');
    const a = need(ins[1], 'X');
    const b = need(ins[2], 'Y');
    return [{ dtype: a.dtype, shape: broadcastShapes(c.shape, a.shape, b.shape) }];
  },
  Cast: (node, ins, constOf) => {
    const x = ins[0];
    const to = DTYPE_BY_ONNX[attrInt(node, 'to', 1)];
    if (!to) throw new Error('unsupported Cast target');
    return [{ dtype: to, shape: [...need(x, 'X').shape] }];
  },
  Dropout: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    return [{ dtype: a.dtype, shape: [...a.shape] }, { dtype: 'bool', shape: [...a.shape] }];
  },
  Conv: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const w = need(ins[1], 'W');
    const { r, k, s, d, p, g } = convGeometry(node, w.shape);
    if (a.shape[1] !== w.shape[1] * g) throw new Error(`input has ${a.shape[1]} channels, weight expects ${w.shape[1] * g}`);
    return [{ dtype: a.dtype, shape: [a.shape[0], w.shape[0], ...a.shape.slice(2).map((n, i) => convOutSize(n, k[i], s[i], p[i], p[i + r], d[i]))] }];
  },
  ConvTranspose: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const w = need(ins[1], 'W');
    const { r, k, s, d, p, g } = convGeometry(node, w.shape);
    const op_ = attrInts(node, 'output_padding', undefined) ?? new Array(r).fill(0);
    return [{
      dtype: a.dtype,
      shape: [a.shape[0], w.shape[1] * g, ...a.shape.slice(2).map((n, i) => s[i] * (n - 1) + op_[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[i + r])],
    }];
  },
  MaxPool: poolShape,
  AveragePool: poolShape,
  GlobalAveragePool: globalPoolShape,
  GlobalMaxPool: globalPoolShape,
  BatchNormalization: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const c = [a.shape[1]];
    return [{ dtype: a.dtype, shape: [...a.shape] }, { dtype: a.dtype, shape: c }, { dtype: a.dtype, shape: c }];
  },
  Gemm: (node, ins, constOf) => {
    const x = ins[0];
    const a = need(x, 'A');
    const b = need(ins[1], 'B');
    const m = attrInt(node, 'transA', 0) ? a.shape[1] : a.shape[0];
    const n = attrInt(node, 'transB', 0) ? b.shape[0] : b.shape[1];
    return [{ dtype: a.dtype, shape: [m, n] }];
  },
  MatMul: (node, ins, constOf) => {
    const x = ins[0];
    const a = need(x, 'A');
    const b = need(ins[1], 'B');
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error('MatMul needs rank >= 2 operands');
    const [m, ka] = a.shape.slice(-2);
    const [kb, n] = b.shape.slice(-2);
    if (ka !== kb) throw new Error(`MatMul inner sizes differ (${ka} vs ${kb})`);
    return [{ dtype: a.dtype, shape: [...broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n] }];
  },
  ReduceSum: reduceShape,
  ReduceMean: reduceShape,
  ReduceMax: reduceShape,
  ReduceSumSquare: reduceShape,
  Reshape: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    return [{ dtype: a.dtype, shape: resolveReshape(a.shape, constInts(node.inputs[1], constOf, 'shape')) }];
  },
  Flatten: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const axis = normAxis(attrInt(node, 'axis', 1), a.shape.length);
    const lead = a.shape.slice(0, axis).reduce((p, q) => p * q, 1);
    return [{ dtype: a.dtype, shape: [lead, a.shape.slice(axis).reduce((p, q) => p * q, 1)] }];
  },
  Transpose: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const perm = attrInts(node, 'perm', undefined) ?? a.shape.map((_, i) => a.shape.length - 1 - i);
    return [{ dtype: a.dtype, shape: perm.map((p) => a.shape[p]) }];
  },
  Concat: (node, ins, constOf) => {
    const x = ins[0];
    const first = need(x, 'inputs');
    const axis = normAxis(attrInt(node, 'axis', 0), first.shape.length);
    const shape = [...first.shape];
    shape[axis] = ins.reduce((s, v) => s + need(v, 'input').shape[axis], 0);
    return [{ dtype: first.dtype, shape }];
  },
  Split: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const axis = normAxis(attrInt(node, 'axis', 0), a.shape.length);
    const sizes = node.inputs[1]
      ? constInts(node.inputs[1], constOf, 'split')
      : attrInts(node, 'split', undefined) ?? new Array(node.outputs.length).fill(a.shape[axis] / node.outputs.length);
    return sizes.map((sz) => {
      const shape = [...a.shape];
      shape[axis] = sz;
      return { dtype: a.dtype, shape };
    });
  },
  Slice: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const r = a.shape.length;
    const starts = constInts(node.inputs[1], constOf, 'starts');
    const ends = constInts(node.inputs[2], constOf, 'ends');
    const axes = node.inputs[3] ? constInts(node.inputs[3], constOf, 'axes').map((v) => normAxis(v, r)) : starts.map((_, i) => i);
    const steps = node.inputs[4] ? constInts(node.inputs[4], constOf, 'steps') : starts.map(() => 1);
    const shape = [...a.shape];
    axes.forEach((ax, i) => {
      const dim = a.shape[ax];
      const st = steps[i];
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      let s = starts[i] < 0 ? starts[i] + dim : starts[i];
      let e = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (st > 0) {
        s = clamp(s, 0, dim);
        e = clamp(e, 0, dim);
        shape[ax] = Math.max(0, Math.ceil((e - s) / st));
      } else {
        s = clamp(s, 0, dim - 1);
        e = clamp(e, -1, dim - 1);
        shape[ax] = Math.max(0, Math.ceil((s - e) / -st));
      }
    });
    return [{ dtype: a.dtype, shape }];
  },
  Expand: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    return [{ dtype: a.dtype, shape: broadcastShapes(a.shape, constInts(node.inputs[1], constOf, 'shape')) }];
  },
  Squeeze: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const axes = (node.inputs[1] ? constInts(node.inputs[1], constOf, 'axes') : attrInts(node, 'axes', undefined) ?? a.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((v) => normAxis(v, a.shape.length));
    return [{ dtype: a.dtype, shape: a.shape.filter((_, i) => !axes.includes(i)) }];
  },
  Unsqueeze: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const raw = node.inputs[1] ? constInts(node.inputs[1], constOf, 'axes') : attrInts(node, 'axes', undefined)!;
    const r = a.shape.length + raw.length;
    const axes = raw.map((v) => normAxis(v, r));
    const shape: number[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) shape.push(axes.includes(i) ? 1 : a.shape[j++]);
    return [{ dtype: a.dtype, shape }];
  },
  Pad: (node, ins, constOf) => {
    const a = need(ins[0], 'X');
    const pads = node.inputs[1] ? constInts(node.inputs[1], constOf, 'pads') : attrInts(node, 'pads', undefined)!;
    const r = a.shape.length;
    return [{ dtype: a.dtype, shape: a.shape.map((d, i) => d + pads[i] + pads[i + r]) }];
  },
  ScatterElements: (node, ins, constOf) => {
    const x = ins[0];
    const a = need(x, 'data');
    return [{ dtype: a.dtype, shape: [...a.shape] }];
  },
};

/** Infer output dtype/shape of one node; unsupported ops raise a DrXaiError naming the op. */
export function inferNode(node: Node, ins: (Info | undefined)[], constOf: ConstOf): (Info | undefined)[] {
  const op = node.op;
  const x = ins[0];
  if (UNARY_SAME.has(op)) {
    const a = need(x, 'X');
    return [{ dtype: a.dtype, shape: [...a.shape] }];
  }
  if (BINARY.has(op)) {
    const a = need(x, 'A');
    const b = need(ins[1], 'B');
    return [{ dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape) }];
  }
  if (COMPARE.has(op)) {
    return [{ dtype: 'bool', shape: broadcastShapes(need(x, 'A').shape, need(ins[1], 'B').shape) }];
  }
  const rule = SHAPE_RULES[op];
  if (!rule) throw new DrXaiError(`unsupported ONNX op '${op}' (node '${node.name}')`);
  return rule(node, ins, constOf);
}

/**
 * A Conv / ConvTranspose node's geometry with the ONNX defaults filled in, from its weight's
 * shape [O, I/g, k...]: spatial rank r, kernel k, strides s, dilations d, pads p
 * ([begin..., end...]) and group g. Shared by shape inference and the Conv gradient rule.
 */
export function convGeometry(node: Node, weightShape: Shape): { r: number; k: number[]; s: number[]; d: number[]; p: number[]; g: number } {
  const r = weightShape.length - 2;
  return {
    r,
    k: attrInts(node, 'kernel_shape', undefined) ?? weightShape.slice(2),
    s: attrInts(node, 'strides', undefined) ?? new Array(r).fill(1),
    d: attrInts(node, 'dilations', undefined) ?? new Array(r).fill(1),
    p: convPads(node, r),
    g: attrInt(node, 'group', 1),
  };
}

/** Explicit pads [begin..., end...]; auto_pad other than NOTSET/VALID is refused. */
export function convPads(node: Node, rank: number): number[] {
  const auto = node.attrs.auto_pad && 's' in node.attrs.auto_pad ? node.attrs.auto_pad.s : 'NOTSET';
  if (auto !== 'NOTSET' && auto !== 'VALID') {
    throw new DrXaiError(`${node.op} node '${node.name}' uses auto_pad=${auto}; re-export the model with explicit pads`);
  }
  return attrInts(node, 'pads', undefined) ?? new Array(2 * rank).fill(0);
}
