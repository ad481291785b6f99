/**
 * Training batches: preprocessed images (read once through the caller's loader, normally the
 * preprocessing cache, then kept in memory so later epochs decode nothing), augmented on the
 * fly, normalised with the model package's `toInputTensor`, with targets for the task.
 */
import { Rng, type RgbImage } from '../core/index.ts';
import { isOrdinal, labelFor, type Task } from '../core/index.ts';
import type { Sample } from '../data/index.ts';
import { toInputTensor, type ModelSidecar } from '../models/index.ts';
import { applyAugment, drawAugment, sampleSeed } from './augment.ts';
import type { AugmentConfig } from './config.ts';

/** Loads the preprocessed (size x size RGB) image of a sample. */
export type ImageLoader = (sample: Sample) => Promise<RgbImage>;

/** Memoised preprocessed images of one split. */
export class ImageStore {
  readonly samples: readonly Sample[];
  private readonly loader: ImageLoader;
  private readonly cache = new Map<number, Promise<RgbImage>>();
  constructor(samples: readonly Sample[], loader: ImageLoader) {
    this.samples = samples;
    this.loader = loader;
  }
  get(index: number): Promise<RgbImage> {
    let p = this.cache.get(index);
    if (!p) {
      p = this.loader(this.samples[index]);
      this.cache.set(index, p);
    }
    return p;
  }
}

/**
 * Targets [N, K]: the 0/1 label for binary tasks; for the grade task one-hot grades (softmax
 * head) or the ordinal head's thresholds, t_k = [grade > k] (grade 2 -> 1, 1, 0, 0).
 */
export function targetsFor(samples: readonly Sample[], task: Task, k: number): Float32Array {
  const t = new Float32Array(samples.length * k);
  const ordinal = isOrdinal(task, k);
  samples.forEach((s, i) => {
    const label = labelFor(s.grade as number, task);
    if (k === 1) t[i] = label;
    else if (ordinal) for (let j = 0; j < Math.min(label, k); j++) t[i * k + j] = 1;
    else t[i * k + label] = 1;
  });
  return t;
}

/**
 * Training data order of an epoch, drawn from (seed, epoch) alone: a permutation of the n images,
 * or, given each image's class, class-balanced sampling: n draws with replacement, each draw a
 * class chosen uniformly and then one of its images uniformly (Kang et al., "Decoupling
 * Representation and Classifier for Long-Tailed Recognition", ICLR 2020, sec. 3, q = 0), so the
 * rare grades 3 and 4 are seen as often as grade 0.
 */
export function epochOrder(n: number, seed: number, epoch: number, classes?: readonly number[]): number[] {
  const rng = new Rng(sampleSeed(seed, epoch, 0x9e3779b9));
  if (!classes) return rng.shuffle(Array.from({ length: n }, (_, i) => i));
  if (classes.length !== n) throw new Error(`epochOrder: ${classes.length} classes for ${n} images`);
  const members = new Map<number, number[]>();
  classes.forEach((c, i) => (members.get(c) ?? members.set(c, []).get(c)!).push(i));
  const groups = [...members.keys()].sort((a, b) => a - b).map((c) => members.get(c)!);
  return Array.from({ length: n }, () => {
    const group = groups[rng.int(groups.length)];
    return group[rng.int(group.length)];
  });
}

export interface Batch {
  image: Float32Array;
  targets: Float32Array;
}

/**
 * Assemble one batch. `augment` present: every image is augmented with parameters drawn from
 * its own (seed, epoch, index) Rng. Indices past the split (padding of the last validation
 * batch) repeat its first image.
 */
export async function makeBatch(
  store: ImageStore,
  indices: number[],
  input: ModelSidecar['input'],
  task: Task,
  outputs: number,
  augment?: { cfg: AugmentConfig; seed: number; epoch: number },
): Promise<Batch> {
  const images = await Promise.all(
    indices.map(async (i) => {
      const img = await store.get(i);
      if (!augment) return img;
      const rng = new Rng(sampleSeed(augment.seed, augment.epoch, i));
      return applyAugment(img, drawAugment(rng, augment.cfg, img.width));
    }),
  );
  return { image: toInputTensor(images, input), targets: targetsFor(indices.map((i) => store.samples[i]), task, outputs) };
}
