/**
 * `dr-xai worker`: takes screening jobs from Redis (BullMQ) and screens them with the one
 * screening path, until SIGTERM / SIGINT (finishes the jobs in hand, then exits 0; a second
 * signal releases them at once). A thin shell over src/screening/queue.ts.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError } from '../../core/index.ts';
import { defaultModelPath } from '../../models/index.ts';
import { startQueueWorker } from '../../screening/index.ts';
import { numberOption } from '../options.ts';

interface WorkerCliOptions {
  redis: string;
  model?: string;
  task: string;
  concurrency?: string;
  lockMs: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('screen photographs from a Redis queue (BullMQ) for `dr-xai screen --redis`; run one per machine')
    .requiredOption('--redis <url>', 'Redis server, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)')
    .option('--model <model.onnx>', 'model package; must be the one the screen command uses (checked by fingerprint); default: the default of --task')
    .option('--task <task>', "default model without --model: 'referable' or 'grade'", 'referable')
    .option('--concurrency <n>', `photographs at once, one worker thread each (default: every core, ${os.availableParallelism()} here)`)
    .option('--lock-ms <ms>', 'job lock: a worker that dies holding a job gives it back after this long', '30000')
    .option('--quiet', 'no line per job')
    .addHelpText(
      'after',
      `
Example, on each machine that can read the photographs' shared folder:
  dr-xai worker --redis redis://queue-host:6379
then, anywhere:
  dr-xai screen /shared/photos --redis redis://queue-host:6379 --out results/

Each job line shows the job id (the photo's sha256), the outcome and the time; never a path or
patient data. ${DISCLAIMER}`,
    )
    .action(async (opts: WorkerCliOptions) => {
      if (opts.task !== 'referable' && opts.task !== 'grade') throw new DrXaiError(`--task must be referable or grade, got '${opts.task}'`);
      const modelPath = opts.model ?? (await defaultModelPath(opts.task));
      const concurrency = opts.concurrency === undefined ? os.availableParallelism() : numberOption(opts.concurrency, '--concurrency', { integer: true, min: 1, max: 256 });
      const lockMs = numberOption(opts.lockMs, '--lock-ms', { integer: true, min: 1000 });
      const worker = await startQueueWorker({ redisUrl: opts.redis, modelPath, concurrency, lockMs, log: opts.quiet ? undefined : (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`dr-xai worker ${worker.name}: queue ${worker.queueName}, ${concurrency} at once, model ${modelPath}\n`);
      let stopping = false;
      const stop = (): void => {
        const force = stopping;
        stopping = true;
        process.stdout.write(force ? 'releasing the jobs in hand\n' : 'finishing the jobs in hand (signal again to release them)\n');
        void worker.close(force).then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
