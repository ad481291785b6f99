/**
 * Screening photographs named by path, in batches, reading the next batch while the network runs
 * on the current one: `evaluate` and the single-process `screen` go through here, then through
 * screenPhotographs like every other entry point.
 */
import { isUserError, readFileOrFail } from '../core/index.ts';
import type { FundusModel } from '../models/index.ts';
import { screenPhotographs, type ScreenOptions, type Screening } from './screen.ts';

export interface FileToScreen {
  id: string;
  path: string;
}

export type FileScreening = (FileToScreen & { screening: Screening }) | (FileToScreen & { error: string });

export interface ScreenFilesOptions extends ScreenOptions {
  /** Photographs per network run (default 8). */
  batchSize?: number;
  /** Called after each batch with the results so far. */
  onProgress?: (done: number) => void;
}

/** One result per file, in input order: a screening, or the one-line reason it could not be read. */
export async function screenFiles(model: FundusModel, files: FileToScreen[], opts: ScreenFilesOptions = {}): Promise<FileScreening[]> {
  const batchSize = opts.batchSize ?? 8;
  type Read = { file: FileToScreen; bytes: Uint8Array } | { file: FileToScreen; error: string };
  const read = (from: number): Promise<Read[]> =>
    Promise.all(
      files.slice(from, from + batchSize).map(async (f) => {
        try {
          return { file: f, bytes: new Uint8Array(await readFileOrFail(f.path, 'image')) } as Read;
        } catch (e) {
          if (!isUserError(e)) throw e;
          return { file: f, error: e.message } as Read;
        }
      }),
    );
  const out: FileScreening[] = [];
  let next = files.length > 0 ? read(0) : null;
  for (let from = 0; next; from += batchSize) {
    const batch = await next;
    next = from + batchSize < files.length ? read(from + batchSize) : null;
    const readable = batch.filter((b): b is { file: FileToScreen; bytes: Uint8Array } => 'bytes' in b);
    const results = await screenPhotographs(model, readable.map((b) => ({ source: b.file.path, bytes: b.bytes })), opts);
    const byFile = new Map(readable.map((b, i) => [b.file, results[i]]));
    for (const b of batch) {
      const r = byFile.get(b.file);
      if ('error' in b) out.push({ ...b.file, error: b.error });
      else if (r instanceof Error) out.push({ ...b.file, error: r.message });
      else out.push({ ...b.file, screening: r as Screening });
    }
    opts.onProgress?.(out.length);
  }
  return out;
}
