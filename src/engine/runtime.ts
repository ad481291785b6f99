/**
 * ONNX Runtime (onnxruntime-node) as the one executor: sessions over our graphs, tensors in and
 * out as Float32Arrays, and the TrainingSession that feeds weights as inputs and reads back
 * loss, gradients and BatchNormalization batch statistics.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { DrXaiError, Rng } from '../core/index.ts';
import type { BatchNormStats, TrainingGraph } from './training-graph.ts';
import { buildTrainingGraph, liftToInputs, prune } from './training-graph.ts';
import type { Graph, TypedData } from './ir.ts';
import { cloneGraph, sizeOf } from './ir.ts';
import { toOnnxBytes } from './onnx.ts';

export interface RuntimeOptions {
  /** ORT execution providers in preference order; default ['cpu']. 'cuda' needs an ORT build with CUDA. */
  executionProviders?: string[];
  /** Intra-op threads; default: all cores (os.availableParallelism()). */
  threads?: number;
  /** Write ORT's JSON profile with this file prefix (for optimisation work). */
  profilePrefix?: string;
}

/**
 * Session options used everywhere: full graph optimisation, sequential execution with all cores
 * inside each op, ORT's memory arena on and its memory-pattern planning off. Without the arena
 * every intermediate tensor of a training step is a fresh allocation that the kernel fills with
 * page faults (about 100,000 a step for EfficientNet-B0 at 224 px, batch 8); with the arena but
 * without the pattern a step is 10-15% faster (224 px: 4.7 -> 5.2 images/s; 448 px: 1.16 -> 1.33,
 * peak RSS 3.45 -> 4.4 GB), and inference runs as fast as with the pattern (448 px, batch 8:
 * 10.1-10.7 images/s either way) in a quarter less memory (1.00 -> 0.75 GB). The pattern is what
 * cost: with it a training step was slower than with neither (4.2 images/s at 224 px) and took
 * twice the memory (2 cores, AVX2, 2026-12-04).
 */
export function sessionOptions(opts: RuntimeOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: (opts.executionProviders ?? ['cpu']) as ort.InferenceSession.SessionOptions['executionProviders'],
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: false,
    ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
  };
}

/** Open an ORT session on a graph (or ONNX bytes). ORT load errors become DrXaiErrors. */
export async function createSession(model: Graph | Uint8Array, opts: RuntimeOptions = {}): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : toOnnxBytes(model);
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(opts));
  } catch (e) {
    throw new DrXaiError(`ONNX Runtime could not load the model: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Wrap typed data as an ORT tensor of `shape` (dtype from the array type). */
export function toTensor(data: TypedData, shape: number[]): ort.Tensor {
  if (data.length !== sizeOf(shape)) throw new Error(`tensor data has ${data.length} values, shape [${shape}] needs ${sizeOf(shape)}`);
  return new ort.Tensor(data as Float32Array, shape);
}

/** Run a session; feeds are Float32Arrays (shapes from the graph) or ORT tensors. */
export async function runGraph(
  session: ort.InferenceSession,
  graph: Graph,
  feeds: Record<string, TypedData | ort.Tensor>,
  outputs?: string[],
): Promise<Record<string, ort.Tensor>> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const v of graph.inputs) {
    const f = feeds[v.name];
    if (f === undefined) throw new Error(`missing feed for input '${v.name}'`);
    inputs[v.name] = ArrayBuffer.isView(f) ? toTensor(f as TypedData, v.shape) : (f as ort.Tensor);
  }
  return (await session.run(inputs, outputs ?? graph.outputs)) as Record<string, ort.Tensor>;
}

/** Draw a dropout / drop-path mask: 0 with probability p, else 1/(1-p) (inverted dropout). */
export function drawMask(rng: Rng, size: number, p: number): Float32Array {
  const m = new Float32Array(size);
  const keep = 1 / (1 - p);
  for (let i = 0; i < size; i++) m[i] = rng.next() < p ? 0 : keep;
  return m;
}

export interface StepResult {
  loss: number;
  /** Parameter name -> gradient (fresh arrays owned by the caller). */
  grads: Map<string, Float32Array>;
  /** Extra outputs requested at construction (e.g. logits). */
  outputs: Record<string, Float32Array>;
}

export interface TrainingSessionOptions extends RuntimeOptions {
  /** Scalar loss tensor in the forward graph. */
  loss: string;
  /**
   * Parameters to train (initializers of the forward graph). Default: every float initializer
   * except BatchNormalization running statistics.
   */
  params?: string[];
  /** Forward tensors to return from each step (e.g. logits for training accuracy). */
  extraOutputs?: string[];
  /** BatchNormalization running-stat momentum, PyTorch convention (default 0.1). */
  bnMomentum?: number;
  /** 'train' (default): batch statistics, running stats updated; 'eval': frozen BatchNorm (fine-tuning). */
  batchNorm?: 'train' | 'eval';
}

/**
 * Runs training steps of a forward graph on ONNX Runtime. Weights and BatchNormalization
 * buffers live in `state` (Float32Arrays held in TypeScript, initialised from the graph's
 * initializers); each `step` feeds them as inputs and returns the loss and gradients, and
 * updates the running statistics as PyTorch does (momentum 0.1, unbiased running variance).
 * The optimizer is separate (see AdamW / SGD) and updates `state` in place.
 */
export class TrainingSession {
  readonly forward: Graph;
  readonly training: TrainingGraph;
  /** Parameters and buffers by forward-graph initializer name. */
  readonly state: Map<string, Float32Array>;
  readonly params: string[];
  /** Batches seen by the BatchNormalization layers (PyTorch's num_batches_tracked). */
  batchesTracked = 0;
  private readonly session: ort.InferenceSession;
  private readonly bnMomentum: number;
  private readonly opts: TrainingSessionOptions;

  private constructor(forward: Graph, training: TrainingGraph, session: ort.InferenceSession, opts: TrainingSessionOptions) {
    this.forward = forward;
    this.training = training;
    this.session = session;
    this.params = training.params;
    this.bnMomentum = opts.bnMomentum ?? 0.1;
    this.opts = opts;
    this.state = new Map();
    for (const [name, t] of forward.initializers) {
      if (t.dtype === 'float32' && (this.params.includes(name) || isBnBuffer(forward, name))) this.state.set(name, Float32Array.from(t.data as Float32Array));
    }
    for (const p of this.params) if (!this.state.has(p)) throw new DrXaiError(`parameter '${p}' is not a float32 initializer of the model`);
  }

  static async create(forward: Graph, opts: TrainingSessionOptions): Promise<TrainingSession> {
    const params = opts.params ?? defaultParams(forward);
    const training = buildTrainingGraph(forward, { loss: opts.loss, wrt: params, extraOutputs: opts.extraOutputs, batchNorm: opts.batchNorm });
    const session = await createSession(training.graph, opts);
    return new TrainingSession(forward, training, session, opts);
  }

  /** Mask inputs of the graph (dropout / drop-path), filled from `rng` by `step`. */
  get masks() {
    return this.forward.masks;
  }

  /**
   * One forward + backward pass on a batch. `batch` feeds the data inputs (image, targets,
   * weights); masks are drawn from `rng` unless fed. Updates BatchNormalization running stats.
   */
  async step(batch: Record<string, TypedData | ort.Tensor>, rng?: Rng): Promise<StepResult> {
    const g = this.training.graph;
    const feeds: Record<string, TypedData | ort.Tensor> = { ...batch };
    for (const p of this.params) feeds[p] = this.state.get(p)!;
    for (const m of g.masks) {
      if (feeds[m.name]) continue;
      if (!rng) throw new Error(`the model has ${m.kind} masks: pass an Rng to step()`);
      const shape = g.values.get(m.name)!.shape;
      feeds[m.name] = drawMask(rng, sizeOf(shape), m.p);
    }
    const out = await runGraph(this.session, g, feeds);
    const loss = Number((out[this.training.loss].data as Float32Array)[0]);
    const grads = new Map<string, Float32Array>();
    for (const [p, gname] of this.training.gradients) grads.set(p, out[gname].data as Float32Array);
    this.updateRunningStats(this.training.batchNorm, out);
    const outputs: Record<string, Float32Array> = {};
    for (const e of this.training.extraOutputs) outputs[e] = out[e].data as Float32Array;
    return { loss, grads, outputs };
  }

  private updateRunningStats(stats: BatchNormStats[], out: Record<string, ort.Tensor>): void {
    const m = this.bnMomentum;
    for (const s of stats) {
      const mean = out[s.batchMean].data as Float32Array;
      const variance = out[s.batchVar].data as Float32Array;
      const rm = this.state.get(s.runningMean);
      const rv = this.state.get(s.runningVar);
      if (!rm || !rv) continue;
      // PyTorch: running = (1 - momentum) * running + momentum * batch, with the unbiased batch
      // variance (Bessel's correction n/(n-1)) for the running variance.
      const unbias = s.count > 1 ? s.count / (s.count - 1) : 1;
      for (let c = 0; c < rm.length; c++) {
        rm[c] = (1 - m) * rm[c] + m * mean[c];
        rv[c] = (1 - m) * rv[c] + m * variance[c] * unbias;
      }
    }
    if (stats.length) this.batchesTracked++;
  }

  /**
   * Eval-mode forward (BatchNormalization with running statistics, masks off) with the current
   * state, returning the requested forward tensors.
   */
  async evaluate(feeds: Record<string, TypedData | ort.Tensor>, outputs: string[]): Promise<Record<string, Float32Array>> {
    const key = outputs.join('\u0000');
    let ev = this.evalSessions.get(key);
    if (!ev) {
      const g = cloneGraph(this.forward);
      g.outputs = [...outputs];
      liftToInputs(g, [...this.state.keys()].filter((n) => g.initializers.has(n)));
      prune(g);
      ev = { graph: g, session: await createSession(g, this.opts) };
      this.evalSessions.set(key, ev);
    }
    const g = ev.graph;
    const ins: Record<string, TypedData | ort.Tensor> = {};
    for (const v of g.inputs) {
      const mask = g.masks.find((m) => m.name === v.name);
      ins[v.name] = mask ? new Float32Array(sizeOf(v.shape)).fill(1) : this.state.get(v.name) ?? feeds[v.name];
    }
    const out = await runGraph(ev.session, g, ins, outputs);
    const res: Record<string, Float32Array> = {};
    for (const o of outputs) res[o] = out[o].data as Float32Array;
    return res;
  }

  private readonly evalSessions = new Map<string, { graph: Graph; session: ort.InferenceSession }>();

  async release(): Promise<void> {
    await this.session.release();
    for (const ev of this.evalSessions.values()) await ev.session.release();
    this.evalSessions.clear();
  }
}

function isBnBuffer(g: Graph, name: string): boolean {
  return g.nodes.some((n) => n.op === 'BatchNormalization' && (n.inputs[3] === name || n.inputs[4] === name));
}

/** Every float initializer except BatchNormalization running statistics. */
export function defaultParams(g: Graph): string[] {
  const buffers = new Set<string>();
  for (const n of g.nodes) if (n.op === 'BatchNormalization') buffers.add(n.inputs[3]).add(n.inputs[4]);
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  return [...g.initializers]
    .filter(([name, t]) => t.dtype === 'float32' && t.shape.length > 0 && !buffers.has(name) && !g.constants.has(name) && used.has(name))
    .map(([n]) => n);
}
