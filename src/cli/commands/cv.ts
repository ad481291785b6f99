import path from 'node:path';
import type { Command } from 'commander';
import { DISCLAIMER } from '../../core/index.ts';
import { formatReferralByGrade, parseOperatingMode } from '../../evaluate/index.ts';
import { findDuplicateGroups, loadDataset, parseFormat, stratifiedFolds, writeSplitCsv } from '../../data/index.ts';
import { readSidecar, writeSidecar } from '../../models/index.ts';
import { crossValidate, defaultRunName, preparePreprocessed, preprocessConfigOf, sharedCacheDir } from '../../train/index.ts';
import { numberOption } from '../options.ts';
import { addRecipeOptions, recipeFrom, type TrainCliOptions } from './train.ts';

interface CvCliOptions extends TrainCliOptions {
  folds: string;
  mode: string;
  applyTo?: string;
}

export function register(program: Command): void {
  addRecipeOptions(
    program
      .command('cv')
      .description('k-fold cross-validation of a training recipe: CV mean and spread, and an operating point chosen on the out-of-fold predictions'),
  )
    .option('--folds <k>', 'number of folds (stratified by grade, duplicates kept together)', '5')
    .option('--mode <mode>', "operating-point rule on the pooled OOF predictions: 'conservative' (spec's Wilson 95% lower bound >= target) or 'constrained'", 'conservative')
    .option('--apply-to <model.onnx>', 'store the OOF operating point and the CV metrics in this model package (trained with the same recipe)')
    .addHelpText(
      'after',
      `
Every development image is scored once, by the fold model that did not see it; the threshold for
the target specificity (fix_specificity, default 0.95) is chosen on all of them, which holds on new
photographs far better than one chosen on a 330-image validation split. Folds are resumable runs
(<out_dir>/<run>-fold<i>); rerun the same command after a crash.

Example:
  dr-xai train --config configs/aptos224-mnv2.yaml              # the model to release
  dr-xai cv --config configs/aptos224-mnv2.yaml --folds 3 --apply-to runs/aptos224-mnv2-referable/model.onnx

Writes <out_dir>/<run>-cv/{fold-<i>.csv, cv.json, oof_predictions.csv} and report/ (what
evaluate writes, for the pooled out-of-fold predictions: plots, referral by grade, report.md). ${DISCLAIMER}`,
    )
    .action(async (opts: CvCliOptions) => {
      const cfg = await recipeFrom(opts);
      const k = numberOption(opts.folds, '--folds', { integer: true, min: 2, max: 20 });
      const mode = parseOperatingMode(opts.mode, '--mode', ['conservative', 'constrained']);
      // Fail on a bad package before hours of training, not after.
      if (opts.applyTo) await readSidecar(opts.applyTo);
      const dataset = await loadDataset(cfg.data_root, parseFormat(cfg.data_format));
      const labelled = dataset.samples.filter((s) => s.grade !== null);
      const groups = await findDuplicateGroups(labelled, { quiet: opts.quiet });
      const folds = stratifiedFolds(labelled, k, { seed: cfg.seed, task: cfg.task === 'grade' ? 'referable' : cfg.task, groupBy: groups });
      const cvDir = path.resolve(cfg.out_dir, `${defaultRunName(cfg)}-cv`);
      for (const [i, f] of folds.entries()) await writeSplitCsv(path.join(cvDir, `fold-${i + 1}.csv`), f);
      const preprocess = preprocessConfigOf(cfg);
      const images = await preparePreprocessed(labelled, preprocess, { outDir: path.join(cvDir, 'preprocessed'), cacheDir: sharedCacheDir(cfg.out_dir), quiet: opts.quiet });
      process.stdout.write(`${dataset.name}: ${labelled.length} images in ${k} folds; ${cfg.model_name}, ${cfg.img_size} px, task ${cfg.task}\n`);
      const r = await crossValidate(cfg, { name: dataset.name, folds, load: images.load, preprocess: { ...preprocess } }, { mode, quiet: opts.quiet, log: (l) => process.stdout.write(`${l}\n`) });
      const op = r.operatingPoint;
      process.stdout.write(
        `CV AUROC ${r.aurocMean.toFixed(4)} +/- ${r.aurocSd.toFixed(4)} (mean +/- SD of ${k} folds); pooled OOF AUROC ${r.oofAuroc.toFixed(4)} [${r.oofAurocCi.lo.toFixed(4)}, ${r.oofAurocCi.hi.toFixed(4)}]\n` +
          (r.qwkMean !== undefined ? `CV QWK ${r.qwkMean.toFixed(4)} +/- ${(r.qwkSd as number).toFixed(4)}; pooled OOF QWK ${(r.oofQwk as number).toFixed(4)}\n` : '') +
          `OOF operating point (${op.mode}, target specificity ${op.targetSpecificity}): threshold ${op.threshold.toFixed(4)}, sensitivity ${op.sensitivity.toFixed(3)}, specificity ${op.specificity.toFixed(3)}\n` +
          `OOF referred by true grade at that threshold: ${formatReferralByGrade(r.oofReferralByGrade)}\n` +
          `summary: ${path.join(r.dir, 'cv.json')}; report of the OOF predictions: ${path.join(r.dir, 'report', 'report.md')}\n`,
      );
      if (opts.applyTo) {
        const sidecar = await readSidecar(opts.applyTo);
        sidecar.operatingPoint = {
          threshold: op.threshold,
          targetSpecificity: op.targetSpecificity,
          mode: op.mode,
          chosenOn: `${dataset.name} ${k}-fold out-of-fold predictions`,
          protocol: r.protocol,
          sensitivity: op.sensitivity,
          specificity: op.specificity,
          referralByGrade: r.oofReferralByGrade,
        };
        sidecar.metrics = {
          ...sidecar.metrics,
          cvFolds: k,
          cvAurocMean: r.aurocMean,
          cvAurocSd: r.aurocSd,
          oofAuroc: r.oofAuroc,
          oofAurocCi: [r.oofAurocCi.lo, r.oofAurocCi.hi],
          ...(r.qwkMean !== undefined ? { cvQwkMean: r.qwkMean, cvQwkSd: r.qwkSd, oofQwk: r.oofQwk } : {}),
        };
        await writeSidecar(opts.applyTo, sidecar);
        process.stdout.write(`operating point stored in ${opts.applyTo.replace(/\.onnx$/i, '.json')}\n`);
      }
    });
}
