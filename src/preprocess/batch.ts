/**
 * Batch preprocessing behind `dr-xai preprocess`: every image through decodeFundus +
 * preprocessFundus on all cores (a piscina pool of worker threads), `<out>/<id>.png`, `<out>/manifest.csv`,
 * `<out>/preprocess.json`, all written atomically, and a content-addressed cache so that a
 * second run over the same files and settings does no image work.
 *
 * Cache key = sha256(source bytes, pipeline config, shrinkOnLoad, PREPROCESS_CODE_VERSION);
 * an entry is `<cache>/<key>.png` + `<key>.json` (quality, geometry). Bump
 * PREPROCESS_CODE_VERSION whenever a change alters output pixels.
 *
 * Per-file failures (unreadable, corrupt, not an image, too large, 16-bit, grey, transparent,
 * no retina found) are recorded with their one-line reason; the rest of the batch completes.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import sharp from 'sharp';
import { DrXaiError, encodePng, isUserError, progressBar, readFileOrFail, toCsv, workerExecArgv, writeFileAtomic } from '../core/index.ts';
import { decodeFundus } from './decode.ts';
import type { PreprocessGeometry } from './geometry.ts';
import { preprocessFundus, resolveConfig, type PreprocessConfig } from './pipeline.ts';
import { ungradableNoRetina, type QualityReport } from './quality.ts';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Bump when a code change alters any output pixel or report field (invalidates caches). */
export const PREPROCESS_CODE_VERSION = 'preprocess/4'; // 4: retina mask falls back to the lit field of view

export interface BatchItem {
  id: string;
  /** Absolute image path. */
  path: string;
}

export interface BatchOptions {
  out: string;
  config?: Partial<PreprocessConfig>;
  /** Threads working on images (this one + jobs - 1 workers). Default: available CPU cores. */
  jobs?: number;
  /** Cache folder; default `<out>/.cache`. */
  cacheDir?: string;
  /** JPEG DCT-domain downscaled decoding (see decode.ts); default true. */
  shrinkOnLoad?: boolean;
  quiet?: boolean;
  /** Extra fields for preprocess.json (e.g. the data set it came from). */
  provenance?: Record<string, unknown>;
  /** Run on this persistent pool instead of starting `jobs` threads for this batch. */
  pool?: PreprocessPool;
}

export interface BatchRecord {
  id: string;
  source: string;
  /** Output PNG path, null when the image failed. */
  output: string | null;
  status: 'ok' | 'cached' | 'failed';
  error?: string;
  quality?: QualityReport;
  geometry?: PreprocessGeometry;
}

export interface BatchSummary {
  records: BatchRecord[];
  processed: number;
  cached: number;
  failed: number;
  seconds: number;
  manifest: string;
}

/** What one worker task needs (plain data: it crosses the thread boundary). */
export interface TaskInput {
  item: BatchItem;
  output: string;
  cacheDir: string;
  config: PreprocessConfig;
  shrinkOnLoad: boolean;
}

interface CacheEntry {
  quality: QualityReport;
  geometry: PreprocessGeometry;
}

function cacheKey(bytes: Uint8Array, config: PreprocessConfig, shrinkOnLoad: boolean): string {
  return createHash('sha256')
    .update(bytes)
    .update(JSON.stringify({ config, shrinkOnLoad, code: PREPROCESS_CODE_VERSION }))
    .digest('hex');
}

async function readCache(cacheDir: string, key: string): Promise<{ png: Buffer; entry: CacheEntry } | null> {
  try {
    const [png, json] = await Promise.all([fsp.readFile(path.join(cacheDir, `${key}.png`)), fsp.readFile(path.join(cacheDir, `${key}.json`), 'utf8')]);
    return { png, entry: JSON.parse(json) as CacheEntry };
  } catch {
    return null;
  }
}

/** One image, start to finish. Never throws for a user-caused problem: it returns a failed record. */
export async function processOne(task: TaskInput): Promise<BatchRecord> {
  const { item, output, cacheDir, config, shrinkOnLoad } = task;
  const base = { id: item.id, source: item.path };
  try {
    const bytes = await readFileOrFail(item.path, 'image');
    const key = cacheKey(bytes, config, shrinkOnLoad);
    const hit = await readCache(cacheDir, key);
    if (hit) {
      await writeFileAtomic(output, hit.png);
      return { ...base, output, status: 'cached', ...hit.entry };
    }
    const decoded = await decodeFundus(bytes, item.path, config.size, { shrinkOnLoad });
    const result = preprocessFundus(decoded.image, config, {
      source: item.path,
      decodeFactor: decoded.decodeFactor,
      sourceWidth: decoded.sourceWidth,
      sourceHeight: decoded.sourceHeight,
    });
    const png = await encodePng(result.image);
    const entry: CacheEntry = { quality: result.quality, geometry: result.geometry };
    // Each file is written atomically; readCache needs both halves of an entry, so a crash
    // between them leaves a miss, never a wrong hit, and the three writes (each with its
    // fsync) can run at once.
    await Promise.all([
      writeFileAtomic(path.join(cacheDir, `${key}.png`), png),
      writeFileAtomic(path.join(cacheDir, `${key}.json`), JSON.stringify(entry)),
      writeFileAtomic(output, png),
    ]);
    return { ...base, output, status: 'ok', ...entry };
  } catch (e) {
    if (!isUserError(e)) throw e;
    const noRetina = /no retina found/.test(e.message);
    return { ...base, output: null, status: 'failed', error: e.message, quality: noRetina ? ungradableNoRetina() : undefined };
  }
}

/** File-system-safe output name for an id (ids may hold '/', spaces, ...). */
export function outputName(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
  return safe.length ? safe : '_';
}

/**
 * Tasks in flight per worker: while one image waits on I/O (decode and PNG encode run in
 * libvips threads, the atomic writes fsync), the worker's thread computes the next one.
 */
const IN_FLIGHT_PER_WORKER = 2;

/**
 * A pool of preprocessing worker threads on piscina (as the screening pool), persistent for
 * callers that run several batches (the benchmark): the ~1 s each worker spends loading its
 * modules is paid once, and `ready()` resolves when they have (one warm-up task per thread).
 * Pass it as BatchOptions.pool; `close()` when done.
 */
export class PreprocessPool {
  readonly size: number;
  private readonly piscina: Piscina<TaskInput | null, BatchRecord | null>;
  private readonly loaded: Promise<void>;
  constructor(size = os.availableParallelism()) {
    this.size = Math.max(1, Math.floor(size));
    this.piscina = new Piscina({
      filename: new URL('./worker-entry.mjs', import.meta.url).href,
      minThreads: this.size,
      maxThreads: this.size,
      concurrentTasksPerWorker: IN_FLIGHT_PER_WORKER,
      idleTimeout: 2 ** 31 - 1,
      execArgv: workerExecArgv(),
    });
    this.loaded = Promise.all(Array.from({ length: this.size }, () => this.piscina.run(null))).then(() => undefined);
    this.loaded.catch(() => undefined); // reported by ready()/run()
  }
  ready(): Promise<void> {
    return this.loaded;
  }
  async run(tasks: TaskInput[], onDone: (r: BatchRecord) => void): Promise<BatchRecord[]> {
    await this.loaded;
    return Promise.all(
      tasks.map((t) =>
        this.piscina.run(t).then(
          (r) => {
            onDone(r as BatchRecord);
            return r as BatchRecord;
          },
          (e: unknown) => {
            throw new Error(`preprocess worker failed on ${t.item.path}: ${(e as Error).stack ?? String(e)}`);
          },
        ),
      ),
    );
  }
  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** Run `tasks` on this thread (one job) or on a pool of `jobs` worker threads started for this batch. */
async function runTasks(tasks: TaskInput[], jobs: number, onDone: (r: BatchRecord) => void): Promise<BatchRecord[]> {
  if (jobs <= 1 || tasks.length <= 1) {
    const results: BatchRecord[] = [];
    for (const t of tasks) {
      const r = await processOne(t);
      results.push(r);
      onDone(r);
    }
    return results;
  }
  const pool = new PreprocessPool(Math.min(jobs, tasks.length));
  try {
    return await pool.run(tasks, onDone);
  } finally {
    await pool.close();
  }
}

const MANIFEST_COLUMNS = [
  'id', 'source', 'output', 'status', 'error', 'decode_factor', 'source_width', 'source_height',
  'crop_x', 'crop_y', 'crop_width', 'crop_height', 'scale',
  'retina_found', 'retina_fraction', 'mask_solidity', 'exposure_mean', 'dark_fraction', 'saturated_fraction',
  'laplacian_std', 'sharpness', 'gradable', 'reasons',
] as const;

/** Six significant digits for non-integers: a manifest is read by people and spreadsheets. */
const sixDigits = (v: number | undefined): number | undefined => (v === undefined || Number.isInteger(v) ? v : Number(v.toPrecision(6)));

function manifestCsv(records: BatchRecord[]): string {
  const rows = records.map((r) => {
    const q = r.quality;
    const g = r.geometry;
    return [
      r.id, r.source, r.output ?? '', r.status, r.error ?? '', g?.decodeFactor, g?.sourceWidth, g?.sourceHeight,
      g?.crop.x, g?.crop.y, g?.crop.width, g?.crop.height, sixDigits(g?.scale),
      q ? (q.retinaFound ? 1 : 0) : '', sixDigits(q?.retinaFraction), sixDigits(q?.maskSolidity), sixDigits(q?.exposure.mean), sixDigits(q?.exposure.darkFraction), sixDigits(q?.exposure.saturatedFraction),
      sixDigits(q?.blur.laplacianStd), sixDigits(q?.blur.sharpness), q ? (q.gradable ? 1 : 0) : r.status === 'failed' ? 0 : '', q?.reasons.join('; '),
    ];
  });
  return toCsv(MANIFEST_COLUMNS, rows);
}

/**
 * Preprocess `items` into `opts.out`. Returns the per-image records; the caller decides the
 * exit status (failed > 0 -> 1). Throws DrXaiError only for problems with the whole run.
 */
export async function runPreprocess(items: BatchItem[], opts: BatchOptions): Promise<BatchSummary> {
  const t0 = performance.now();
  const config = resolveConfig(opts.config);
  const shrinkOnLoad = opts.shrinkOnLoad ?? true;
  const out = path.resolve(opts.out);
  const cacheDir = path.resolve(opts.cacheDir ?? path.join(out, '.cache'));
  try {
    await fsp.mkdir(out, { recursive: true });
    await fsp.mkdir(cacheDir, { recursive: true });
  } catch (e) {
    throw new DrXaiError(`cannot create output folder (${(e as Error).message})`, { file: out });
  }
  const used = new Map<string, number>();
  const tasks: TaskInput[] = items.map((item) => {
    let name = outputName(item.id);
    const n = used.get(name) ?? 0;
    used.set(name, n + 1);
    if (n > 0) name = `${name}~${n}`;
    return { item, output: path.join(out, `${name}.png`), cacheDir, config, shrinkOnLoad };
  });
  const jobs = Math.max(1, Math.floor(opts.jobs ?? os.availableParallelism()));
  const bar = progressBar('preprocess', tasks.length, { quiet: opts.quiet });
  let records: BatchRecord[];
  try {
    records = opts.pool ? await opts.pool.run(tasks, () => bar.tick()) : await runTasks(tasks, jobs, () => bar.tick());
  } finally {
    bar.stop();
  }
  const manifest = path.join(out, 'manifest.csv');
  await writeFileAtomic(manifest, manifestCsv(records));
  const summary = {
    processed: records.filter((r) => r.status === 'ok').length,
    cached: records.filter((r) => r.status === 'cached').length,
    failed: records.filter((r) => r.status === 'failed').length,
  };
  const versions = { drXai: packageVersion(), node: process.versions.node, sharp: sharp.versions.sharp, vips: sharp.versions.vips };
  await writeFileAtomic(
    path.join(out, 'preprocess.json'),
    `${JSON.stringify({ config, shrinkOnLoad, codeVersion: PREPROCESS_CODE_VERSION, versions, ...opts.provenance, images: records.length, ...summary, failures: records.filter((r) => r.status === 'failed').map((r) => ({ id: r.id, source: r.source, error: r.error })) }, null, 2)}\n`,
  );
  return { records, ...summary, seconds: (performance.now() - t0) / 1000, manifest };
}
