/**
 * The closed form of CAM gradients for a pooled linear head.
 *
 * When the target layer A (N, K, h, w) reaches the logits only through global average pooling
 * and a linear layer, z_c = sum_k W[c,k] mean_ij A^k_ij + b_c, the gradient of S is constant
 * over space: dS/dA^k_ij = sum_c (dS/dz_c) W[c,k] / (h w). Grad-CAM, Grad-CAM++ and Score-CAM
 * then need only the forward activations and W (for Grad-CAM this is Zhou et al.'s CAM), so no
 * backward pass is run. This file finds that pattern in an ONNX graph,
 *     A -> GlobalAveragePool | ReduceMean(axes 2,3) -> [Flatten | Reshape | Squeeze | Identity]*
 *       -> Gemm | MatMul [-> Add bias] -> logits
 * and reads W from the initializers with onnx-proto. Anything else returns null (the caller
 * uses the general autodiff path of src/engine).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface LinearHead {
  /** W laid out (numClasses, K): dz_c / d(pooled feature k). */
  weight: Float64Array;
  numClasses: number;
  channels: number;
}

type NodeP = onnxProto.onnx.INodeProto;
type TensorP = onnxProto.onnx.ITensorProto;

function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function floatsOf(t: TensorP): Float64Array | null {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) return null;
  if (t.rawData && t.rawData.length) {
    const bytes = new Uint8Array(t.rawData.length);
    bytes.set(t.rawData);
    return Float64Array.from(new Float32Array(bytes.buffer));
  }
  return Float64Array.from(t.floatData ?? []);
}

function attr(node: NodeP, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function intAttr(node: NodeP, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? num(a.i) : dflt;
}

function intsAttr(node: NodeP, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map(num) : undefined;
}

/** Parse ONNX bytes once; null when they are not a model (the caller reports that elsewhere). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto | null {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The pooled linear head from `layer` to `logits`, or null when the graph has another shape
 * between them. Constant nodes count as initializers.
 */
export function findLinearHead(model: onnxProto.onnx.ModelProto, layer: string, logits: string): LinearHead | null {
  const g = model.graph;
  if (!g) return null;
  const nodes = g.node ?? [];
  const consts = new Map<string, TensorP>();
  for (const t of g.initializer ?? []) consts.set(t.name ?? '', t);
  for (const n of nodes) {
    if (n.opType === 'Constant' && attr(n, 'value')?.t) consts.set(n.output?.[0] ?? '', attr(n, 'value')!.t!);
  }
  const consumers = (name: string) => nodes.filter((n) => (n.input ?? []).includes(name));
  const only = (name: string): NodeP | null => {
    const c = consumers(name);
    return c.length === 1 ? c[0] : null;
  };
  // 1. global average pooling over the spatial axes
  const pool = only(layer);
  if (!pool) return null;
  if (pool.opType === 'ReduceMean') {
    let axes = intsAttr(pool, 'axes');
    if (!axes && pool.input?.[1]) {
      const t = consts.get(pool.input[1]);
      axes = t ? Array.from(t.int64Data ?? []).map(num) : undefined;
      if (t?.rawData?.length) axes = Array.from(new BigInt64Array(Uint8Array.from(t.rawData).buffer), Number);
    }
    const sorted = (axes ?? []).map((a) => (a < 0 ? a + 4 : a)).sort();
    if (sorted.length !== 2 || sorted[0] !== 2 || sorted[1] !== 3) return null;
  } else if (pool.opType !== 'GlobalAveragePool') return null;
  // 2. shape-only ops
  let cur = pool.output?.[0] ?? '';
  let node = only(cur);
  while (node && ['Flatten', 'Reshape', 'Squeeze', 'Identity', 'Dropout'].includes(node.opType ?? '')) {
    if (node.opType === 'Flatten' && intAttr(node, 'axis', 1) !== 1) return null;
    cur = node.output?.[0] ?? '';
    node = only(cur);
  }
  if (!node) return null;
  // 3. the linear layer
  let weight: Float64Array | null = null;
  let numClasses = 0;
  let channels = 0;
  if (node.opType === 'Gemm') {
    if (node.input?.[0] !== cur || intAttr(node, 'transA', 0) !== 0) return null;
    const wt = consts.get(node.input?.[1] ?? '');
    const data = wt ? floatsOf(wt) : null;
    const dims = (wt?.dims ?? []).map(num);
    if (!data || dims.length !== 2) return null;
    const alphaAttr = attr(node, 'alpha');
    const alpha = alphaAttr ? alphaAttr.f ?? 1 : 1;
    const transB = intAttr(node, 'transB', 0) === 1;
    [numClasses, channels] = transB ? [dims[0], dims[1]] : [dims[1], dims[0]];
    weight = new Float64Array(numClasses * channels);
    for (let c = 0; c < numClasses; c++) {
      for (let k = 0; k < channels; k++) weight[c * channels + k] = alpha * (transB ? data[c * channels + k] : data[k * numClasses + c]);
    }
  } else if (node.opType === 'MatMul') {
    if (node.input?.[0] !== cur) return null;
    const wt = consts.get(node.input?.[1] ?? '');
    const data = wt ? floatsOf(wt) : null;
    const dims = (wt?.dims ?? []).map(num);
    if (!data || dims.length !== 2) return null;
    [channels, numClasses] = dims;
    weight = new Float64Array(numClasses * channels);
    for (let c = 0; c < numClasses; c++) for (let k = 0; k < channels; k++) weight[c * channels + k] = data[k * numClasses + c];
  } else return null;
  let out = node.output?.[0] ?? '';
  if (out !== logits) {
    // an optional bias Add (constant operand) straight into the logits
    const add = only(out);
    if (!add || add.opType !== 'Add' || add.output?.[0] !== logits) return null;
    const other = (add.input ?? []).find((i) => i !== out);
    if (!other || !consts.has(other)) return null;
    out = logits;
  }
  return { weight, numClasses, channels };
}

/** dS/dA for one image under a linear head: g_k = sum_c seed_c W[c,k] / (h w), constant over space. */
export function headGradients(head: LinearHead, seed: ArrayLike<number>, height: number, width: number): Float32Array {
  const plane = height * width;
  const g = new Float32Array(head.channels * plane);
  for (let k = 0; k < head.channels; k++) {
    let s = 0;
    for (let c = 0; c < head.numClasses; c++) s += seed[c] * head.weight[c * head.channels + k];
    g.fill(s / plane, k * plane, (k + 1) * plane);
  }
  return g;
}
