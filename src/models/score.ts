/**
 * Score image files with a model package: read, decode (JPEG shrink-on-load), preprocess with
 * the model's own pipeline, predict in batches. One image that cannot be read or has no retina
 * becomes a per-file failure with its reason; the rest of the batch goes on.
 */
import { isUserError, readFileOrFail, type RgbImage } from '../core/index.ts';
import { decodeFundus, preprocessFundus, resolveConfig, type PreprocessConfig, type QualityReport } from '../preprocess/index.ts';
import { softmaxRows, type FundusModel, type ModelSidecar } from './package.ts';

/**
 * The preprocessing a model was trained with (its sidecar's config) at the model's input size.
 * Kept out of package.ts so that file stays free of Node-only imports for the browser build.
 */
export function modelPreprocessConfig(info: ModelSidecar): PreprocessConfig {
  return resolveConfig({ ...(info.preprocess as Partial<PreprocessConfig>), size: info.input.size });
}

export interface ImageToScore {
  id: string;
  path: string;
}

export interface ScoredImage {
  id: string;
  /** Probability of referable DR (or of the task's positive class). */
  probability: number;
  /** Per-class probabilities for multi-class models (softmax), else undefined. */
  classProbabilities?: number[];
  quality: QualityReport;
}

export interface ScoreFailure {
  id: string;
  path: string;
  reason: string;
}

export interface ScoreOptions {
  batchSize?: number;
  onProgress?: (done: number) => void;
}

async function prepare(model: FundusModel, item: ImageToScore): Promise<{ image: RgbImage; quality: QualityReport }> {
  const bytes = await readFileOrFail(item.path, 'image');
  const size = model.info.input.size;
  const decoded = await decodeFundus(bytes, item.path, size);
  const pre = preprocessFundus(decoded.image, modelPreprocessConfig(model.info), {
    source: item.path,
    decodeFactor: decoded.decodeFactor,
    sourceWidth: decoded.sourceWidth,
    sourceHeight: decoded.sourceHeight,
  });
  return { image: pre.image, quality: pre.quality };
}

/** Score every image; returns the scores in input order and the failures by file. */
export async function scoreImages(
  model: FundusModel,
  items: ImageToScore[],
  opts: ScoreOptions = {},
): Promise<{ scored: ScoredImage[]; failures: ScoreFailure[] }> {
  const batchSize = opts.batchSize ?? 8;
  const scored: ScoredImage[] = [];
  const failures: ScoreFailure[] = [];
  let done = 0;
  // Decoding the next batch overlaps with inference on the current one.
  const load = (from: number) =>
    Promise.all(
      items.slice(from, from + batchSize).map(async (item) => {
        try {
          return { item, ...(await prepare(model, item)) };
        } catch (e) {
          if (!isUserError(e)) throw e;
          return { item, error: e.message };
        }
      }),
    );
  let next = items.length > 0 ? load(0) : null;
  for (let from = 0; next; from += batchSize) {
    const batch = await next;
    next = from + batchSize < items.length ? load(from + batchSize) : null;
    const ok = batch.filter((b): b is { item: ImageToScore; image: RgbImage; quality: QualityReport } => 'image' in b);
    for (const b of batch) if ('error' in b && b.error !== undefined) failures.push({ id: b.item.id, path: b.item.path, reason: b.error });
    if (ok.length > 0) {
      const pred = await model.predict(ok.map((b) => b.image));
      const k = model.info.numClasses;
      const classProbabilities = k > 1 ? softmaxRows(pred.logits, k) : undefined;
      ok.forEach((b, i) => {
        scored.push({ id: b.item.id, probability: pred.probability[i], classProbabilities: classProbabilities?.[i], quality: b.quality });
      });
    }
    done += batch.length;
    opts.onProgress?.(done);
  }
  return { scored, failures };
}
