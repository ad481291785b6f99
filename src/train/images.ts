/**
 * Preprocessed training images through src/preprocess's batch runner: every image is decoded
 * and preprocessed once, on all cores, into a content-addressed cache shared by all runs
 * (key = source bytes + pipeline config + code version), so a second run, a resumed run or the
 * next epoch does no image work; the trainer's ImageStore then keeps the decoded PNGs in memory.
 */
import path from 'node:path';
import { DrXaiError, decodeImage, readFileOrFail } from '../core/index.ts';
import type { Sample } from '../data/index.ts';
import { resolveConfig, runPreprocess, type PreprocessConfig } from '../preprocess/index.ts';
import type { TrainConfig } from './config.ts';
import type { ImageLoader } from './data.ts';

/** The preprocessing config of a training run (reference keys use_circular_mask, use_clahe, use_green ...). */
export function preprocessConfigOf(cfg: TrainConfig): PreprocessConfig {
  return resolveConfig({ size: cfg.img_size, mask: cfg.use_circular_mask, crop: cfg.use_crop, clahe: cfg.use_clahe, green: cfg.use_green, benGraham: cfg.use_ben_graham, squash: cfg.use_squash });
}

export interface PreparedImages {
  load: ImageLoader;
  processed: number;
  cached: number;
  seconds: number;
}

/**
 * Preprocess `samples` into `outDir` (one PNG per image) through the cache in `cacheDir`, then
 * return a loader of the results. Any image that fails stops training with its reason.
 */
export async function preparePreprocessed(samples: readonly Sample[], config: PreprocessConfig, opts: { outDir: string; cacheDir: string; quiet?: boolean }): Promise<PreparedImages> {
  const summary = await runPreprocess(
    samples.map((s) => ({ id: s.id, path: s.path })),
    { out: opts.outDir, cacheDir: opts.cacheDir, config, quiet: opts.quiet },
  );
  const failed = summary.records.filter((r) => r.status === 'failed');
  if (failed.length) {
    const list = failed.slice(0, 3).map((r) => `${r.source}: ${r.error}`).join('; ');
    throw new DrXaiError(`${failed.length} image(s) could not be preprocessed (${list}${failed.length > 3 ? '; ...' : ''}); see ${summary.manifest}`);
  }
  const outputOf = new Map(summary.records.map((r) => [r.id, r.output as string]));
  const load: ImageLoader = async (s) => {
    const file = outputOf.get(s.id);
    if (!file) throw new DrXaiError(`image '${s.id}' was not preprocessed`, { file: s.path });
    return decodeImage(await readFileOrFail(file, 'preprocessed image'), file);
  };
  return { load, processed: summary.processed, cached: summary.cached, seconds: summary.seconds };
}

/** The cache folder shared by every run under `outDir` (runs/.preprocess-cache). */
export function sharedCacheDir(outDir: string): string {
  return path.resolve(outDir, '.preprocess-cache');
}

