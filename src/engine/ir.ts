/**
 * A small typed graph IR: ONNX's data model (nodes = standard ONNX ops with attributes,
 * initializers, inputs/outputs) with every tensor's dtype and static shape known, so the
 * autodiff can reason about broadcasting and build reshapes from constants.
 *
 * Shapes are concrete: a graph is built for one batch size. The ONNX writer can mark the batch
 * axis symbolic when a model is exported (all our ops keep batch-agnostic forms: Flatten, 0 in
 * Reshape), so the exported file accepts any N.
 */
import { DrXaiError } from '../core/index.ts';
import { inferNode } from './shape.ts';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8';
export type Shape = number[];
export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** A constant tensor (an initializer). `data` is laid out row-major (C order). */
export interface TensorData {
  dtype: DType;
  shape: Shape;
  data: TypedData;
}

/** An ONNX attribute value, tagged with its ONNX kind (ONNX distinguishes INT from FLOAT). */
export type AttrValue =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: TensorData };

/** One ONNX op application. `inputs` may contain '' for an omitted optional input. */
export interface Node {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

/** Type and static shape of a named tensor. */
export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Shape;
}

/**
 * Role of an input that is fed at run time but is not data: dropout / drop-path masks come
 * from the TypeScript Rng (so seeded runs reproduce and resume), and are removed on export.
 */
export interface MaskInput {
  name: string;
  kind: 'dropout' | 'droppath';
  /** Drop probability; the mask holds 0 or 1/(1-p) (inverted dropout, as PyTorch). */
  p: number;
}

export interface Graph {
  name: string;
  /** ONNX default-domain opset the graph is written against. */
  opset: number;
  inputs: ValueInfo[];
  outputs: string[];
  nodes: Node[];
  initializers: Map<string, TensorData>;
  /** dtype/shape of every tensor (inputs, initializers, node outputs). */
  values: Map<string, ValueInfo>;
  masks: MaskInput[];
  /** Anonymous constants made by the builder (shapes, axes, scalars): never parameters. */
  constants: Set<string>;
}

/** The opset our builders and the autodiff emit (ORT >= 1.14 and onnxruntime-web run it). */
export const OPSET = 17;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function emptyGraph(name = 'graph'): Graph {
  return { name, opset: OPSET, inputs: [], outputs: [], nodes: [], initializers: new Map(), values: new Map(), masks: [], constants: new Set() };
}

/** Deep-enough copy: nodes and maps are new, tensor data is shared (treat it as immutable). */
export function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    opset: g.opset,
    inputs: g.inputs.map((v) => ({ ...v, shape: [...v.shape] })),
    outputs: [...g.outputs],
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })),
    initializers: new Map(g.initializers),
    values: new Map(g.values),
    masks: g.masks.map((m) => ({ ...m })),
    constants: new Set(g.constants),
  };
}

export function float32(shape: Shape, data?: ArrayLike<number>): TensorData {
  const n = sizeOf(shape);
  const d = data ? Float32Array.from(data) : new Float32Array(n);
  if (d.length !== n) throw new Error(`float32 tensor of shape [${shape}] needs ${n} values, got ${d.length}`);
  return { dtype: 'float32', shape: [...shape], data: d };
}

export function int64(values: number[], shape: Shape = [values.length]): TensorData {
  return { dtype: 'int64', shape, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

export interface ConvOptions {
  strides?: number[] | number;
  pads?: number[] | number;
  dilations?: number[] | number;
  group?: number;
}

type Attrs = Record<string, AttrValue>;

function spatial(v: number[] | number | undefined, rank: number, dflt: number): number[] {
  if (v === undefined) return new Array(rank).fill(dflt);
  return typeof v === 'number' ? new Array(rank).fill(v) : v;
}

/**
 * Builds a Graph op by op, inferring each new tensor's dtype and shape as it goes, so every
 * later step (more building, autodiff, export) can read `shape(name)`.
 */
export class GraphBuilder {
  readonly graph: Graph;
  private counter = 0;
  private readonly used = new Set<string>();

  constructor(graphOrName: Graph | string = 'graph') {
    this.graph = typeof graphOrName === 'string' ? emptyGraph(graphOrName) : graphOrName;
    for (const k of this.graph.values.keys()) this.used.add(k);
    for (const n of this.graph.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
    }
  }

  /** A name not used yet in this graph, starting with `prefix`. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.used.has(name)) name = `${prefix}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  info(name: string): ValueInfo {
    const v = this.graph.values.get(name);
    if (!v) throw new Error(`unknown tensor '${name}'`);
    return v;
  }
  shape(name: string): Shape {
    return this.info(name).shape;
  }
  dtype(name: string): DType {
    return this.info(name).dtype;
  }
  /** The constant behind `name` when it is an initializer. */
  constValue(name: string): TensorData | undefined {
    return this.graph.initializers.get(name);
  }

  /** Declare a graph input. */
  input(name: string, dtype: DType, shape: Shape): string {
    if (this.graph.values.has(name)) throw new Error(`tensor '${name}' already exists`);
    this.used.add(name);
    const v = { name, dtype, shape: [...shape] };
    this.graph.inputs.push(v);
    this.graph.values.set(name, v);
    return name;
  }

  /** Add a named initializer (a weight or a buffer). */
  initializer(name: string, t: TensorData): string {
    if (this.graph.values.has(name)) throw new Error(`tensor '${name}' already exists`);
    this.used.add(name);
    this.graph.initializers.set(name, t);
    this.graph.values.set(name, { name, dtype: t.dtype, shape: [...t.shape] });
    return name;
  }

  /** An anonymous constant. */
  constant(t: TensorData, prefix = 'const'): string {
    const name = this.initializer(this.fresh(prefix), t);
    this.graph.constants.add(name);
    return name;
  }
  scalar(v: number, dtype: 'float32' | 'float64' = 'float32'): string {
    return this.constant({ dtype, shape: [], data: dtype === 'float32' ? Float32Array.of(v) : Float64Array.of(v) }, 'scalar');
  }
  ints(values: number[]): string {
    return this.constant(int64(values), 'ints');
  }

  /** Mark tensors as graph outputs. */
  output(...names: string[]): void {
    for (const n of names) {
      this.info(n);
      if (!this.graph.outputs.includes(n)) this.graph.outputs.push(n);
    }
  }

  /**
   * Append one node and infer its outputs. `outputs` is a count (fresh names) or explicit
   * names. Returns the output names.
   */
  node(op: string, inputs: string[], attrs: Attrs = {}, outputs: number | string[] = 1, namePrefix?: string): string[] {
    const name = this.fresh(namePrefix ?? op.toLowerCase());
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.fresh(`${name}${outputs > 1 ? `_o${i}` : ''}`)) : outputs;
    for (const o of outs) {
      if (o !== '' && this.graph.values.has(o)) throw new Error(`tensor '${o}' already exists`);
      this.used.add(o);
    }
    const node: Node = { op, name, inputs, outputs: outs, attrs };
    this.appendNode(node);
    return outs;
  }

  /** Append an already-formed node (names must be fresh), inferring its output shapes. */
  appendNode(node: Node): void {
    const ins = node.inputs.map((i) => (i === '' ? undefined : this.info(i)));
    let infos: ({ dtype: DType; shape: Shape } | undefined)[];
    try {
      infos = inferNode(node, ins, (n) => this.graph.initializers.get(n));
    } catch (e) {
      if (e instanceof DrXaiError) throw e;
      throw new DrXaiError(`${node.op} node '${node.name}': ${(e as Error).message}`);
    }
    node.outputs.forEach((o, k) => {
      if (o === '') return;
      const v = infos[k];
      if (!v) throw new Error(`${node.op}: no shape for output ${k}`);
      this.graph.values.set(o, { name: o, dtype: v.dtype, shape: v.shape });
    });
    this.graph.nodes.push(node);
    this.used.add(node.name);
  }

  /** Append a single-output node; `out` names its output (default: a fresh name). */
  op(op: string, inputs: string[], attrs: Attrs = {}, out?: string): string {
    return this.node(op, inputs, attrs, out ? [out] : 1)[0];
  }

  // ---- convenience forms of the ops our models use ----

  conv(x: string, w: string, b: string | undefined, opts: ConvOptions = {}, out?: string): string {
    const r = this.shape(w).length - 2;
    const k = this.shape(w).slice(2);
    const pads = opts.pads === undefined ? new Array(2 * r).fill(0) : typeof opts.pads === 'number' ? new Array(2 * r).fill(opts.pads) : opts.pads;
    return this.op('Conv', b ? [x, w, b] : [x, w], {
      kernel_shape: { ints: k },
      strides: { ints: spatial(opts.strides, r, 1) },
      pads: { ints: pads },
      dilations: { ints: spatial(opts.dilations, r, 1) },
      group: { i: opts.group ?? 1 },
    }, out);
  }
  /** Eval-form BatchNormalization (5 inputs, 1 output); the autodiff switches it to training mode. */
  batchNorm(x: string, scale: string, bias: string, mean: string, variance: string, epsilon = 1e-5, out?: string): string {
    return this.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: { f: epsilon }, momentum: { f: 0.9 } }, out);
  }
  relu(x: string): string {
    return this.op('Relu', [x]);
  }
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  /** SiLU / swish, x * sigmoid(x) (Elfwing et al. 2018), as two standard ops. */
  silu(x: string, out?: string): string {
    return this.op('Mul', [x, this.sigmoid(x)], {}, out);
  }
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  globalAveragePool(x: string): string {
    return this.op('GlobalAveragePool', [x]);
  }
  flatten(x: string, axis = 1): string {
    return this.op('Flatten', [x], { axis: { i: axis } });
  }
  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.ints(shape)]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm: { ints: perm } });
  }
  /** Y = X W^T + b with W in PyTorch Linear layout [out, in]. */
  linear(x: string, w: string, b?: string): string {
    return this.op('Gemm', b ? [x, w, b] : [x, w], { transB: { i: 1 } });
  }
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  reduceSum(x: string, axes: number[], keepdims = true): string {
    return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: { i: keepdims ? 1 : 0 } });
  }
  reduceMean(x: string, axes: number[], keepdims = true): string {
    // ReduceMean takes its axes as an input from opset 18 (an attribute before).
    if (this.graph.opset >= 18) return this.op('ReduceMean', [x, this.ints(axes)], { keepdims: { i: keepdims ? 1 : 0 } });
    return this.op('ReduceMean', [x], { axes: { ints: axes }, keepdims: { i: keepdims ? 1 : 0 } });
  }
  softmax(x: string, axis = -1): string {
    return this.op('Softmax', [x], { axis: { i: axis } });
  }
  logSoftmax(x: string, axis = -1): string {
    return this.op('LogSoftmax', [x], { axis: { i: axis } });
  }
  concat(xs: string[], axis: number): string {
    return this.op('Concat', xs, { axis: { i: axis } });
  }

  /**
   * Multiply by a dropout (`shape` = x's) or drop-path (`shape` = [N,1,1,1]) mask fed at run
   * time; see MaskInput. Export replaces the product by x itself.
   */
  maskedBy(x: string, kind: MaskInput['kind'], p: number, name?: string): string {
    const xs = this.shape(x);
    const shape = kind === 'dropout' ? xs : [xs[0], ...xs.slice(1).map(() => 1)];
    const m = this.input(name ?? this.fresh(`${kind}_mask`), this.dtype(x), shape);
    this.graph.masks.push({ name: m, kind, p });
    return this.op('Mul', [x, m]);
  }
}
