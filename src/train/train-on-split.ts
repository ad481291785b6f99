/**
 * The one sequence from a split data set to a model package, shared by `dr-xai train` and the
 * demo: every image of the split is preprocessed once (through the content-addressed cache),
 * then the model is trained on the preprocessed train and validation images.
 */
import type { Sample } from '../data/index.ts';
import { runDir, type TrainConfig } from './config.ts';
import { preparePreprocessed, preprocessConfigOf, type PreparedImages } from './images.ts';
import { train, type TrainOptions, type TrainResult } from './trainer.ts';

export interface SplitData {
  /** Data set name (for the sidecar). */
  name: string;
  train: Sample[];
  val: Sample[];
  /** Images preprocessed with the others but not trained on (a test split the caller scores later). */
  heldOut?: Sample[];
}

export interface TrainOnSplitOptions extends TrainOptions {
  /** The preprocessing cache (sharedCacheDir(out_dir) for runs). */
  cacheDir: string;
  /** Called once the images are ready, before training starts. */
  onPreprocessed?: (images: PreparedImages) => void;
}

export interface TrainOnSplitResult {
  trained: TrainResult;
  /** Loader of every preprocessed image of the split (train, val and held out). */
  images: PreparedImages;
}

export async function trainOnSplit(cfg: TrainConfig, data: SplitData, opts: TrainOnSplitOptions): Promise<TrainOnSplitResult> {
  const { cacheDir, onPreprocessed, ...trainOptions } = opts;
  const preprocess = preprocessConfigOf(cfg);
  const images = await preparePreprocessed([...data.train, ...data.val, ...(data.heldOut ?? [])], preprocess, { outDir: `${runDir(cfg)}/preprocessed`, cacheDir, quiet: opts.quiet });
  onPreprocessed?.(images);
  const trained = await train(cfg, { name: data.name, train: data.train, val: data.val, load: images.load, preprocess: { ...preprocess } }, trainOptions);
  return { trained, images };
}
