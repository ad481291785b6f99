/**
 * Reverse-mode automatic differentiation over the IR (Griewank & Walther, "Evaluating
 * Derivatives", 2008, ch. 3): walk the nodes between the differentiated tensors and the seed in
 * reverse topological order, apply each op's vector-Jacobian product, and sum the contributions
 * of tensors used more than once. Every gradient is expressed with standard ONNX ops, so the
 * ordinary inference build of ONNX Runtime executes the training graph (its gradient kernels
 * such as ConvGrad are not in that build).
 */
import { DrXaiError } from '../core/index.ts';
import type { Graph, Node } from './ir.ts';
import type { GraphBuilder } from './ir.ts';
import { floatType, NON_DIFFERENTIABLE, RULES, scalarLike } from './grad-rules.ts';

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

