/**
 * The one function that takes photographs to screening decisions, used by `dr-xai screen`,
 * `evaluate`, the API's workers and (through src/models/decision.ts and src/preprocess, for
 * everything but decoding) the page:
 *
 *   bytes -> decode (DICOM unwrapped, EXIF orientation, JPEG shrink-on-load; src/preprocess)
 *         -> preprocessing with the model's own sidecar config, quality gate
 *         -> network with the sidecar's test-time augmentation (src/models)
 *         -> decision at the stored operating point (src/models/decision.ts)
 *         -> optionally the heat map of the sidecar's explanation (heatmap.ts)
 *
 * A photo whose bytes cannot be decoded is a failure with its reason (DrXaiError); a readable
 * photo with no retina is a screening result that is ungradable, never a negative. Bytes stay in
 * memory: nothing is written anywhere.
 */
import sharp from 'sharp';
import { DrXaiError, isUserError } from '../core/index.ts';
import { decideFromLogits, modelPreprocessConfig, type FundusModel } from '../models/index.ts';
import { decodeFundus, preprocessFundus, PreprocessingStopped, type PreprocessConfig, type PreprocessResult, type QualityReport } from '../preprocess/index.ts';
import { explainHeatmap, pngDataUrl, type HeatmapImages } from './heatmap.ts';

export interface PhotographInput {
  /** Names the photograph in messages (a path as the user gave it, or 'upload'). */
  source: string;
  bytes: Uint8Array;
}

export interface ScreenOptions {
  maxPixels?: number;
  /** Add the heat map and the preprocessed image. */
  explain?: boolean;
  /** Add the intermediate preprocessing images (mask, crop, CLAHE, green). */
  steps?: boolean;
  /** Add a JPEG thumbnail of the preprocessed image, this many px wide (for reports). */
  thumbnail?: number;
  /** Epoch ms after which nobody waits: stop at the next stage boundary with ScreeningStopped. */
  deadline?: number;
  /**
   * Set to non-zero (Atomics.store) when nobody waits any more, e.g. the client went away: the
   * screening stops at the next stage boundary with ScreeningStopped. An Int32Array on a
   * SharedArrayBuffer, so the thread that owns the request can cancel work running in a worker.
   */
  cancel?: Int32Array;
}

export interface Screening {
  /** Probability of referable DR; null when no retina was found (nothing to score). */
  probability: number | null;
  /** Per-grade probabilities of a grade model, else null. */
  classProbabilities: number[] | null;
  /** The grade a grade model predicts (the rule evaluate scores); null when ungradable or for a binary model. */
  predictedGrade: number | null;
  /** Decision at the stored operating point; null when ungradable or when the model has none. */
  referable: boolean | null;
  threshold: number | null;
  gradable: boolean;
  reasons: string[];
  quality: QualityReport | null;
  image: { format: string; width: number; height: number };
  /** A DICOM file's SOP Instance UID. */
  sopInstanceUid?: string;
  timings: { decodeMs: number; preprocessMs: number; inferMs: number; explainMs?: number };
  /** With `explain`: the network's input as a PNG data URL (null without retina) and the heat map. */
  preprocessed?: string | null;
  heatmap?: HeatmapImages | null;
  /** With `steps`. */
  steps?: { original: string; mask: string; cropped: string; clahe?: string; green?: string } | null;
  /** With `thumbnail`: JPEG data URL of the preprocessed image (null without retina). */
  thumbnail?: string | null;
}

/** The screening was stopped at its deadline or cancelled. */
export class ScreeningStopped extends Error {
  constructor() {
    super('screening stopped: nobody waits for it any more');
  }
}

/** The longest side of the "original" thumbnail returned with `steps`. */
const STEP_THUMBNAIL = 512;

async function thumbnailDataUrl(img: { data: Uint8Array; width: number; height: number; channels: number }, width: number, format: 'jpeg' | 'png'): Promise<string> {
  const resized = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 3 } }).resize({ width, height: width, fit: 'inside', withoutEnlargement: true });
  const bytes = await (format === 'jpeg' ? resized.jpeg({ quality: 80 }) : resized.png()).toBuffer();
  return `data:image/${format};base64,${bytes.toString('base64')}`;
}

interface Prepared {
  image: Screening['image'];
  sopInstanceUid?: string;
  pre: PreprocessResult | null;
  /** Why there is no preprocessed image (no retina found). */
  reason?: string;
  original?: { data: Uint8Array; width: number; height: number; channels: number };
  decodeMs: number;
  preprocessMs: number;
}

async function prepare(model: FundusModel, config: PreprocessConfig, photo: PhotographInput, opts: ScreenOptions): Promise<Prepared> {
  const t0 = performance.now();
  const decoded = await decodeFundus(photo.bytes, photo.source, model.info.input.size, { maxPixels: opts.maxPixels });
  checkWanted(opts);
  const t1 = performance.now();
  const image = { format: decoded.format, width: decoded.sourceWidth, height: decoded.sourceHeight };
  const uid = decoded.sopInstanceUid !== undefined ? { sopInstanceUid: decoded.sopInstanceUid } : {};
  const original = opts.steps ? decoded.image : undefined;
  try {
    const pre = preprocessFundus(decoded.image, config, {
      keepSteps: opts.steps,
      source: photo.source,
      decodeFactor: decoded.decodeFactor,
      sourceWidth: decoded.sourceWidth,
      sourceHeight: decoded.sourceHeight,
      stop: () => stopRequested(opts),
    });
    return { image, ...uid, pre, original, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
  } catch (e) {
    if (e instanceof PreprocessingStopped) throw new ScreeningStopped();
    if (!isUserError(e)) throw e;
    // A readable image with no retina in it: ungradable, never a negative.
    const reason = e.message.startsWith(`${photo.source}: `) ? e.message.slice(photo.source.length + 2) : e.message;
    return { image, ...uid, pre: null, reason, original, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
  }
}

/** Cancelled, or past the deadline: checked between stages, and between the preprocessing's steps. */
function stopRequested(opts: ScreenOptions): boolean {
  return (opts.cancel !== undefined && Atomics.load(opts.cancel, 0) !== 0) || (opts.deadline !== undefined && Date.now() > opts.deadline);
}

function checkWanted(opts: ScreenOptions): void {
  if (stopRequested(opts)) throw new ScreeningStopped();
}

/**
 * Screen photographs, batching the network over them: one result per input in input order,
 * either a Screening or the DrXaiError that says why the photo could not be read. Any other
 * error is a bug and is thrown.
 */
export async function screenPhotographs(model: FundusModel, photos: PhotographInput[], opts: ScreenOptions = {}): Promise<(Screening | DrXaiError)[]> {
  checkWanted(opts);
  const config = modelPreprocessConfig(model.info);
  const prepared = await Promise.all(
    photos.map(async (photo) => {
      try {
        return await prepare(model, config, photo, opts);
      } catch (e) {
        if (isUserError(e)) return e;
        throw e;
      }
    }),
  );
  checkWanted(opts);
  const scorable = prepared.filter((p): p is Prepared & { pre: PreprocessResult } => !(p instanceof DrXaiError) && p.pre !== null);
  const t0 = performance.now();
  const prediction = scorable.length > 0 ? await model.predict(scorable.map((p) => p.pre.image)) : null;
  const inferMs = scorable.length > 0 ? (performance.now() - t0) / scorable.length : 0;
  const decisions = prediction ? decideFromLogits(model.info, prediction.logits, scorable.map((p) => p.pre.quality.gradable)) : [];
  const decisionOf = new Map(scorable.map((p, i) => [p, decisions[i]]));
  const out: (Screening | DrXaiError)[] = [];
  for (const p of prepared) {
    if (p instanceof DrXaiError) {
      out.push(p);
      continue;
    }
    const d = decisionOf.get(p as Prepared & { pre: PreprocessResult });
    const threshold = model.info.operatingPoint?.threshold ?? null;
    const s: Screening = {
      probability: d?.probability ?? null,
      classProbabilities: d?.classProbabilities ?? null,
      predictedGrade: d?.predictedGrade ?? null,
      referable: d?.referable ?? null,
      threshold,
      gradable: p.pre?.quality.gradable ?? false,
      reasons: p.pre ? p.pre.quality.reasons : [p.reason ?? 'no retina found'],
      quality: p.pre?.quality ?? null,
      image: p.image,
      ...(p.sopInstanceUid !== undefined ? { sopInstanceUid: p.sopInstanceUid } : {}),
      timings: { decodeMs: p.decodeMs, preprocessMs: p.preprocessMs, inferMs: d ? inferMs : 0 },
    };
    if (opts.explain) {
      checkWanted(opts);
      const t = performance.now();
      s.preprocessed = p.pre ? await pngDataUrl(p.pre.image) : null;
      s.heatmap = p.pre ? await explainHeatmap(model, p.pre) : null;
      s.steps = null;
      s.timings.explainMs = performance.now() - t;
    }
    if (opts.steps && p.pre?.steps && p.original) {
      const st = p.pre.steps;
      s.steps = {
        original: await thumbnailDataUrl(p.original, STEP_THUMBNAIL, 'png'),
        mask: await pngDataUrl(st.mask),
        cropped: await pngDataUrl(st.cropped),
        ...(st.clahe ? { clahe: await pngDataUrl(st.clahe) } : {}),
        ...(st.green ? { green: await pngDataUrl(st.green) } : {}),
      };
    }
    if (opts.thumbnail) s.thumbnail = p.pre ? await thumbnailDataUrl(p.pre.image, opts.thumbnail, 'jpeg') : null;
    out.push(s);
  }
  return out;
}

/** Screen one photograph; throws the DrXaiError that says why it could not be read. */
export async function screenPhotograph(model: FundusModel, photo: PhotographInput, opts: ScreenOptions = {}): Promise<Screening> {
  const [r] = await screenPhotographs(model, [photo], opts);
  if (r instanceof DrXaiError) throw r;
  return r;
}
