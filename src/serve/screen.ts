/**
 * Screening one uploaded image: decode (src/core) -> fundus preprocessing with the model's own
 * config (src/preprocess) -> network (src/models) -> decision at the stored operating point,
 * and for /v1/explain the Grad-CAM++ map (src/explain). Runs inside a worker thread
 * (worker.ts); pure apart from the model, so the tests can also call it in-process.
 * Bytes arrive in memory and leave only as the response: nothing is written to disk.
 */
import sharp from 'sharp';
import { decodeImage, encodePng, isUserError, sniffImageFormat, type RgbImage } from '../core/index.ts';
import { modelPreprocessConfig, type FundusModel } from '../models/index.ts';
import { decodeProblem, problem, type HttpProblem } from './errors.ts';
import { explainHeatmap } from './heatmap.ts';
import type { ExplainResponseT } from './schemas.ts';
import { preprocessFundus, type PreprocessResult } from './upstream.ts';

export interface ScreenJob {
  bytes: Uint8Array;
  maxPixels: number;
  /** Add the Grad-CAM++ heat map and the preprocessed image. */
  explain: boolean;
  /** Add the intermediate preprocessing images. */
  steps: boolean;
  /** Epoch ms after which nobody waits for the result: stop at the next stage boundary. */
  deadline: number;
}

/** Everything of the response the worker computes (the server adds request id, model, queue time). */
export type ScreenComputed = Pick<ExplainResponseT, 'probability' | 'referable' | 'threshold' | 'gradable' | 'reasons' | 'quality' | 'image'> & {
  timings: { decodeMs: number; preprocessMs: number; inferMs: number; explainMs?: number };
  preprocessed?: string | null;
  heatmap?: ExplainResponseT['heatmap'];
  steps?: ExplainResponseT['steps'];
};

export type ScreenOutcome = { ok: true; result: ScreenComputed } | { ok: false; problem: HttpProblem };

/** The longest side of the "original" thumbnail returned with ?steps=1. */
const STEP_THUMBNAIL = 512;

export async function pngDataUrl(img: RgbImage): Promise<string> {
  return `data:image/png;base64,${(await encodePng(img)).toString('base64')}`;
}

async function thumbnailDataUrl(img: RgbImage): Promise<string> {
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .resize({ width: STEP_THUMBNAIL, height: STEP_THUMBNAIL, fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const LATE: ScreenOutcome = { ok: false, problem: problem(504, 'screening stopped at its deadline') };

export async function screenImage(model: FundusModel, job: ScreenJob): Promise<ScreenOutcome> {
  const late = (): boolean => Date.now() > job.deadline;
  if (late()) return LATE;
  const t0 = performance.now();
  let img: RgbImage;
  try {
    img = await decodeImage(job.bytes, 'upload', { maxPixels: job.maxPixels });
  } catch (e) {
    if (isUserError(e)) return { ok: false, problem: decodeProblem(e) };
    throw e;
  }
  const image = { format: sniffImageFormat(job.bytes) ?? 'unknown', width: img.width, height: img.height };
  if (late()) return LATE;
  const t1 = performance.now();
  let pre: PreprocessResult;
  try {
    pre = preprocessFundus(img, modelPreprocessConfig(model.info), { keepSteps: job.steps, source: 'upload' });
  } catch (e) {
    if (!isUserError(e)) throw e;
    // A readable image with no retina in it: ungradable, never a negative.
    const reason = e.message.replace(/^upload: /, '');
    const result: ScreenComputed = {
      probability: null, referable: null, threshold: model.info.operatingPoint?.threshold ?? null,
      gradable: false, reasons: [reason], quality: null, image,
      timings: { decodeMs: t1 - t0, preprocessMs: performance.now() - t1, inferMs: 0 },
    };
    if (job.explain) Object.assign(result, { preprocessed: null, heatmap: null, steps: null });
    return { ok: true, result };
  }
  if (late()) return LATE;
  const t2 = performance.now();
  const prediction = await model.predict([pre.image], { features: job.explain });
  const probability = prediction.probability[0];
  const t3 = performance.now();
  const gradable = pre.quality.gradable;
  const op = model.info.operatingPoint;
  const result: ScreenComputed = {
    probability,
    // Ungradable photographs get no decision: a confident "not referable" on a photo a grader
    // would reject is the failure this system must not make.
    referable: gradable && op ? model.decide(probability) : null,
    threshold: op?.threshold ?? null,
    gradable,
    reasons: pre.quality.reasons,
    quality: pre.quality,
    image,
    timings: { decodeMs: t1 - t0, preprocessMs: t2 - t1, inferMs: t3 - t2 },
  };
  if (job.explain) {
    if (late()) return LATE;
    result.steps = null;
    result.preprocessed = await pngDataUrl(pre.image);
    result.heatmap = await explainHeatmap(model, pre);
    result.timings.explainMs = performance.now() - t3;
  }
  if (job.steps && pre.steps) {
    result.steps = {
      original: await thumbnailDataUrl(img),
      mask: await pngDataUrl(pre.steps.mask),
      cropped: await pngDataUrl(pre.steps.cropped),
      ...(pre.steps.clahe ? { clahe: await pngDataUrl(pre.steps.clahe) } : {}),
      ...(pre.steps.green ? { green: await pngDataUrl(pre.steps.green) } : {}),
    };
  }
  return { ok: true, result };
}
