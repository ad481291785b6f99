/**
 * Preprocessed training images: decode each source image once and run the study's fundus
 * pipeline (src/preprocess) with the run's switches; the trainer's ImageStore keeps the result in
 * memory so later epochs decode nothing.
 */
import { decodeImage, readFileOrFail, type RgbImage } from '../core/index.ts';
import type { Sample } from '../data/index.ts';
import { preprocessFundus, resolveConfig, type PreprocessConfig } from '../preprocess/index.ts';
import type { TrainConfig } from './config.ts';
import type { ImageLoader } from './data.ts';

/** The preprocessing config of a training run (reference keys use_circular_mask, use_clahe, use_green ...). */
export function preprocessConfigOf(cfg: TrainConfig): PreprocessConfig {
  return resolveConfig({ size: cfg.img_size, mask: cfg.use_circular_mask, crop: cfg.use_crop, clahe: cfg.use_clahe, green: cfg.use_green, benGraham: cfg.use_ben_graham });
}

/** Loader: read, decode and preprocess one sample (errors name the file). */
export function preprocessingLoader(config: PreprocessConfig): ImageLoader {
  return async (s: Sample): Promise<RgbImage> => {
    const img = await decodeImage(await readFileOrFail(s.path, 'image'), s.path);
    return preprocessFundus(img, config, { source: s.path }).image;
  };
}
