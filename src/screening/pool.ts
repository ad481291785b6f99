/**
 * The bounded work queue in front of the model: one worker thread per core runs screenings
 * (decode + preprocessing + network are CPU-bound and would otherwise block the event loop, so
 * /healthz and time-outs keep answering under load), at most `maxQueue` more wait, and anything
 * beyond that is refused at once (503 + Retry-After) rather than queued without bound.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import { workerExecArgv } from '../core/index.ts';
import type { ScreenJob, ScreenOutcome } from './worker.ts';

export class QueueFullError extends Error {
  constructor() {
    super('server busy: the screening queue is full');
  }
}
export class ScreeningTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`screening did not finish within ${timeoutMs} ms`);
  }
}

export interface PoolOptions {
  modelPath: string;
  /** Worker threads = screenings at once (default: the machine's cores). */
  workers?: number;
  /** Screenings allowed to wait for a worker (default 4 per worker). */
  maxQueue?: number;
}

export class ScreeningPool {
  readonly workers: number;
  readonly maxQueue: number;
  private readonly piscina: Piscina<ScreenJob, ScreenOutcome>;
  private inFlight = 0;
  /** Tasks a worker still holds, timed-out ones included: close() lets them end first. */
  private readonly tasks = new Set<Promise<ScreenOutcome>>();

  constructor(opts: PoolOptions) {
    this.workers = Math.max(1, opts.workers ?? os.availableParallelism());
    this.maxQueue = Math.max(0, opts.maxQueue ?? 4 * this.workers);
    this.piscina = new Piscina({
      filename: new URL('./worker-entry.mjs', import.meta.url).href,
      workerData: { modelPath: opts.modelPath },
      minThreads: this.workers,
      maxThreads: this.workers,
      // Our own count below is the limit; piscina's is only a backstop.
      maxQueue: this.maxQueue + this.workers,
      idleTimeout: 2 ** 31 - 1,
      execArgv: workerExecArgv(),
    });
  }

  get running(): number {
    return Math.min(this.inFlight, this.workers);
  }
  get waiting(): number {
    return Math.max(0, this.inFlight - this.workers);
  }
  get capacity(): number {
    return this.workers + this.maxQueue;
  }

  /**
   * Screen one image, or throw QueueFullError at once, or ScreeningTimeoutError after
   * `timeoutMs` (queue wait included). A timed-out task is not killed (terminating a worker
   * mid-task costs a model reload and, under load, turns slowness into a restart storm): the
   * worker sees the deadline between stages and stops early, and its slot counts as busy until
   * it has.
   */
  async run(job: Omit<ScreenJob, 'deadline'>, timeoutMs: number): Promise<ScreenOutcome> {
    if (this.inFlight >= this.capacity) throw new QueueFullError();
    this.inFlight++;
    const task: Promise<ScreenOutcome> = this.piscina.run({ ...job, deadline: Date.now() + timeoutMs }).finally(() => {
      this.inFlight--;
      this.tasks.delete(task);
    });
    this.tasks.add(task);
    task.catch(() => undefined); // a rejection after the time-out has nobody waiting for it
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ScreeningTimeoutError(timeoutMs)), timeoutMs);
    });
    try {
      return await Promise.race([task, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Let the tasks still in the workers end (past their deadline they stop at the next stage),
   * then stop the workers: destroying a worker that is about to answer makes piscina throw
   * "Unexpected message from Worker" into the process.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.tasks]);
    await this.piscina.destroy();
  }
}
