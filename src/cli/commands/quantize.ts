/**
 * `dr-xai quantize`: the int8 twin of a model package, calibrated on fundus photographs. A thin
 * shell over src/models/quantize.ts.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError, Rng, progressBar } from '../../core/index.ts';
import { loadDataset, readSplitCsv } from '../../data/index.ts';
import { defaultModelPath, quantizeModel, saveModel } from '../../models/index.ts';
import { numberOption } from '../options.ts';

interface QuantizeCliOptions {
  model?: string;
  calibration: string;
  split?: string;
  n: string;
  seed: string;
  weightBits: string;
  out: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('quantize')
    .description('int8 model package (ONNX QDQ: int8 weights per channel, uint8 activations) calibrated on fundus photographs')
    .requiredOption('--calibration <data root>', 'data set to calibrate on (any layout `dr-xai evaluate` reads); photographs are prepared with the package\'s own preprocessing')
    .requiredOption('--out <model-int8.onnx>', 'the int8 package to write (its .json sidecar goes beside it)')
    .option('--model <model.onnx>', 'float package to quantize; default: the referable default of `dr-xai models`')
    .option('--split <split.csv>', 'calibrate only on the train subset of this split (keep the validation images unseen)')
    .option('--n <count>', 'calibration photographs, drawn at random (seeded)', '200')
    .option('--seed <n>', 'seed of the draw', '42')
    .option('--weight-bits <7|8>', '7 (default) cannot overflow the int16 sums of x86 CPUs without VNNI; 8 is more exact where it cannot', '7')
    .option('--quiet', 'no progress bar')
    .addHelpText(
      'after',
      `
Example:
  dr-xai quantize --model models/mobilenet_v2-aptos224-referable.onnx \\
      --calibration ../shared/data/aptos2019-224 --split runs/aptos224-split.csv --out runs/referable-int8.onnx
  dr-xai evaluate --model runs/referable-int8.onnx --data ../shared/data/aptos2019-224 --split runs/aptos224-split.csv --subsets val

The int8 package keeps the float package's input, preprocessing, operating point and explanation
layer (heat maps differentiate its dequantized weights); evaluate it before using it, and compare
speed with \`dr-xai profile --model <float> --compare <int8>\`: int8 pays on CPUs with VNNI.
${DISCLAIMER}`,
    )
    .action(async (opts: QuantizeCliOptions) => {
      const n = numberOption(opts.n, '--n', { integer: true, min: 1, max: 100_000 });
      const seed = numberOption(opts.seed, '--seed', { integer: true, min: 0 });
      const weightBits = numberOption(opts.weightBits, '--weight-bits', { integer: true, min: 7, max: 8 }) as 7 | 8;
      if (!opts.out.toLowerCase().endsWith('.onnx')) throw new DrXaiError(`--out must name an .onnx file, got '${opts.out}'`);
      const model = opts.model ?? (await defaultModelPath('referable'));
      const dataset = await loadDataset(opts.calibration);
      const pool = opts.split ? (await readSplitCsv(path.resolve(opts.split), dataset)).train : dataset.samples;
      if (!pool.length) throw new DrXaiError(`no calibration photographs in ${opts.split ? `the train subset of ${opts.split}` : opts.calibration}`);
      const chosen = new Rng(seed).shuffle([...pool]).slice(0, n);
      const bar = progressBar('calibrating', chosen.length, { quiet: opts.quiet });
      let done = 0;
      const q = await quantizeModel(model, {
        calibration: chosen.map((s) => s.path),
        calibrationSource: `${dataset.name}${opts.split ? ` (train subset of ${path.basename(opts.split)})` : ''}, ${chosen.length} photographs drawn with seed ${seed}`,
        weightBits,
        onProgress: (i) => {
          bar.tick(i - done);
          done = i;
        },
      });
      bar.stop();
      await saveModel(opts.out, q.onnx, q.sidecar);
      const s = q.summary;
      process.stdout.write(
        `${opts.out}: ${s.weights} convolutions with int8 weights (${weightBits}-bit, bias-corrected), ${s.activations} activations quantized; ` +
          `parameters ${(s.floatBytes / 1e6).toFixed(1)} MB -> ${(s.quantizedBytes / 1e6).toFixed(1)} MB; calibrated on ${q.calibrated} photographs` +
          (q.skipped.length ? ` (${q.skipped.length} skipped, e.g. ${q.skipped[0].file}: ${q.skipped[0].reason})` : '') +
          `\n${DISCLAIMER}\n`,
      );
    });
}
