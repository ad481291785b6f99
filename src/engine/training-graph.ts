/**
 * Graphs built from a forward graph with backprop (autodiff.ts): the training graph (loss,
 * parameter gradients, training-mode BatchNormalization statistics) and the activation-gradient
 * graph of the CAM explanations; plus pruning and lifting weights to inputs.
 */
import type { Graph, Node } from './ir.ts';
import { GraphBuilder, OPSET, cloneGraph, sizeOf } from './ir.ts';
import { backprop } from './autodiff.ts';

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

