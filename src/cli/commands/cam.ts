import path from 'node:path';
import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError } from '../../core/index.ts';
import { loadDataset, parseFormat, readSplitCsv, SPLIT_NAMES, type SplitName } from '../../data/index.ts';
import { CamExplainer, explainCases, parseMethod, parseTarget, pickBalanced, type CamVariant } from '../../explain/index.ts';
import { numberOption } from '../options.ts';
import { defaultModelPath } from '../../models/index.ts';

interface CamCliOptions {
  model?: string;
  data: string;
  format: string;
  split?: string;
  subset: string;
  n: string;
  outDir: string;
  method?: string;
  variant: string;
  layer?: string;
  target: string;
  seed: string;
  faithfulness?: boolean;
  steps: string;
  threads?: string;
  quiet?: boolean;
}

export function parseVariant(value: string): CamVariant {
  if (value === 'paper' || value === 'pytorch-grad-cam') return value;
  throw new DrXaiError(`--variant must be 'paper' or 'pytorch-grad-cam', got '${value}'`);
}

export function register(program: Command): void {
  program
    .command('cam')
    .description('Grad-CAM++ (or Grad-CAM, Score-CAM) overlays for balanced validation cases: one PNG per case and a board')
    .option('--model <model.onnx>', 'model package (.onnx with its .json sidecar); default: the referable default of `dr-xai models`')
    .requiredOption('--data <root>', 'data set folder')
    .option('--format <format>', 'auto, aptos, aptos224, eyepacs, messidor2, idrid, generic, folder', 'auto')
    .option('--split <csv>', 'split CSV from `dr-xai split` (without it: every labelled image)')
    .option('--subset <name>', `which split to draw from (${SPLIT_NAMES.join(', ')})`, 'val')
    .option('--n <count>', 'cases: half non-referable, half referable', '12')
    .option('--out-dir <dir>', 'output folder', 'artifacts/cams')
    .option('--method <name>', 'gradcam++, gradcam or scorecam (Score-CAM: one forward pass per channel, slow); default: the sidecar\'s explain method, else gradcam++')
    .option('--variant <name>', "'paper' formulas or 'pytorch-grad-cam' (its epsilon and normalisation)", 'paper')
    .option('--layer <tensor>', "target layer's ONNX tensor name (default the sidecar's explain layer, else its features output)")
    .option('--target <t>', "'referable' or a class index", 'referable')
    .option('--seed <n>', 'seed of the case draw and the random faithfulness baseline', '0')
    .option('--faithfulness', 'also measure deletion/insertion AUCs against a random pixel order')
    .option('--steps <n>', 'steps of the faithfulness curves', '16')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--quiet', 'no progress bar')
    .action(async (opts: CamCliOptions) => {
      opts.model ??= await defaultModelPath('referable');
      const n = numberOption(opts.n, '--n', { integer: true, min: 1 });
      const seed = numberOption(opts.seed, '--seed', { integer: true, min: 0 });
      const steps = numberOption(opts.steps, '--steps', { integer: true, min: 1 });
      const threads = opts.threads === undefined ? undefined : numberOption(opts.threads, '--threads', { integer: true, min: 1 });
      if (!(SPLIT_NAMES as readonly string[]).includes(opts.subset)) throw new DrXaiError(`--subset must be one of ${SPLIT_NAMES.join(', ')}, got '${opts.subset}'`);
      const explainer = await CamExplainer.create(path.resolve(opts.model), {
        method: opts.method === undefined ? undefined : parseMethod(opts.method),
        variant: parseVariant(opts.variant),
        layer: opts.layer,
        threads,
      });
      try {
        const target = parseTarget(opts.target, explainer.info.numClasses);
        const dataset = await loadDataset(opts.data, parseFormat(opts.format));
        const pool = opts.split ? (await readSplitCsv(opts.split, dataset))[opts.subset as SplitName] : dataset.samples;
        const cases = pickBalanced(pool.map((s) => ({ id: s.id, path: s.path, grade: s.grade })), n, seed);
        if (cases.length === 0) throw new DrXaiError(`no labelled images in the ${opts.split ? `'${opts.subset}' split` : 'data set'}`, { file: opts.split ?? opts.data });
        const report = await explainCases(explainer, cases, { outDir: opts.outDir, disclaimer: DISCLAIMER, target, faithfulness: opts.faithfulness, steps, seed, quiet: opts.quiet });
        const nPos = cases.filter((c) => (c.grade ?? 0) >= 2).length;
        process.stdout.write(`${explainer.method.name} (${explainer.gradientSource} gradients, layer ${explainer.layer}) on ${cases.length} cases (${cases.length - nPos} non-referable, ${nPos} referable)\n`);
        if (report.faithfulness) {
          const f = report.faithfulness;
          process.stdout.write(
            `faithfulness (mean AUC, ${steps} steps): deletion ${f.deletionAuc.toFixed(3)} (random order ${f.randomDeletionAuc.toFixed(3)}; lower is better), insertion ${f.insertionAuc.toFixed(3)} (random order ${f.randomInsertionAuc.toFixed(3)}; higher is better)\n`,
          );
        }
        process.stdout.write(`wrote ${report.files.length} files to ${opts.outDir} (board: ${path.join(opts.outDir, 'board.png')}, report: ${path.join(opts.outDir, 'report.html')})\n${DISCLAIMER}\n`);
        if (report.failed.length > 0) {
          process.stderr.write(`${report.failed.length} case(s) could not be explained:\n${report.failed.map((f) => `  ${f.reason}`).join('\n')}\n`);
          process.exitCode = 1;
        }
      } finally {
        await explainer.release();
      }
    });
}
