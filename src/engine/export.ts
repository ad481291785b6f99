/**
 * Export of the inference model: weights as initializers, dropout/drop-path masks removed,
 * BatchNormalization folded into the preceding convolution, named input `image` and outputs
 * `logits` (+ `features` for CAM), dynamic batch axis.
 */
import { DrXaiError } from '../core/index.ts';
import { prune } from './training-graph.ts';
import type { Graph, Node } from './ir.ts';
import { cloneGraph, float32 } from './ir.ts';
import { attrFloat } from './attrs.ts';
import { toOnnxBytes } from './onnx.ts';

export interface ExportOptions {
  /** Forward-graph tensor names of the image input, the logits and (optionally) the CAM features. */
  input: string;
  logits: string;
  features?: string;
  /** metadata_props to store in the ONNX file. */
  metadata?: Record<string, string>;
}

/**
 * Ops an exported classifier may contain: all are in the ONNX Runtime CPU kernels that
 * onnxruntime-web's wasm backend compiles, and in its WebGPU op list.
 */
export const WEB_SAFE_OPS = new Set([
  'Conv', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Mul', 'Add', 'Sub', 'Div', 'GlobalAveragePool',
  'AveragePool', 'MaxPool', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Softmax', 'Identity', 'Concat', 'Transpose',
  'BatchNormalization', 'ReduceMean', 'Tanh', 'LeakyRelu', 'Pad', 'Squeeze', 'Unsqueeze',
]);

/** Rename a tensor everywhere in the graph. */
function rename(g: Graph, from: string, to: string): void {
  if (from === to) return;
  if (g.values.has(to)) throw new DrXaiError(`cannot name '${from}' '${to}': the graph already has a tensor of that name`);
  for (const n of g.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    n.outputs = n.outputs.map((o) => (o === from ? to : o));
  }
  for (const v of g.inputs) if (v.name === from) v.name = to;
  g.outputs = g.outputs.map((o) => (o === from ? to : o));
  const info = g.values.get(from);
  if (info) {
    g.values.delete(from);
    g.values.set(to, { ...info, name: to });
  }
}

/** Replace Mul(x, mask) by x for every dropout / drop-path mask (inference = expectation). */
export function removeMasks(g: Graph): void {
  for (const m of g.masks) {
    for (const node of [...g.nodes]) {
      if (node.op !== 'Mul' || !node.inputs.includes(m.name)) continue;
      const x = node.inputs[0] === m.name ? node.inputs[1] : node.inputs[0];
      g.nodes.splice(g.nodes.indexOf(node), 1);
      const y = node.outputs[0];
      for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === y ? x : i));
      g.outputs = g.outputs.map((o) => (o === y ? x : o));
    }
    g.inputs = g.inputs.filter((v) => v.name !== m.name);
  }
  g.masks = [];
}

/**
 * Fold eval-mode BatchNormalization into the Conv feeding it (Ioffe & Szegedy 2015, sec. 3.2:
 * BN at inference is affine): s = gamma / sqrt(var + eps); W' = W * s[o]; b' = (b - mean) * s + beta.
 * Computed in float64, stored as float32.
 */
export function foldBatchNorm(g: Graph): number {
  const producer = new Map<string, Node>();
  const uses = new Map<string, number>();
  for (const n of g.nodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  }
  let folded = 0;
  for (const bn of [...g.nodes]) {
    if (bn.op !== 'BatchNormalization' || (bn.outputs.length > 1 && bn.outputs[1])) continue;
    const conv = producer.get(bn.inputs[0]);
    if (!conv || conv.op !== 'Conv' || uses.get(bn.inputs[0]) !== 1 || g.outputs.includes(bn.inputs[0])) continue;
    const get = (name: string) => {
      const t = g.initializers.get(name);
      if (!t) return undefined;
      return t.data as Float32Array;
    };
    const w = get(conv.inputs[1]);
    const [gamma, beta, mean, variance] = bn.inputs.slice(1).map(get);
    const oldBias = conv.inputs[2] ? get(conv.inputs[2]) : new Float32Array(gamma?.length ?? 0);
    if (!w || !gamma || !beta || !mean || !variance || !oldBias) continue;
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const wt = g.initializers.get(conv.inputs[1])!;
    const out = wt.shape[0];
    const per = w.length / out;
    const nw = new Float32Array(w.length);
    const nb = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      const s = gamma[o] / Math.sqrt(variance[o] + eps);
      for (let i = 0; i < per; i++) nw[o * per + i] = w[o * per + i] * s;
      nb[o] = (oldBias[o] - mean[o]) * s + beta[o];
    }
    const wName = conv.inputs[1];
    const bName = `${wName.replace(/\.weight$/, '')}.bias_folded`;
    g.initializers.set(wName, float32(wt.shape, nw));
    g.initializers.set(bName, float32([out], nb));
    g.values.set(bName, { name: bName, dtype: 'float32', shape: [out] });
    conv.inputs = [conv.inputs[0], wName, bName];
    const convOut = conv.outputs[0];
    conv.outputs = [bn.outputs[0]];
    g.nodes.splice(g.nodes.indexOf(bn), 1);
    g.values.delete(convOut);
    folded++;
  }
  prune(g);
  return folded;
}

export interface ExportedModel {
  graph: Graph;
  bytes: Uint8Array;
  foldedBatchNorms: number;
}

/**
 * Build the deployable ONNX model from a forward graph and its trained state (parameters and
 * BatchNormalization running statistics by name). Input `image` [N,3,S,S] (N dynamic), outputs
 * `logits` [N,K] and, when asked, `features`.
 */
export function exportInference(forward: Graph, state: Map<string, Float32Array>, opts: ExportOptions): ExportedModel {
  const g = cloneGraph(forward);
  for (const [name, v] of state) {
    const t = g.initializers.get(name);
    if (t) g.initializers.set(name, { ...t, data: Float32Array.from(v) });
  }
  removeMasks(g);
  g.outputs = opts.features ? [opts.logits, opts.features] : [opts.logits];
  prune(g);
  const foldedBatchNorms = foldBatchNorm(g);
  rename(g, opts.input, 'image');
  rename(g, opts.logits, 'logits');
  if (opts.features) rename(g, opts.features, 'features');
  for (const n of g.nodes) {
    if (!WEB_SAFE_OPS.has(n.op)) throw new DrXaiError(`the model uses op '${n.op}' (node '${n.name}'), which the browser runtime may not support`);
  }
  const stray = g.inputs.filter((v) => v.name !== 'image');
  if (stray.length) throw new DrXaiError(`the inference graph still needs inputs ${stray.map((v) => `'${v.name}'`).join(', ')}`);
  return { graph: g, bytes: toOnnxBytes(g, { dynamicBatch: true, metadata: opts.metadata }), foldedBatchNorms };
}
