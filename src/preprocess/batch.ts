/**
 * Batch preprocessing behind `dr-xai preprocess`: every image through decodeFundus +
 * preprocessFundus on all cores (worker_threads), `<out>/<id>.png`, `<out>/manifest.csv`,
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
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { DrXaiError, encodePng, isUserError, progressBar, readFileOrFail, toCsv, writeFileAtomic } from '../core/index.ts';
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
 * The worker's entry. Running from TypeScript sources (tsx), a worker thread does not inherit
 * the tsx loader, so it starts from a tiny ES-module bootstrap that registers tsx's hooks and
 * then imports worker.ts; from compiled JavaScript it would load worker.js directly.
 */
function newWorker(): Worker {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { execArgv: [] });
}

/** A worker's replies: `ready` once its modules are loaded, then one `record` (or `error`) per task `i`. */
type WorkerReply = { ready: true } | { i: number; record: BatchRecord } | { i: number; error: string };

/**
 * Tasks in flight per worker: while one image waits on I/O (decode and PNG encode run in
 * libvips threads, the atomic writes fsync), the worker's thread computes the next one.
 */
const IN_FLIGHT_PER_WORKER = 2;

/** Feed `tasks` (shared queue, index `queue.next`) to one worker until the queue is empty. */
function drainInto(w: Worker, tasks: TaskInput[], queue: { next: number }, results: BatchRecord[], onDone: (r: BatchRecord) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    let failed = false;
    const feed = () => {
      while (inFlight < IN_FLIGHT_PER_WORKER && queue.next < tasks.length) {
        const i = queue.next++;
        inFlight++;
        w.postMessage({ i, task: tasks[i] });
      }
      if (inFlight === 0) finish(resolve);
    };
    const onMessage = (msg: WorkerReply) => {
      if ('ready' in msg || failed) return;
      inFlight--;
      if ('error' in msg) {
        failed = true;
        return finish(() => reject(new Error(`preprocess worker failed on ${tasks[msg.i].item.path}: ${msg.error}`)));
      }
      onDone((results[msg.i] = msg.record));
      feed();
    };
    const onError = (e: Error) => finish(() => reject(e));
    const onExit = (code: number) => finish(() => reject(new Error(`preprocess worker exited with code ${code}`)));
    const finish = (then: () => void) => {
      w.off('message', onMessage).off('error', onError).off('exit', onExit);
      then();
    };
    w.on('message', onMessage).on('error', onError).on('exit', onExit);
    feed();
  });
}

/**
 * A persistent pool of preprocessing worker threads, for callers that run several batches (the
 * benchmark, a server): the ~1 s each worker spends loading its modules is paid once, and
 * `ready()` resolves when every worker has loaded them. Pass it as BatchOptions.pool; `close()`
 * when done. One batch at a time.
 */
export class PreprocessPool {
  readonly size: number;
  private readonly workers: Worker[];
  private readonly loaded: Promise<void>;
  constructor(size = os.availableParallelism()) {
    this.size = Math.max(1, Math.floor(size));
    this.workers = Array.from({ length: this.size }, () => newWorker());
    this.loaded = Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const onMessage = (msg: WorkerReply) => {
              if (!('ready' in msg)) return;
              w.off('message', onMessage).off('error', reject);
              resolve();
            };
            w.on('message', onMessage).on('error', reject);
          }),
      ),
    ).then(() => undefined);
    this.loaded.catch(() => undefined); // reported by ready()/run()
  }
  ready(): Promise<void> {
    return this.loaded;
  }
  async run(tasks: TaskInput[], onDone: (r: BatchRecord) => void): Promise<BatchRecord[]> {
    await this.loaded;
    const results: BatchRecord[] = new Array(tasks.length);
    const queue = { next: 0 };
    await Promise.all(this.workers.map((w) => drainInto(w, tasks, queue, results, onDone)));
    return results;
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Run `tasks` on this thread plus jobs - 1 worker threads started for this batch. */
async function runTasks(tasks: TaskInput[], jobs: number, onDone: (r: BatchRecord) => void): Promise<BatchRecord[]> {
  const results: BatchRecord[] = new Array(tasks.length);
  const queue = { next: 0 };
  const inThisThread = async () => {
    while (queue.next < tasks.length) {
      const i = queue.next++;
      onDone((results[i] = await processOne(tasks[i])));
    }
  };
  if (jobs <= 1 || tasks.length <= 1) {
    await inThisThread();
    return results;
  }
  // jobs - 1 worker threads plus this thread: workers take ~1 s to load their modules, during
  // which this (already loaded) thread gets on with the queue; it then keeps a share of the work.
  const workers = Array.from({ length: Math.min(jobs - 1, tasks.length - 1) }, () => newWorker());
  try {
    await Promise.all([inThisThread(), ...workers.map((w) => drainInto(w, tasks, queue, results, onDone))]);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
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
