/**
 * `dr-xai profile`: latency and memory of model packages for edge deployment, each model in a
 * fresh process per round (its own peak RSS), side by side with --compare, the models' order
 * reversed every other round. A thin shell over src/screening/profile.ts.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { DISCLAIMER, DrXaiError, progressBar } from '../../core/index.ts';
import { defaultModelPath } from '../../models/index.ts';
import { combineRounds, profileModel, type ModelProfile } from '../../screening/index.ts';
import { numberOption } from '../options.ts';

interface ProfileCliOptions {
  model?: string;
  compare?: string[];
  json?: boolean;
  photo?: string;
  runs: string;
  rounds: string;
  quiet?: boolean;
  one?: string;
}

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'dr-xai.js');

function table(profiles: ModelProfile[]): string {
  const lines: string[] = [];
  const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  for (const p of profiles) {
    lines.push(`${p.model}  (${f(p.size_mb, 1)} MB, ${p.input_px} px input, peak RSS ${f(p.peak_rss_mb, 0)} MB, ${p.cores} cores; medians of ${p.rounds} round${p.rounds === 1 ? '' : 's'})`);
    lines.push('  batch  threads  p50 ms  p95 ms  images/s');
    for (const l of p.latency) lines.push(`  ${String(l.batch).padStart(5)}  ${String(l.threads).padStart(7)}  ${f(l.p50Ms).padStart(6)}  ${f(l.p95Ms).padStart(6)}  ${f(l.imagesPerS).padStart(8)}`);
    const s = p.stages_ms;
    lines.push(`  stages on ${p.photo}: decode ${f(s.decode)} ms, preprocess ${f(s.preprocess)} ms, network ${f(s.infer)} ms, heat map ${f(s.explain)} ms`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('profile')
    .description('latency (p50/p95, batch 1 and 8, 1 thread and all), images/s, peak RSS, size and stage times of model packages')
    .option('--model <model.onnx>', 'model package; default: the referable default of `dr-xai models`')
    .option('--compare <models...>', 'more packages, profiled the same way and listed after --model')
    .option('--photo <file>', 'photograph for the stage times (default: a generated 1024 px phantom JPEG)')
    .option('--runs <n>', 'timed runs per setting at batch 1 (a quarter of that at batch 8)', '30')
    .option('--rounds <n>', 'fresh processes per model, the models alternating; figures are the medians over the rounds', '3')
    .option('--quiet', 'no progress bar')
    .option('--json', 'print a JSON array, one object per model in the order given (model, latency_ms_p50, latency_ms_p95, images_per_s, peak_rss_mb, size_mb, ...)')
    .addOption(new Option('--one <model>', 'profile one model in this process and print its JSON (used per model by the command itself)').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  dr-xai profile                                         # the default referable model
  dr-xai profile --model a.onnx --compare b.onnx --json  # side by side, machine-readable

Each model runs in a fresh process per round, so its peak RSS is its own; the models take turns
(a, b, b, a, a, b, ...) so that a change in the machine's speed reaches each alike, and every
figure is the median over the rounds. Figures depend on the machine and its load: run on a
quiet one. ${DISCLAIMER}`,
    )
    .action(async (opts: ProfileCliOptions) => {
      const runs = numberOption(opts.runs, '--runs', { integer: true, min: 3, max: 10_000 });
      const rounds = numberOption(opts.rounds, '--rounds', { integer: true, min: 1, max: 100 });
      if (opts.one) {
        process.stdout.write(`${JSON.stringify(await profileModel(opts.one, { photo: opts.photo, runs }))}\n`);
        return;
      }
      const models = [opts.model ?? (await defaultModelPath('referable')), ...(opts.compare ?? [])];
      const byModel: ModelProfile[][] = models.map(() => []);
      const bar = progressBar('profiling', rounds * models.length, { quiet: opts.quiet });
      try {
        for (let round = 0; round < rounds; round++) {
          const order = models.map((_, i) => i);
          if (round % 2 === 1) order.reverse();
          for (const i of order) {
            const r = spawnSync(process.execPath, [BIN, 'profile', '--one', models[i], '--runs', String(runs), ...(opts.photo ? ['--photo', opts.photo] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
            if (r.status !== 0) {
              const line = r.stderr.split('\n').find((l) => l.startsWith('dr-xai: error: '));
              throw new DrXaiError(line ? line.slice('dr-xai: error: '.length) : `profiling ${models[i]} failed (exit ${r.status}): ${r.stderr.trim().split('\n')[0]}`);
            }
            byModel[i].push(JSON.parse(r.stdout.trim().split('\n').pop() as string) as ModelProfile);
            bar.tick();
          }
        }
      } finally {
        bar.stop();
      }
      const profiles = byModel.map(combineRounds);
      process.stdout.write(opts.json ? `${JSON.stringify(profiles, null, 2)}\n` : `${table(profiles)}\n`);
    });
}
