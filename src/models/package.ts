/**
 * The model package: one ONNX file (the inference graph) plus a JSON sidecar next to it
 * (`model.onnx` + `model.json`). The sidecar carries everything needed to use the weights
 * correctly — input size, mean/std, the preprocessing that produced the training images, the
 * label task and the operating point chosen on validation — in the manner of timm's pretrained
 * configs, where these facts travel with the weights instead of living in user code.
 *
 * Use it like tfjs-models: `const model = await loadModel(path)` then `await model.predict(...)`.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import * as ort from 'onnxruntime-node';
import { DrXaiError, GRADE_HEADS, outputsFor, positiveProbability, readFileOrFail, writeFileAtomic, type RgbImage } from '../core/index.ts';

export const MODEL_FORMAT = 'dr-xai-model/1';

export const OperatingPointSchema = z.object({
  /** Decision rule: probability >= threshold is "referable". */
  threshold: z.number().min(0).max(1),
  targetSpecificity: z.number().min(0).max(1),
  /** 'constrained': max sensitivity s.t. specificity >= target; 'conservative': s.t. its Wilson 95% lower bound >= target; 'closest': the reference study's rule. */
  mode: z.enum(['constrained', 'closest', 'conservative']),
  chosenOn: z.string(),
  /** How the threshold was chosen, when more than one split's scores: e.g. the cross-validation behind it. */
  protocol: z.string().optional(),
  sensitivity: z.number().optional(),
  specificity: z.number().optional(),
  /**
   * On the predictions it was chosen on: the images of each true grade and how many the threshold
   * refers (src/evaluate referralByGrade), so that a reader sees which grades its errors are.
   */
  referralByGrade: z.array(z.object({ grade: z.number().int().min(0).max(4), n: z.number().int().min(0), referred: z.number().int().min(0) })).optional(),
});
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;

export const ModelSidecarSchema = z.object({
  format: z.literal(MODEL_FORMAT),
  /** Registry name of the architecture, e.g. 'efficientnet_b0'. */
  name: z.string().min(1),
  version: z.string().default('0'),
  task: z.enum(['referable', 'any-dr', 'grade']),
  numClasses: z.number().int().positive(),
  input: z.object({
    name: z.string().default('image'),
    size: z.number().int().positive(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
  outputs: z.object({
    logits: z.string().default('logits'),
    /** Activation of the CAM target layer (N,C,h,w), present when the graph exports it. */
    features: z.string().optional(),
  }),
  /** The preprocessing config (src/preprocess) applied to every image before the model. */
  preprocess: z.record(z.string(), z.unknown()),
  /**
   * Test-time augmentation: flipped views run with each image and their logits averaged with the
   * original's (fundus photographs have no preferred left-right or up-down orientation; the
   * training augmentation flips both ways). Empty or absent: the image alone.
   */
  tta: z.array(z.enum(['hflip', 'vflip', 'hvflip'])).optional(),
  /** Default explanation: the CAM target layer (an ONNX tensor name), the method, and how they were chosen. */
  explain: z.object({ layer: z.string().min(1), method: z.enum(['gradcam++', 'gradcam', 'scorecam']).optional(), chosenBy: z.string().optional() }).optional(),
  operatingPoint: OperatingPointSchema.optional(),
  /** Present when the weights were quantized (`dr-xai quantize`): how, on what, and from which float package. */
  quantization: z
    .object({
      /** e.g. 'static QDQ: int8 weights per output channel, uint8 activations per tensor (min-max)'. */
      scheme: z.string(),
      weightBits: z.number().int().min(2).max(8),
      activationBits: z.number().int().min(2).max(8),
      biasCorrection: z.boolean(),
      calibration: z.object({ images: z.number().int().positive(), source: z.string() }),
      from: z.object({ file: z.string(), sha256: z.string() }),
    })
    .optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  data: z
    .object({ name: z.string(), hash: z.string().optional(), nTrain: z.number().optional(), nVal: z.number().optional() })
    .optional(),
  createdAt: z.string().optional(),
  notes: z.string().optional(),
});
export type ModelSidecar = z.infer<typeof ModelSidecarSchema>;

/** The sidecar of `x.onnx` is `x.json`. */
export function sidecarPath(onnxPath: string): string {
  return onnxPath.replace(/\.onnx$/i, '') + '.json';
}

/** Write a model package (ONNX bytes + sidecar), each file atomically. */
export async function saveModel(onnxPath: string, onnxBytes: Uint8Array, sidecar: ModelSidecar): Promise<void> {
  const checked = ModelSidecarSchema.parse(sidecar);
  await writeFileAtomic(onnxPath, onnxBytes);
  await writeSidecar(onnxPath, checked);
}

/** Replace the sidecar of an existing package (validated, atomic), e.g. with a new operating point. */
export async function writeSidecar(onnxPath: string, sidecar: ModelSidecar): Promise<void> {
  await writeFileAtomic(sidecarPath(onnxPath), JSON.stringify(ModelSidecarSchema.parse(sidecar), null, 2) + '\n');
}

/** Read and validate a sidecar; one line naming the file and the first bad field on error. */
export async function readSidecar(onnxPath: string): Promise<ModelSidecar> {
  // A mistyped --model is named as the model, not as its missing sidecar.
  if (!existsSync(onnxPath)) throw new DrXaiError('model file not found', { file: onnxPath });
  const file = sidecarPath(onnxPath);
  const text = (await readFileOrFail(file, 'model sidecar (JSON next to the .onnx)')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DrXaiError(`not valid JSON (${(e as Error).message})`, { file });
  }
  const parsed = ModelSidecarSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DrXaiError(`invalid model sidecar: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { file });
  }
  const { task, numClasses } = parsed.data;
  if (task === 'grade' && !GRADE_HEADS.some((h) => outputsFor(task, h) === numClasses)) {
    throw new DrXaiError(`invalid model sidecar: numClasses: a grade model has ${GRADE_HEADS.map((h) => `${outputsFor(task, h)} (${h})`).join(' or ')} outputs, not ${numClasses}`, { file });
  }
  return parsed.data;
}

/**
 * Model input from preprocessed images: NCHW float32, (pixel/255 - mean)/std per channel.
 * Every image must already be input.size x input.size RGB (the preprocessing produces that).
 */
export function toInputTensor(images: RgbImage[], input: ModelSidecar['input']): Float32Array {
  const { size, mean, std } = input;
  const plane = size * size;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    if (img.width !== size || img.height !== size || img.channels !== 3) {
      throw new DrXaiError(`model expects ${size}x${size} RGB input, got ${img.width}x${img.height}x${img.channels}`);
    }
    const base = n * 3 * plane;
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * std[c]);
      const shift = mean[c] / std[c];
      const dst = base + c * plane;
      for (let i = 0; i < plane; i++) out[dst + i] = img.data[i * 3 + c] * scale - shift;
    }
  });
  return out;
}

export type TtaView = NonNullable<ModelSidecar['tta']>[number];

/**
 * The batch of model inputs for test-time augmentation: the N images of `input` (NCHW, size x
 * size), then the same N flipped for each view in order (N * (1 + views) images in all), so one
 * session run scores every view.
 */
export function ttaBatch(input: Float32Array, n: number, size: number, views: readonly TtaView[]): Float32Array {
  if (views.length === 0) return input;
  const image = 3 * size * size;
  const out = new Float32Array(input.length * (1 + views.length));
  out.set(input, 0);
  views.forEach((view, v) => {
    const h = view === 'hflip' || view === 'hvflip';
    const vert = view === 'vflip' || view === 'hvflip';
    const base = (v + 1) * n * image;
    for (let p = 0; p < n * 3; p++) {
      const plane = p * size * size;
      for (let y = 0; y < size; y++) {
        const src = plane + (vert ? size - 1 - y : y) * size;
        const dst = base + plane + y * size;
        if (h) for (let x = 0; x < size; x++) out[dst + x] = input[src + size - 1 - x];
        else out.set(input.subarray(src, src + size), dst);
      }
    }
  });
  return out;
}

/** Mean over the views of ttaBatch's logits ((1 + views) * N x k) -> N x k. */
export function meanOverViews(logits: ArrayLike<number>, n: number, k: number, views: number): Float32Array {
  // A graph whose logits are not numClasses wide would otherwise mix one image's logits into the next's
  // (FundusModel.load checks the width from the metadata; the page only sees the output).
  if (logits.length !== (views + 1) * n * k) throw new Error(`the model returned ${logits.length} logits for ${views + 1} view(s) of ${n} image(s); expected ${k} per image`);
  const out = new Float32Array(n * k);
  for (let v = 0; v <= views; v++) for (let i = 0; i < n * k; i++) out[i] += logits[v * n * k + i];
  for (let i = 0; i < n * k; i++) out[i] /= views + 1;
  return out;
}

export interface Prediction {
  /** Raw logits, numClasses per image. */
  logits: Float32Array;
  /** Probability of referable DR (or of the positive class), one per image. */
  probability: number[];
  /** CAM target activation (N,C,h,w) when the model exports it. */
  features?: { data: Float32Array; dims: readonly number[] };
}

export interface LoadOptions {
  /** ONNX Runtime execution providers, in order of preference (default ['cpu']). */
  executionProviders?: string[];
  intraOpNumThreads?: number;
}

/** A loaded model package: the ONNX Runtime session plus its sidecar. */
export class FundusModel {
  readonly info: ModelSidecar;
  readonly onnxPath: string;
  private readonly session: ort.InferenceSession;

  private constructor(onnxPath: string, info: ModelSidecar, session: ort.InferenceSession) {
    this.onnxPath = onnxPath;
    this.info = info;
    this.session = session;
  }

  static async load(onnxPath: string, opts: LoadOptions = {}): Promise<FundusModel> {
    const info = await readSidecar(onnxPath);
    const bytes = await readFileOrFail(onnxPath, 'model file');
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: opts.executionProviders ?? ['cpu'],
        ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
        graphOptimizationLevel: 'all',
      });
    } catch (e) {
      throw new DrXaiError(`not a loadable ONNX model (${(e as Error).message.split('\n')[0]})`, { file: onnxPath });
    }
    for (const name of [info.outputs.logits, ...(info.outputs.features ? [info.outputs.features] : [])]) {
      if (!session.outputNames.includes(name)) {
        throw new DrXaiError(`the sidecar names output '${name}' but the graph has ${session.outputNames.join(', ')}`, { file: onnxPath });
      }
    }
    // A sidecar whose class count differs from the graph's would read the logits of one image as
    // another's (an ordinal grade head has 4, a softmax 5), so the two must agree.
    const logitsShape = session.outputMetadata.find((m) => m.name === info.outputs.logits);
    const perImage = logitsShape?.isTensor ? logitsShape.shape[logitsShape.shape.length - 1] : undefined;
    if (typeof perImage === 'number' && perImage !== info.numClasses) {
      throw new DrXaiError(`the graph's '${info.outputs.logits}' is [N, ${perImage}] but the sidecar says numClasses ${info.numClasses}`, { file: onnxPath });
    }
    if (!session.inputNames.includes(info.input.name)) {
      throw new DrXaiError(`the sidecar names input '${info.input.name}' but the graph has ${session.inputNames.join(', ')}`, { file: onnxPath });
    }
    return new FundusModel(onnxPath, info, session);
  }

  /** Display name: file stem plus architecture. */
  get displayName(): string {
    return `${this.onnxPath.split(/[\\/]/).pop()!.replace(/\.onnx$/i, '')} (${this.info.name})`;
  }

  /** Run preprocessed images (input.size square RGB) through the network. */
  async predict(images: RgbImage[], opts: { features?: boolean } = {}): Promise<Prediction> {
    const { size } = this.info.input;
    const n = images.length;
    const views = this.info.tta ?? [];
    const batch = ttaBatch(toInputTensor(images, this.info.input), n, size, views);
    const input = new ort.Tensor('float32', batch, [n * (1 + views.length), 3, size, size]);
    const wantFeatures = opts.features === true && this.info.outputs.features !== undefined;
    const fetches = [this.info.outputs.logits, ...(wantFeatures ? [this.info.outputs.features as string] : [])];
    const out = await this.session.run({ [this.info.input.name]: input }, fetches);
    const logits = meanOverViews(out[this.info.outputs.logits].data as Float32Array, n, this.info.numClasses, views.length);
    const prediction: Prediction = {
      logits,
      probability: positiveProbability(logits, this.info.task, this.info.numClasses),
    };
    if (wantFeatures) {
      // Heat maps explain the photograph as given: the features of the unflipped view.
      const f = out[this.info.outputs.features as string];
      const [, c, h, w] = f.dims;
      prediction.features = { data: (f.data as Float32Array).subarray(0, n * c * h * w), dims: [n, c, h, w] };
    }
    return prediction;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** tfjs-models style entry point: `const model = await loadModel('model.onnx')`. */
export function loadModel(onnxPath: string, opts?: LoadOptions): Promise<FundusModel> {
  return FundusModel.load(onnxPath, opts);
}
