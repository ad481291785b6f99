/**
 * One verb for every CAM method, as Captum's `attribute`:
 *     const explainer = await CamExplainer.create(model, { method: 'gradcam++' });
 *     const [a] = await explainer.attribute([image], { target: { kind: 'referable' } });
 *     a.map  // input-size heat map in [0, 1]
 *
 * Where the activations and gradients come from:
 *   - closed form (default when it applies): the target layer is a graph output (the model
 *     package's `features`) followed only by global average pooling and a linear head (head.ts);
 *     one ONNX Runtime forward pass gives A and the logits, g follows from the head weights;
 *   - autodiff: any other layer, by name — src/engine's gradientsWrt builds the graph of
 *     d(seed . logits)/dA, run by ONNX Runtime (one session per batch size, cached).
 * Both give the same g (tests check 1e-5); `gradients: 'autodiff'` forces the general path.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DrXaiError, readFileOrFail, type RgbImage } from '../core/index.ts';
import { createSession, dequantizeQdq, fromOnnxBytes, gradientsWrt, runGraph, type Graph } from '../engine/index.ts';
import { readSidecar, toInputTensor, type FundusModel, type ModelSidecar } from '../models/index.ts';
import { decodeModel, findLinearHead, headGradients, type LinearHead } from './head.ts';
import { camFromLayer, makeCamMethod } from './cam-map.ts';
import type { CamMethod, CamMethodName, CamVariant, LayerTensors } from './methods.ts';
import { constantSeed, REFERABLE_TARGET, targetProbability, targetScore, targetSeed, type CamTarget } from './targets.ts';

export type GradientSource = 'auto' | 'closed-form' | 'autodiff';

/** The method when neither the caller nor the model's sidecar names one (the reference study's). */
export const DEFAULT_CAM_METHOD: CamMethodName = 'gradcam++';

export interface ExplainerOptions {
  /** Default: the sidecar's explain method, else DEFAULT_CAM_METHOD. */
  method?: CamMethodName;
  variant?: CamVariant;
  /** Tensor name of the target layer; default the sidecar's explain layer, else its `features` output. */
  layer?: string;
  gradients?: GradientSource;
  /** ONNX Runtime intra-op threads (default: all cores). */
  threads?: number;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Masked inputs per forward pass for Score-CAM and faithfulness curves (default 16). */
  perturbationBatch?: number;
}

export interface Attribution {
  /** size x size heat map in [0, 1], row-major, aligned with the model input. */
  map: Float32Array;
  size: number;
  /** relu(sum_k w_k A_k) at the layer's resolution, before upsampling and normalisation. */
  lowRes: Float32Array;
  lowResWidth: number;
  lowResHeight: number;
  weights: Float64Array;
  logits: number[];
  /** The explained score S (a logit or the referable log-odds, see targets.ts). */
  score: number;
  probability: number;
}

export interface ForwardScores {
  logits: number[][];
  score: number[];
  probability: number[];
}

/** The layer a package is explained at by default: its sidecar's explain layer, else its features output. */
export function defaultExplainLayer(info: ModelSidecar): string | undefined {
  return info.explain?.layer ?? info.outputs.features;
}

export interface ExplanationGraph {
  graph: Graph;
  seed: string;
  gradient: string;
  layer: string;
}

/**
 * The explanation graph of a model package: its forward graph plus the backward pass from the
 * logits to `layer` (reverse-mode autodiff of src/engine, standard ONNX ops, so ONNX Runtime Web
 * runs it too). Inputs: the image and `seed` (dS/dlogits, targets.ts targetSeed); outputs: the
 * logits, the layer's activation and `gradient` = dS/dA.
 */
export function explanationGraph(onnxBytes: Uint8Array, info: ModelSidecar, layer: string, batch: number, file: string): ExplanationGraph {
  const read = fromOnnxBytes(onnxBytes, { batch, source: path.basename(file) });
  // An int8 package is explained through its dequantized graph (the same weights, no rounding of activations).
  const graph = read.nodes.some((n) => n.op === 'QuantizeLinear') ? dequantizeQdq(read) : read;
  const q = gradientsWrt(graph, info.outputs.logits, [layer]);
  const gradient = q.gradients.get(layer);
  if (!gradient) throw new DrXaiError(`no gradient reaches layer '${layer}' from the logits`, { file });
  return { graph: q.graph, seed: q.seed, gradient, layer };
}

interface GradientGraph extends ExplanationGraph {
  session: ort.InferenceSession;
}

export class CamExplainer {
  readonly info: ModelSidecar;
  readonly layer: string;
  readonly method: CamMethod;
  /** Where g comes from: the head's closed form, or autodiff through the graph. */
  readonly gradientSource: 'closed-form' | 'autodiff';
  private readonly gradientGraphs = new Map<number, GradientGraph>();

  private constructor(
    readonly onnxPath: string,
    private readonly bytes: Uint8Array,
    info: ModelSidecar,
    private readonly session: ort.InferenceSession,
    private readonly head: LinearHead | null,
    layer: string,
    method: CamMethod,
    private readonly opts: ExplainerOptions,
  ) {
    this.info = info;
    this.layer = layer;
    this.method = method;
    this.gradientSource = head ? 'closed-form' : 'autodiff';
  }

  /** Open a model package (a FundusModel or the path of its .onnx) for explanation. */
  static async create(model: FundusModel | string, opts: ExplainerOptions = {}): Promise<CamExplainer> {
    const onnxPath = typeof model === 'string' ? model : model.onnxPath;
    const info = typeof model === 'string' ? await readSidecar(onnxPath) : model.info;
    const bytes = await readFileOrFail(onnxPath, 'model file');
    const proto = decodeModel(bytes);
    if (!proto?.graph) throw new DrXaiError('not an ONNX model', { file: onnxPath });
    const layer = opts.layer ?? defaultExplainLayer(info);
    if (!layer) {
      throw new DrXaiError("the model package names no 'features' output; give the target layer's tensor name (--layer)", { file: onnxPath });
    }
    const outputs = new Set((proto.graph.output ?? []).map((o) => o.name ?? ''));
    const produced = new Set((proto.graph.node ?? []).flatMap((n) => n.output ?? []));
    if (!produced.has(layer)) {
      throw new DrXaiError(`no tensor named '${layer}' in the graph (layer names are ONNX tensor names, e.g. '${info.outputs.features ?? [...produced][0]}')`, { file: onnxPath });
    }
    const source = opts.gradients ?? 'auto';
    let head: LinearHead | null = null;
    if (source !== 'autodiff' && outputs.has(layer)) head = findLinearHead(proto, layer, info.outputs.logits);
    if (source === 'closed-form' && !head) {
      throw new DrXaiError(`layer '${layer}' is not a graph output followed only by global average pooling and a linear head; use the autodiff path`, { file: onnxPath });
    }
    if (head && head.numClasses !== info.numClasses) {
      throw new DrXaiError(`the head has ${head.numClasses} outputs but the sidecar says ${info.numClasses} classes`, { file: onnxPath });
    }
    const session = await createSession(bytes, { threads: opts.threads });
    const method = makeCamMethod(opts.method ?? info.explain?.method ?? DEFAULT_CAM_METHOD, opts.variant ?? 'paper', info.input.size);
    return new CamExplainer(onnxPath, bytes, info, session, head, layer, method, opts);
  }

  get size(): number {
    return this.info.input.size;
  }

  /** Model input (NCHW, normalised as the package says) of preprocessed images. */
  inputTensor(images: RgbImage[]): Float32Array {
    return toInputTensor(images, this.info.input);
  }

  /** Heat maps for preprocessed images (input.size square RGB). */
  async attribute(images: RgbImage[], opts: { target?: CamTarget } = {}): Promise<Attribution[]> {
    const target = opts.target ?? REFERABLE_TARGET;
    const batch = this.opts.batchSize ?? 8;
    const out: Attribution[] = [];
    for (let i = 0; i < images.length; i += batch) {
      const chunk = images.slice(i, i + batch);
      out.push(...(await this.attributeBatch(this.inputTensor(chunk), chunk.length, target)));
    }
    return out;
  }

  /** Heat maps for an already normalised NCHW input tensor of n images. */
  async attributeBatch(input: Float32Array, n: number, target: CamTarget): Promise<Attribution[]> {
    const { size } = this;
    const needGrad = this.method.usesGradients;
    let logits: Float32Array;
    let act: ort.Tensor;
    let grads: Float32Array | undefined;
    if (this.head) {
      const res = await this.session.run({ [this.info.input.name]: this.tensor(input, n) }, [this.info.outputs.logits, this.layer]);
      logits = res[this.info.outputs.logits].data as Float32Array;
      act = res[this.layer];
    } else {
      const k = this.info.numClasses;
      const backward = await this.gradientGraph(n);
      // A seed that depends on the logits needs a forward pass first; a constant one (a
      // single-logit model, a class target) does not, and the gradient graph gives the logits.
      const constant = constantSeed(target, k);
      const first = constant ? null : Float32Array.from((await this.forward(input, n)).logits.flat());
      const seed = new Float32Array(n * k);
      for (let j = 0; j < n; j++) seed.set(first ? targetSeed(this.logitRow(first, j), target, this.info.task) : (constant as Float64Array), j * k);
      const res = await runGraph(backward.session, backward.graph, { [this.info.input.name]: input, [backward.seed]: seed }, first ? [this.layer, backward.gradient] : [this.info.outputs.logits, this.layer, backward.gradient]);
      logits = first ?? (res[this.info.outputs.logits].data as Float32Array);
      act = res[this.layer];
      grads = res[backward.gradient].data as Float32Array;
    }
    const dims = act.dims;
    if (dims.length !== 4) throw new DrXaiError(`layer '${this.layer}' has shape [${dims.join(', ')}]; a CAM needs an (N, C, h, w) activation`, { file: this.onnxPath });
    const [, channels, height, width] = dims;
    const per = channels * height * width;
    const actData = act.data as Float32Array;
    const out: Attribution[] = [];
    for (let j = 0; j < n; j++) {
      const row = this.logitRow(logits, j);
      const t: LayerTensors = { activations: actData.subarray(j * per, (j + 1) * per), channels, height, width };
      if (needGrad) {
        t.gradients = grads ? grads.subarray(j * per, (j + 1) * per) : headGradients(this.head!, targetSeed(row, target, this.info.task), height, width);
      }
      const plane = size * size;
      const x = input.subarray(j * 3 * plane, (j + 1) * 3 * plane);
      const { weights, lowRes, map } = await camFromLayer(this.method, t, size, (masks) => this.maskedScores(x, masks, target));
      out.push({
        map,
        size,
        lowRes,
        lowResWidth: width,
        lowResHeight: height,
        weights,
        logits: row,
        score: targetScore(row, target, this.info.task),
        probability: targetProbability(row, target, this.info.task),
      });
    }
    return out;
  }

  /** Logits, target scores and probabilities of n normalised inputs (batched forward passes). */
  async forward(input: Float32Array, n: number, target: CamTarget = REFERABLE_TARGET): Promise<ForwardScores> {
    const plane = 3 * this.size * this.size;
    const batch = this.opts.perturbationBatch ?? 16;
    const res: ForwardScores = { logits: [], score: [], probability: [] };
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const out = await this.session.run({ [this.info.input.name]: this.tensor(input.subarray(i * plane, (i + m) * plane), m) }, [this.info.outputs.logits]);
      const logits = out[this.info.outputs.logits].data as Float32Array;
      for (let j = 0; j < m; j++) {
        const row = this.logitRow(logits, j);
        res.logits.push(row);
        res.score.push(targetScore(row, target, this.info.task));
        res.probability.push(targetProbability(row, target, this.info.task));
      }
    }
    return res;
  }

  /** Target scores of one normalised input multiplied by each mask (Score-CAM). */
  private async maskedScores(x: Float32Array, masks: Float32Array[], target: CamTarget): Promise<number[]> {
    const plane = this.size * this.size;
    const batch = this.opts.perturbationBatch ?? 16;
    const scores: number[] = [];
    for (let i = 0; i < masks.length; i += batch) {
      const chunk = masks.slice(i, i + batch);
      const input = new Float32Array(chunk.length * 3 * plane);
      chunk.forEach((m, j) => {
        for (let c = 0; c < 3; c++) {
          const src = x.subarray(c * plane, (c + 1) * plane);
          const dst = (j * 3 + c) * plane;
          for (let p = 0; p < plane; p++) input[dst + p] = src[p] * m[p];
        }
      });
      scores.push(...(await this.forward(input, chunk.length, target)).score);
    }
    return scores;
  }

  private logitRow(logits: Float32Array, j: number): number[] {
    const k = this.info.numClasses;
    return Array.from(logits.subarray(j * k, (j + 1) * k));
  }

  private tensor(data: Float32Array, n: number): ort.Tensor {
    const s = this.size;
    return new ort.Tensor('float32', data, [n, 3, s, s]);
  }

  private async gradientGraph(n: number): Promise<GradientGraph> {
    let cached = this.gradientGraphs.get(n);
    if (!cached) {
      const built = explanationGraph(this.bytes, this.info, this.layer, n, this.onnxPath);
      cached = { ...built, session: await createSession(built.graph, { threads: this.opts.threads }) };
      this.gradientGraphs.set(n, cached);
    }
    return cached;
  }

  async release(): Promise<void> {
    await this.session.release();
    for (const g of this.gradientGraphs.values()) await g.session.release();
    this.gradientGraphs.clear();
  }
}
