import { createHash } from 'node:crypto';
import os from 'node:os';
import { decodeImage, isUserError, progressBar, readFileOrFail } from '../core/index.ts';
import type { Sample } from './types.ts';

/** Images whose decoded pixels are identical, under different ids. */
export interface DuplicateGroup {
  /** sha256 (hex) of the decoded image: dimensions, then the raw 8-bit RGB buffer. */
  hash: string;
  /** The ids, sorted; `ids[0]` names the group (the `group` column of a split CSV). */
  ids: string[];
}

export interface DuplicateOptions {
  /** Images decoded at once (sharp decodes on libuv's thread pool, so this is real parallelism). */
  jobs?: number;
  quiet?: boolean;
  /**
   * Called for each image that cannot be decoded, with its one-line reason; the image is then in
   * no group and the scan goes on. Without it, the first such image stops the scan.
   */
  onUnreadable?: (sample: Sample, reason: string) => void;
}

/**
 * Hash of an image's decoded pixels, so the same picture stored twice (APTOS has these, some
 * with different grades) is found even when the files differ (re-encoding, metadata).
 */
export async function pixelHash(file: string): Promise<string> {
  const img = await decodeImage(await readFileOrFail(file, 'image'), file);
  return createHash('sha256').update(`${img.width}x${img.height}x${img.channels}\n`).update(img.data).digest('hex');
}

/** Run `fn` over `items` with at most `jobs` in flight; results in input order. */
async function mapConcurrent<T, R>(items: readonly T[], jobs: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  return out;
}

/**
 * Groups of samples with identical decoded pixels (only groups of two or more), sorted by
 * their first id. Every image is decoded once; a corrupt image stops with its file named unless
 * `onUnreadable` takes it.
 */
export async function findDuplicateGroups(samples: readonly Sample[], opts: DuplicateOptions = {}): Promise<DuplicateGroup[]> {
  // Twice the cores: while one image is read from disk another is decoding.
  const jobs = opts.jobs ?? Math.max(2, 2 * os.availableParallelism());
  const bar = progressBar('hashing images', samples.length, { quiet: opts.quiet });
  let hashes: string[];
  try {
    hashes = await mapConcurrent(samples, jobs, async (s) => {
      let h: string;
      try {
        h = await pixelHash(s.path);
      } catch (e) {
        if (!opts.onUnreadable || !isUserError(e)) throw e;
        opts.onUnreadable(s, e.message);
        h = `unreadable:${s.id}`; // a group of its own
      }
      bar.tick();
      return h;
    });
  } finally {
    bar.stop();
  }
  const byHash = new Map<string, string[]>();
  samples.forEach((s, i) => {
    const list = byHash.get(hashes[i]);
    if (list) list.push(s.id);
    else byHash.set(hashes[i], [s.id]);
  });
  return [...byHash]
    .filter(([, ids]) => ids.length > 1)
    .map(([hash, ids]) => ({ hash, ids: ids.sort() }))
    .sort((a, b) => (a.ids[0] < b.ids[0] ? -1 : a.ids[0] > b.ids[0] ? 1 : 0));
}
