/**
 * k-fold cross-validation of a training recipe over the development images, for two things a
 * single 90/10 split cannot give: the spread of the validation metric across folds, and an
 * operating point chosen on every development image at once. Each image is scored once, by
 * the fold model that did not train on it (out-of-fold, OOF), so the threshold rests on all the
 * negatives (~1,960 of APTOS's 3,300 images rather than 196 of a 330-image split) without
 * tuning on anything a model trained on. The threshold then applies to a model trained with the
 * same recipe on the whole development set or the usual split (as in Varma & Simon, BMC
 * Bioinformatics 7:91 (2006), the tuning happens inside the resampling, never on a test set).
 *
 * Folds run one after another, each a resumable run of `train` (<out_dir>/<run>-fold<i>); a fold
 * that finished is read back from its fold-<i>.json, so a killed CV continues where it stopped.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError, readFileOrFail, writeFileAtomic } from '../core/index.ts';
import type { SplitAssignment } from '../data/index.ts';
import { auroc, evaluatePredictions, predictedGrades, quadraticWeightedKappa, type EvaluationResult, type GradeReferral, type OperatingMode, type OperatingPoint } from '../evaluate/index.ts';
import { defaultRunName, runDir, type TrainConfig } from './config.ts';
import type { ImageLoader } from './data.ts';
import { writeValidationPredictions } from './logs.ts';
import { train, type ValidationPredictions } from './trainer.ts';

export interface CrossValidationData {
  /** Data set name (for sidecars), e.g. 'aptos2019-224'. */
  name: string;
  folds: SplitAssignment[];
  load: ImageLoader;
  preprocess: Record<string, unknown>;
}

export interface FoldResult {
  fold: number;
  runDir: string;
  nVal: number;
  auroc: number;
  qwk?: number;
}

export interface CrossValidationResult {
  /** <out_dir>/<run>-cv: cv.json, oof_predictions.csv, report/ (evaluate's report of the pooled OOF predictions). */
  dir: string;
  folds: FoldResult[];
  aurocMean: number;
  /** Sample standard deviation of the fold AUROCs. */
  aurocSd: number;
  /** AUROC of the pooled out-of-fold predictions, with its stratified-bootstrap 95% CI. */
  oofAuroc: number;
  oofAurocCi: { lo: number; hi: number };
  qwkMean?: number;
  qwkSd?: number;
  oofQwk?: number;
  /** Chosen on the pooled out-of-fold predictions. */
  operatingPoint: OperatingPoint;
  /** The pooled out-of-fold predictions at that operating point, referred by true grade. */
  oofReferralByGrade: GradeReferral[];
  /** One line for the sidecar and the model card. */
  protocol: string;
  oof: ValidationPredictions;
}

export interface CrossValidationOptions {
  /** Operating-point rule on the OOF predictions (default 'conservative'). */
  mode?: OperatingMode;
  quiet?: boolean;
  log?: (line: string) => void;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** Train one model per fold (resuming what exists), pool the OOF predictions, choose the threshold. */
export async function crossValidate(cfg: TrainConfig, data: CrossValidationData, opts: CrossValidationOptions = {}): Promise<CrossValidationResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const k = data.folds.length;
  if (k < 2) throw new DrXaiError(`cross-validation needs at least 2 folds, got ${k}`);
  const base = defaultRunName(cfg);
  const dir = path.join(path.resolve(cfg.out_dir), `${base}-cv`);
  await fsp.mkdir(dir, { recursive: true });
  const folds: FoldResult[] = [];
  const pooled: ValidationPredictions[] = [];
  for (const [i, split] of data.folds.entries()) {
    const foldCfg: TrainConfig = { ...cfg, run_name: `${base}-fold${i + 1}`, model_out: undefined };
    const done = path.join(dir, `fold-${i + 1}.json`);
    let v: ValidationPredictions;
    if (existsSync(done)) {
      v = JSON.parse((await readFileOrFail(done, 'cross-validation fold result')).toString('utf8')) as ValidationPredictions;
      const expected = new Set(split.val.map((s) => s.id));
      if (v.ids.length !== expected.size || v.ids.some((id) => !expected.has(id))) throw new DrXaiError(`fold ${i + 1} was run on other images than the fold holds now; remove ${dir} to start again`, { file: done });
      log(`fold ${i + 1}/${k}: done earlier (${done})`);
    } else {
      log(`fold ${i + 1}/${k}: ${split.train.length} train, ${split.val.length} val images`);
      const resume = existsSync(path.join(runDir(foldCfg), 'checkpoint.safetensors'));
      const r = await train(foldCfg, { name: data.name, train: split.train, val: split.val, load: data.load, preprocess: data.preprocess }, { resume, quiet: opts.quiet, log });
      v = r.validation;
      await writeFileAtomic(done, JSON.stringify(v));
    }
    const fold: FoldResult = { fold: i + 1, runDir: runDir(foldCfg), nVal: v.ids.length, auroc: auroc(v.labels, v.scores) };
    if (v.gradeProbs) fold.qwk = quadraticWeightedKappa(v.grades, predictedGrades(v.gradeProbs));
    log(`fold ${i + 1}/${k}: val AUROC ${fold.auroc.toFixed(4)}${fold.qwk !== undefined ? `, QWK ${fold.qwk.toFixed(4)}` : ''}`);
    folds.push(fold);
    pooled.push(v);
  }
  const oof: ValidationPredictions = {
    ids: pooled.flatMap((v) => v.ids),
    grades: pooled.flatMap((v) => v.grades),
    labels: pooled.flatMap((v) => v.labels),
    scores: pooled.flatMap((v) => v.scores),
    ...(pooled[0].gradeProbs ? { gradeProbs: pooled.flatMap((v) => v.gradeProbs as number[][]) } : {}),
  };
  const mode = opts.mode ?? 'conservative';
  // The pooled OOF predictions as one split of `evaluate` (report.md, plots, referral by grade),
  // with the threshold tuned on them: that is the operating point, and its bootstrap the AUROC's CI.
  const grade = cfg.task === 'grade';
  const evaluation = await evaluatePredictions({
    splits: { oof: grade ? { ids: oof.ids, labels: oof.grades, gradeProbs: oof.gradeProbs } : { ids: oof.ids, labels: oof.labels, scores: oof.scores, grades: oof.grades } },
    task: grade ? 'grade' : 'referable',
    tuneOn: 'oof',
    mode,
    fixSpecificity: cfg.fix_specificity,
    seed: cfg.seed,
    outDir: path.join(dir, 'report'),
    modelInfo: { recipe: base, model: cfg.model_name, cv: `${k} folds, out-of-fold predictions`, data: data.name },
  });
  // tuned, not given: no threshold was passed in
  const tuned = evaluation.thresholdSource as Extract<EvaluationResult['thresholdSource'], { kind: 'tuned' }>;
  const operatingPoint: OperatingPoint = { threshold: evaluation.threshold, mode: tuned.mode, targetSpecificity: tuned.targetSpecificity, sensitivity: tuned.sensitivity, specificity: tuned.specificity };
  const [pooledEvaluation] = evaluation.splits;
  const aurocs = folds.map((f) => f.auroc);
  const result: CrossValidationResult = {
    dir,
    folds,
    aurocMean: mean(aurocs),
    aurocSd: sd(aurocs),
    oofAuroc: pooledEvaluation.auroc,
    oofAurocCi: pooledEvaluation.bootstrap.auroc,
    operatingPoint,
    oofReferralByGrade: pooledEvaluation.referralByGrade as GradeReferral[],
    protocol:
      `${k}-fold stratified, duplicate-aware cross-validation of this recipe on ${data.name} (${oof.ids.length} images); ` +
      `threshold chosen on the pooled out-of-fold predictions, mode ${mode}, target specificity ${cfg.fix_specificity}`,
    oof,
  };
  if (oof.gradeProbs) {
    const qwks = folds.map((f) => f.qwk as number);
    result.qwkMean = mean(qwks);
    result.qwkSd = sd(qwks);
    result.oofQwk = pooledEvaluation.qwk;
  }
  const { oof: _pooled, ...summary } = result;
  await writeFileAtomic(path.join(dir, 'cv.json'), JSON.stringify(summary, null, 2) + '\n');
  await writeValidationPredictions(path.join(dir, 'oof_predictions.csv'), oof, pooled.flatMap((v, f) => v.ids.map(() => f + 1)));
  return result;
}
