/**
 * Screening spread over machines with BullMQ on Redis: `dr-xai screen --redis` enqueues, `dr-xai
 * worker` processes. The work itself is unchanged: each worker runs the local worker-thread pool
 * (pool.ts), so a job is screenPhotograph on the bytes of a path every machine can read (a shared
 * file system; see the README for object storage).
 *
 * - One queue per model, named by the model's fingerprint (ONNX bytes + sidecar): a worker only
 *   takes jobs of the model it runs, and checks the job's fingerprint again before screening.
 * - Job id = the photograph's sha256 (+ whether a heat map is wanted): however often a photo is
 *   enqueued or a batch re-run, it is screened once; finished jobs are kept for a week, so a
 *   re-run collects their results instead of screening again.
 * - A photo that cannot be screened (not an image, no retina, changed since it was enqueued) is
 *   an UnrecoverableError: failed at once with its reason, no retry. Anything else (a file not
 *   yet visible on the shared file system, a crash) is retried 3 times with exponential backoff.
 * - A worker killed with -9 loses nothing: its job's lock expires (`lockMs`) and BullMQ's
 *   stalled-job check in the other workers puts the job back in the queue.
 */
import { createHash } from 'node:crypto';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { DrXaiError, isUserError, readFileOrFail } from '../core/index.ts';
import { modelFingerprint, readSidecar } from '../models/index.ts';
import type { BackendJob, ScreeningBackend } from './batch.ts';
import { ScreeningPool } from './pool.ts';
import type { ScreenOutcome } from './worker.ts';

const QUEUE_PREFIX = 'dr-xai-screen';

/** The queue of a model: every job in it is screened with exactly that package. */
export function queueName(fingerprint: string): string {
  return `${QUEUE_PREFIX}-${fingerprint.slice(0, 16)}`;
}

/** What a job carries: where the photo is, what it hashes to, and what to compute. */
export interface QueueJobData {
  path: string;
  source: string;
  sha256: string;
  modelFingerprint: string;
  explain: boolean;
  thumbnailPx: number;
  maxPixels?: number;
}

/** ioredis options from a redis:// or rediss:// URL (user, password, database number, TLS). */
function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DrXaiError(`--redis must be a URL like redis://host:6379/0, got '${url}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new DrXaiError(`--redis must be a redis:// or rediss:// URL, got '${url}'`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands need unlimited retries (and reconnect after a Redis restart).
    maxRetriesPerRequest: null,
  };
}

/**
 * Connect once with a plain client that gives up at the first refusal, so an unreachable server
 * is one line naming it (BullMQ's own clients retry quietly for as long as they live).
 */
async function probe(url: string): Promise<void> {
  const client = new Redis({ ...(redisConnection(url) as RedisOptions), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  let cause = '';
  client.on('error', (e: Error) => (cause ||= e.message));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new DrXaiError(`cannot reach Redis at ${url} (${cause || (e as Error).message}; is redis-server running?)`);
  } finally {
    client.disconnect();
  }
}

const KEEP = { age: 7 * 24 * 3600 };

function jobIdOf(job: { sha256: string; explain: boolean }): string {
  // BullMQ ids must not contain ':'.
  return `${job.sha256}-${job.explain ? 'explain' : 'screen'}`;
}

/**
 * The backend of `dr-xai screen --redis`: each photograph becomes a job (or finds the job it
 * already is) in the model's queue, and its result or failure reason comes back from whichever
 * worker took it. `onCounts` is called with the queue's counts as they change (progress display).
 */
export async function queueBackend(redisUrl: string, fingerprint: string, opts: { capacity?: number; onCounts?: (c: Record<string, number>) => void } = {}): Promise<ScreeningBackend & { queue: Queue }> {
  const connection = redisConnection(redisUrl);
  const name = queueName(fingerprint);
  await probe(redisUrl);
  const queue = new Queue<QueueJobData, ScreenOutcome>(name, { connection });
  const events = new QueueEvents(name, { connection });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const capacity = opts.capacity ?? 256;
  // Each job in flight waits with its own listeners (Job.waitUntilFinished).
  queue.setMaxListeners(capacity + 16);
  events.setMaxListeners(capacity + 16);
  // The queue's counts for a progress display, at most every 250 ms.
  let reported = 0;
  const report = async () => {
    if (!opts.onCounts || Date.now() - reported < 250) return;
    reported = Date.now();
    opts.onCounts(await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed'));
  };
  return {
    queue,
    capacity,
    async run(job: BackendJob): Promise<ScreenOutcome> {
      const jobId = jobIdOf(job);
      const data: QueueJobData = { path: job.path, source: job.source, sha256: job.sha256, modelFingerprint: fingerprint, explain: job.explain, thumbnailPx: job.thumbnailPx, ...(job.maxPixels ? { maxPixels: job.maxPixels } : {}) };
      const options = { jobId, attempts: 3, backoff: { type: 'exponential' as const, delay: 1000 }, removeOnComplete: KEEP, removeOnFail: KEEP };
      const startedAt = Date.now();
      try {
        // An id already in the queue is not added again: its result (or its wait) is shared.
        return (await (await queue.add('screen', data, options)).waitUntilFinished(events)) as ScreenOutcome;
      } catch (e) {
        // A failure from an earlier run is tried once more (the file may have been fixed).
        const earlier = await Job.fromId<QueueJobData, ScreenOutcome>(queue, jobId);
        if (!earlier?.finishedOn || earlier.finishedOn >= startedAt) return { ok: false, reason: (e as Error).message };
        await earlier.remove();
        try {
          return (await (await queue.add('screen', data, options)).waitUntilFinished(events)) as ScreenOutcome;
        } catch (again) {
          return { ok: false, reason: (again as Error).message };
        }
      } finally {
        void report();
      }
    },
    async close() {
      await events.close();
      await queue.close();
    },
  };
}

export interface QueueWorkerOptions {
  redisUrl: string;
  modelPath: string;
  /** Photographs screened at once (worker threads; default 1). */
  concurrency?: number;
  /** Job lock, ms: a worker that dies holding a job gives it back after this long (default 30 s). */
  lockMs?: number;
  /** One line per job (id, outcome, ms); never paths or patient data. */
  log?: (line: string) => void;
}

/** A running `dr-xai worker`: close() finishes the jobs in hand (or, when forced, releases them) and stops. */
export interface QueueWorker {
  name: string;
  queueName: string;
  close(force?: boolean): Promise<void>;
}

export async function startQueueWorker(opts: QueueWorkerOptions): Promise<QueueWorker> {
  const info = await readSidecar(opts.modelPath);
  const fingerprint = modelFingerprint(await readFileOrFail(opts.modelPath, 'model file'), info);
  const connection = redisConnection(opts.redisUrl);
  await probe(opts.redisUrl);
  const concurrency = opts.concurrency ?? 1;
  const lockMs = opts.lockMs ?? 30_000;
  const pool = new ScreeningPool({ modelPath: opts.modelPath, workers: concurrency, maxQueue: 0 });
  const name = queueName(fingerprint);
  const log = opts.log ?? (() => {});
  const worker = new Worker<QueueJobData, ScreenOutcome>(
    name,
    async (job) => {
      const t0 = performance.now();
      const d = job.data;
      if (d.modelFingerprint !== fingerprint) {
        throw new UnrecoverableError(`this worker runs model ${fingerprint.slice(0, 16)}, the job asks for ${String(d.modelFingerprint).slice(0, 16)}`);
      }
      let bytes: Buffer;
      try {
        bytes = await readFileOrFail(d.path, 'photograph');
      } catch (e) {
        // Perhaps not visible yet on this machine's view of the shared file system: retried.
        throw new Error(isUserError(e) ? e.message : String(e));
      }
      if (createHash('sha256').update(bytes).digest('hex') !== d.sha256) throw new UnrecoverableError(`${d.source}: changed since it was enqueued`);
      const outcome = await pool.run({ bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), source: d.source, maxPixels: d.maxPixels, explain: d.explain, thumbnail: d.thumbnailPx }, lockMs * 20);
      log(`${outcome.ok ? 'done' : 'failed'} ${job.id} ${(performance.now() - t0).toFixed(0)} ms`);
      if (!outcome.ok) throw new UnrecoverableError(outcome.reason);
      return outcome;
    },
    { connection, concurrency, lockDuration: lockMs, stalledInterval: Math.max(1000, Math.floor(lockMs / 2)), name: `dr-xai-worker-${process.pid}`, autorun: false },
  );
  worker.on('error', (e) => log(`error ${e.message}`));
  await worker.waitUntilReady();
  void worker.run();
  return {
    name: `dr-xai-worker-${process.pid}`,
    queueName: name,
    async close(force = false) {
      await worker.close(force);
      await pool.close();
    },
  };
}
