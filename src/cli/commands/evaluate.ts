/**
 * `dr-xai evaluate`: score validation and test (or any data set, for external validation) with a
 * model package, choose or reuse the operating point, and write plots, tables and a report.
 * A thin shell: screening is src/screening's (the quality gate included: ungradable photos are
 * left out and listed, never scored as negatives), every metric is src/evaluate's.
 */
import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError, labelFor, progressBar } from '../../core/index.ts';
import { loadDataset, parseFormat, readSplitCsv, type Sample } from '../../data/index.ts';
import { evaluatePredictions, formatMetricsTable, type ExcludedImage, type SplitPredictions } from '../../evaluate/index.ts';
import { loadModel, type FundusModel, defaultModelPath } from '../../models/index.ts';
import { screenFiles, type Screening } from '../../screening/index.ts';
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

async function scoreSplit(model: FundusModel, name: string, samples: Sample[], opts: EvaluateCliOptions, excluded: ExcludedImage[]): Promise<SplitPredictions> {
  const bar = progressBar(`scoring ${name}`.padEnd(14), samples.length, { quiet: opts.quiet });
  let shown = 0;
  const results = await screenFiles(model, samples, {
    batchSize: numberOption(opts.batchSize, '--batch-size', { integer: true, min: 1, max: 512 }),
    onProgress: (done) => {
      bar.tick(done - shown);
      shown = done;
    },
  });
  bar.stop();
  const scored: Array<{ id: string; screening: Screening & { probability: number } }> = [];
  for (const r of results) {
    if ('error' in r) excluded.push({ split: name, id: r.id, kind: 'unreadable', reason: r.error });
    else if (!r.screening.gradable || r.screening.probability === null) excluded.push({ split: name, id: r.id, kind: 'ungradable', reason: r.screening.reasons.join('; ') });
    else scored.push(r as { id: string; screening: Screening & { probability: number } });
  }
  if (scored.length === 0 && samples.length > 0) {
    throw new DrXaiError(`no image of the ${name} split could be scored; first reason: ${excluded.find((e) => e.split === name)?.reason}`);
  }
  const gradeOf = new Map(samples.map((s) => [s.id, s.grade]));
  const task = model.info.task;
  const labels = scored.map((s) => {
    const grade = gradeOf.get(s.id);
    if (grade === null || grade === undefined) throw new DrXaiError(`image '${s.id}' has no grade; evaluation needs labelled data`);
    return labelFor(grade, task);
  });
  const ids = scored.map((s) => s.id);
  return task === 'grade'
    ? { ids, labels, gradeProbs: scored.map((s) => s.screening.classProbabilities as number[]) }
    : { ids, labels, scores: scored.map((s) => s.screening.probability) };
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
predictions.csv, excluded.csv (photographs left out, with the reason), report.md and
report.html. Ungradable photographs (the quality gate of dr-xai screen) are left out of the
metrics and listed, never scored as negatives. ${DISCLAIMER}`,
    )
    .action(async (opts: EvaluateCliOptions) => {
      opts.model ??= await defaultModelPath('referable');
      const fixSpec = numberOption(opts.fixSpec, '--fix-spec', { min: 0, max: 1 });
      if (opts.mode !== 'constrained' && opts.mode !== 'closest' && opts.mode !== 'conservative') throw new DrXaiError(`--mode must be constrained, conservative or closest, got '${opts.mode}'`);
      if (opts.thresholdFrom !== 'val' && opts.thresholdFrom !== 'model') throw new DrXaiError(`--threshold-from must be val or model, got '${opts.thresholdFrom}'`);
      const model = await loadModel(opts.model);
      let storedThreshold: number | undefined;
      if (opts.thresholdFrom === 'model') {
        if (!model.info.operatingPoint) throw new DrXaiError('--threshold-from model: the model has no stored operating point', { file: opts.model });
        storedThreshold = model.info.operatingPoint.threshold;
      }
      const dataset = await loadDataset(opts.data, parseFormat(opts.format));
      for (const s of dataset.skipped) process.stderr.write(`skipped by the loader: ${s.count} ${s.reason}\n`);
      const subsets: Record<string, Sample[]> = {};
      if (opts.split) {
        const assignment = await readSplitCsv(opts.split, dataset);
        for (const name of opts.subsets.split(',').map((s) => s.trim())) {
          if (name !== 'train' && name !== 'val' && name !== 'test') throw new DrXaiError(`--subsets: unknown split '${name}' (train, val, test)`);
          if (assignment[name].length > 0) subsets[name] = assignment[name];
        }
      } else {
        if (storedThreshold === undefined) throw new DrXaiError('without --split there is no validation split to tune on: add --threshold-from model');
        subsets.external = dataset.samples;
      }
      if (storedThreshold === undefined && !subsets.val) throw new DrXaiError('the threshold is tuned on the val split, which is empty or not selected (or use --threshold-from model)');
      const excluded: ExcludedImage[] = [];
      const splits: Record<string, SplitPredictions> = {};
      for (const [name, samples] of Object.entries(subsets)) splits[name] = await scoreSplit(model, name, samples, opts, excluded);
      const result = await evaluatePredictions({
        splits,
        task: model.info.task === 'grade' ? 'grade' : 'referable',
        fixSpecificity: fixSpec,
        mode: opts.mode,
        thresholdFrom: storedThreshold,
        bootstrap: numberOption(opts.bootstrap, '--bootstrap', { integer: true, min: 0, max: 1e6 }),
        seed: numberOption(opts.seed, '--seed', { integer: true, min: 0, max: 2 ** 32 - 1 }),
        outDir: opts.outDir,
        modelInfo: { model: model.displayName, task: model.info.task, inputSize: model.info.input.size, data: dataset.root },
        excluded,
      });
      await model.release();
      process.stdout.write(`${formatMetricsTable(result.rows)}\n`);
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
