import path from 'node:path';
import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError } from '../../core/index.ts';
import { CamExplainer, DEFAULT_POINTING_TOLERANCE, parseMethod, parseTarget, scoreLesionFolder } from '../../explain/index.ts';
import { parseVariant } from './cam.ts';
import { numberOption } from '../options.ts';
import { defaultModelPath } from '../../models/index.ts';

interface CamScoreCliOptions {
  model?: string;
  lesions: string;
  outDir: string;
  method?: string;
  variant: string;
  layer?: string;
  target: string;
  tolerance: string;
  seed: string;
  threads?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('cam-score')
    .description('score heat maps against pixel lesion masks (pointing game, heat per lesion area, optic-disc share) next to random and centre baselines')
    .option('--model <model.onnx>', 'model package (.onnx with its .json sidecar); default: the referable default of `dr-xai models`')
    .requiredOption('--lesions <dir>', 'folder in the IDRiD-lesions layout: images/<id>.jpg + masks/<id>_{MA,HE,EX,SE,OD}.png')
    .option('--out-dir <dir>', 'output folder', 'artifacts/cam-score')
    .option('--method <name>', 'gradcam++, gradcam or scorecam; default: the sidecar\'s explain method, else gradcam++')
    .option('--variant <name>', "'paper' or 'pytorch-grad-cam'", 'paper')
    .option('--layer <tensor>', "target layer's ONNX tensor name (default the sidecar's explain layer, else its features output)")
    .option('--target <t>', "'referable' or a class index", 'referable')
    .option('--tolerance <fraction>', 'pointing-game tolerance as a fraction of the image width', String(DEFAULT_POINTING_TOLERANCE))
    .option('--seed <n>', 'seed of the random baseline', '0')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--quiet', 'no progress bar')
    .action(async (opts: CamScoreCliOptions) => {
      opts.model ??= await defaultModelPath('referable');
      const tolerance = Number(opts.tolerance);
      if (opts.tolerance.trim() === '' || !(tolerance >= 0 && tolerance < 1)) throw new DrXaiError(`--tolerance must be a fraction in [0, 1), got '${opts.tolerance}'`);
      const seed = numberOption(opts.seed, '--seed', { integer: true, min: 0 });
      const threads = opts.threads === undefined ? undefined : numberOption(opts.threads, '--threads', { integer: true, min: 1 });
      const explainer = await CamExplainer.create(path.resolve(opts.model), { method: opts.method === undefined ? undefined : parseMethod(opts.method), variant: parseVariant(opts.variant), layer: opts.layer, threads });
      try {
        const target = parseTarget(opts.target, explainer.info.numClasses);
        const report = await scoreLesionFolder(explainer, opts.lesions, { outDir: opts.outDir, disclaimer: DISCLAIMER, target, tolerance, seed, quiet: opts.quiet });
        process.stdout.write(`${report.markdown}\nwrote ${report.files.length} files to ${opts.outDir} (report: ${path.join(opts.outDir, 'report.html')})\n`);
      } finally {
        await explainer.release();
      }
    });
}
