/**
 * `dr-xai evaluate`: score validation and test (or any data set, for external validation) with a
 * model package, choose or reuse the operating point, and write plots, tables and a report.
 * A thin shell: screening is src/screening's (the quality gate included: ungradable photos are
 * left out and listed, never scored as negatives), every metric is src/evaluate's.
 */
import type { Command } from 'commander';
import { DISCLAIMER, progressBar } from '../../core/index.ts';
import { loadDataset, parseFormat, readSplitCsv } from '../../data/index.ts';
import { evaluatePredictions, formatMetricsTable, formatReferralByGrade, parseOperatingMode, type ExcludedImage, type SplitPredictions } from '../../evaluate/index.ts';
import { loadModel, defaultModelPath } from '../../models/index.ts';
import { planEvaluation, scoreLabelledSplit } from '../../screening/index.ts';
import { numberOption } from '../options.ts';

interface EvaluateCliOptions {
  model?: string;
  data: string;
  format: string;
  split?: string;
  subsets: string;
  fixSpec: string;
  mode: string;
  thresholdFrom: string;
  bootstrap: string;
  seed: string;
  outDir: string;
  batchSize: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .description('score a data set with a model: AUROC, AUPRC, operating point with 95% CIs, calibration, plots and report.md')
    .option('--model <model.onnx>', 'model package (.onnx with its .json sidecar); default: the referable default of `dr-xai models`')
    .requiredOption('--data <root>', 'data set folder (any layout `dr-xai split` reads)')
    .option('--format <format>', 'auto, aptos, aptos224, eyepacs, messidor2, idrid, generic', 'auto')
    .option('--split <split.csv>', 'split file from `dr-xai split`; without it the whole data set is one external split')
    .option('--subsets <names>', 'which splits of --split to score', 'val,test')
    .option('--fix-spec <target>', 'target specificity of the operating point', '0.95')
    .option('--mode <mode>', "'constrained' (max sensitivity with spec >= target), 'conservative' (with the spec's Wilson 95% lower bound >= target) or 'closest' (the reference study's rule)", 'constrained')
    .option('--threshold-from <source>', "'val' tunes the threshold on the val split; 'model' applies the one stored with the model (external validation)", 'val')
    .option('--bootstrap <n>', 'bootstrap resamples for the 95% CIs', '2000')
    .option('--seed <n>', 'bootstrap seed', '42')
    .option('--out-dir <dir>', 'where plots, CSVs and report.md go', 'artifacts/figs')
    .option('--batch-size <n>', 'images per inference batch', '8')
    .option('--quiet', 'no progress bars')
    .addHelpText(
      'after',
      `
Examples:
  dr-xai evaluate --model models/efficientnet_b0-aptos224.onnx --data ../shared/data/aptos2019-224 \\
      --split split.csv --fix-spec 0.95 --out-dir artifacts/figs
  dr-xai evaluate --model m.onnx --data /data/messidor2 --threshold-from model   # external validation

Writes <out-dir>/{val,test}_roc.png, *_pr.png, calibration.png, metrics_summary.csv,
predictions.csv (with each image's true grade), referral_by_grade.csv (how many of each
true grade the operating point refers: the sensitivity within grades 2-4 and the false
referrals of grades 0-1), excluded.csv (photographs left out, with the reason), report.md and
report.html. Ungradable photographs (the quality gate of dr-xai screen) are left out of the
metrics and listed, never scored as negatives. ${DISCLAIMER}`,
    )
    .action(async (opts: EvaluateCliOptions) => {
      opts.model ??= await defaultModelPath('referable');
      const fixSpec = numberOption(opts.fixSpec, '--fix-spec', { min: 0, max: 1 });
      const mode = parseOperatingMode(opts.mode, '--mode');
      const batchSize = numberOption(opts.batchSize, '--batch-size', { integer: true, min: 1, max: 512 });
      const bootstrap = numberOption(opts.bootstrap, '--bootstrap', { integer: true, min: 1, max: 1e6 });
      const seed = numberOption(opts.seed, '--seed', { integer: true, min: 0, max: 2 ** 32 - 1 });
      const model = await loadModel(opts.model);
      const dataset = await loadDataset(opts.data, parseFormat(opts.format));
      for (const s of dataset.skipped) process.stderr.write(`skipped by the loader: ${s.count} ${s.reason}\n`);
      const plan = planEvaluation({
        assignment: opts.split ? await readSplitCsv(opts.split, dataset) : undefined,
        all: dataset.samples,
        subsets: opts.subsets.split(',').map((s) => s.trim()),
        thresholdFrom: opts.thresholdFrom,
        storedThreshold: model.info.operatingPoint?.threshold,
        modelFile: opts.model,
      });
      const excluded: ExcludedImage[] = [];
      const splits: Record<string, SplitPredictions> = {};
      for (const [name, samples] of Object.entries(plan.splits)) {
        const bar = progressBar(`scoring ${name}`.padEnd(14), samples.length, { quiet: opts.quiet });
        let shown = 0;
        splits[name] = await scoreLabelledSplit(model, name, samples, excluded, {
          batchSize,
          onProgress: (done) => {
            bar.tick(done - shown);
            shown = done;
          },
        });
        bar.stop();
      }
      const result = await evaluatePredictions({
        splits,
        task: model.info.task === 'grade' ? 'grade' : 'referable',
        fixSpecificity: fixSpec,
        mode,
        thresholdFrom: plan.threshold,
        bootstrap,
        seed,
        outDir: opts.outDir,
        modelInfo: { model: model.displayName, task: model.info.task, inputSize: model.info.input.size, data: dataset.root },
        excluded,
      });
      await model.release();
      process.stdout.write(`${formatMetricsTable(result.rows)}\n`);
      for (const e of result.splits) if (e.referralByGrade) process.stdout.write(`${e.split} referred by true grade: ${formatReferralByGrade(e.referralByGrade)}\n`);
      process.stdout.write(`threshold ${result.threshold.toFixed(4)} (${result.thresholdSource.kind === 'given' ? 'stored with the model' : `tuned on ${result.thresholdSource.split}, ${result.thresholdSource.mode}, target specificity ${fixSpec}`})\n`);
      process.stdout.write(`report: ${result.files.find((f) => f.endsWith('report.md'))}\n${DISCLAIMER}\n`);
      const unreadable = excluded.filter((e) => e.kind === 'unreadable');
      const ungradable = excluded.length - unreadable.length;
      if (ungradable > 0) process.stderr.write(`${ungradable} ungradable photograph(s) left out of the metrics (listed in the report and excluded.csv)\n`);
      if (unreadable.length > 0) {
        process.stderr.write(`${unreadable.length} image(s) could not be read and were left out:\n${unreadable.map((f) => `  ${f.reason}`).join('\n')}\n`);
        process.exitCode = 1;
      }
    });
}
