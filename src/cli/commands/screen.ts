/**
 * `dr-xai screen`: unlabelled photographs (files, folders, globs, CSVs of paths; JPEG, PNG,
 * TIFF, WebP or DICOM) to a probability, a decision, a gradability flag and optionally a heat
 * map each, in results.csv / results.jsonl / report.html. A thin shell over src/screening.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { classNamesFor, DISCLAIMER, DrXaiError, progressBar } from '../../core/index.ts';
import { defaultModelPath } from '../../models/index.ts';
import { expandInputs, queueBackend, screenBatch } from '../../screening/index.ts';
import { numberOption } from '../options.ts';

interface ScreenCliOptions {
  model?: string;
  task: string;
  out: string;
  explain?: boolean;
  workers?: string;
  idFromUid?: boolean;
  redis?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('screen')
    .description('screen unlabelled photographs (files, folders, globs, CSVs of paths; JPEG/PNG/TIFF/WebP/DICOM): results.csv, results.jsonl, report.html')
    .argument('<inputs...>', 'photographs, folders (searched recursively), glob patterns or CSV files with a `path` column')
    .requiredOption('--out <dir>', 'output folder (re-running with the same folder resumes: finished photographs are skipped)')
    .option('--model <model.onnx>', 'model package (.onnx with its .json sidecar); default: the default model of --task (`dr-xai models`)')
    .option('--task <task>', "default model to use without --model: 'referable' or 'grade'", 'referable')
    .option('--explain', 'also write a heat map per photograph (heatmaps/, and in report.html)')
    .option('--workers <n>', `worker threads (default: every core, ${os.availableParallelism()} here)`)
    .option('--id-from-uid', 'DICOM: use the SOP Instance UID as the id instead of the path')
    .option('--redis <url>', 'enqueue the work for `dr-xai worker` processes on other machines (BullMQ on Redis) instead of screening here')
    .option('--quiet', 'no progress bar')
    .addHelpText(
      'after',
      `
Examples:
  dr-xai screen photos/ --out screening/                  # a folder, recursively
  dr-xai screen 'clinic/**/*.dcm' --out s/ --explain      # DICOM from the camera, with heat maps
  dr-xai screen worklist.csv --task grade --out s/        # a CSV with a path column, the 5-grade model
  dr-xai screen /shared/photos --redis redis://q:6379 --out s/   # on the workers of that queue

Each photograph gets: probability of referable DR, the decision at the model's stored operating
point (REFER / no referral), gradable yes/no with the reasons (an ungradable photo gets no
decision), quality figures, and the model and threshold used; a 5-grade model (--task grade)
adds the predicted grade (predicted_grade: the expected grade, rounded, as evaluate scores it)
and the five grade probabilities (the decision stays at the operating point on P(grade >= 2),
set for specificity, so a photo can be graded 2 without a referral). A photo that cannot be read is
listed with its reason; the rest still run, and the exit code is 1 when any failed.
Patient identifiers in DICOM files are never read or written. ${DISCLAIMER}`,
    )
    .action(async (inputs: string[], opts: ScreenCliOptions) => {
      if (opts.task !== 'referable' && opts.task !== 'grade') throw new DrXaiError(`--task must be referable or grade, got '${opts.task}'`);
      const modelPath = opts.model ?? (await defaultModelPath(opts.task));
      const workers = opts.workers === undefined ? undefined : numberOption(opts.workers, '--workers', { integer: true, min: 1, max: 256 });
      const { photographs, missing, skipped } = await expandInputs(inputs);
      const others = Object.entries(skipped);
      if (others.length) process.stderr.write(`not photographs by their extension, skipped: ${others.map(([ext, n]) => `${n} ${ext}`).join(', ')} (name a file to screen it anyway)\n`);
      const bar = progressBar('screening', photographs.length, { quiet: opts.quiet, extra: opts.redis ? 'queue {waiting} waiting, {active} active' : undefined });
      let counts: Record<string, string | number> = { waiting: '?', active: '?' };
      const redis = opts.redis;
      const result = await screenBatch({
        ...(redis ? { backend: (fingerprint: string) => queueBackend(redis, fingerprint, { onCounts: (c) => (counts = c) }) } : {}),
        modelPath,
        photographs,
        missing,
        out: opts.out,
        explain: opts.explain,
        workers,
        idFromUid: opts.idFromUid,
        onProgress: () => bar.tick(1, counts),
      });
      bar.stop();
      const ok = result.records.filter((r) => r.status === 'ok');
      const refer = ok.filter((r) => r.referable === true).length;
      const ungradable = ok.filter((r) => r.gradable === false).length;
      const graded = ok.filter((r) => r.predictedGrade != null);
      const names = classNamesFor('grade');
      process.stdout.write(
        `${result.records.length} photograph(s): ${refer} refer, ${ok.length - refer - ungradable} no referral, ${ungradable} ungradable, ${result.failed} failed` +
          ` (${result.screened} screened now, ${result.resumed} from an earlier run)\n` +
          (graded.length ? `predicted grades: ${names.map((n, g) => `${n} ${graded.filter((r) => r.predictedGrade === g).length}`).join(', ')}\n` : '') +
          `results: ${path.join(opts.out, 'results.csv')}, ${path.join(opts.out, 'results.jsonl')}\nreport:  ${path.join(opts.out, 'report.html')}\n${DISCLAIMER}\n`,
      );
      if (result.failed > 0) {
        process.stderr.write(`${result.failed} input(s) could not be screened:\n${result.records.filter((r) => r.status === 'failed').map((r) => `  ${r.error}`).join('\n')}\n`);
        process.exitCode = 1;
      }
    });
}
