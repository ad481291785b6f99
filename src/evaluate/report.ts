import path from 'node:path';
import { classNamesFor, DISCLAIMER, DrXaiError, NUM_GRADES, REFERABLE_GRADE, toCsv, writeFileAtomic, writeHtmlReport } from '../core/index.ts';
import { stratifiedBootstrap, type BootstrapResult } from './bootstrap.ts';
import { brierScore, expectedCalibrationError, reliabilityBins, CALIBRATION_BINS, type ReliabilityBin } from './calibration.ts';
import { auroc, averagePrecision, prCurve, rocCurve, type PrCurve, type RocCurve } from './curves.ts';
import { checkGradeProbs, checkGrades, gradeConfusionMatrix, predictedGrades, quadraticWeightedKappa, referableProbability, referralByGrade, type GradeReferral } from './grade.ts';
import type { Interval } from './intervals.ts';
import { chooseOperatingPoint, metricsAtThreshold, type OperatingMode, type ThresholdMetrics } from './operating-point.ts';
import { calibrationSpec, gradeConfusionSpec, prSpec, renderPlot, rocSpec, type PlotOperatingPoint } from './plots.ts';
import { checkBinaryInputs } from './validate.ts';

/**
 * Model outputs for one split. Task 'referable': `labels` are 0/1 (1 = referable DR) and
 * `scores` the predicted probability of referable DR. Task 'grade': `labels` are grades 0..4
 * and `gradeProbs` the N x 5 grade probabilities (of a softmax or an ordinal head, core/tasks.ts);
 * the referable score is P(grade >= 2). `grades`, for task 'referable': the true grades 0..4
 * of the images, when the data set has them (the report then breaks referral down by grade; a
 * grade task's labels are its grades).
 */
export interface SplitPredictions {
  ids: string[];
  labels: number[];
  scores?: number[];
  gradeProbs?: number[][];
  grades?: number[];
}

/** A photograph left out of the metrics: unreadable, or ungradable (never scored as a negative). */
export interface ExcludedImage {
  split: string;
  id: string;
  kind: 'unreadable' | 'ungradable';
  reason: string;
}

export interface EvaluateOptions {
  splits: Record<string, SplitPredictions>;
  /** Photographs of the splits that were left out, listed in the report and excluded.csv. */
  excluded?: ExcludedImage[];
  task: 'referable' | 'grade';
  /** Target specificity for the operating point; default 0.95. */
  fixSpecificity?: number;
  mode?: OperatingMode;
  /** Split the threshold is tuned on; default 'val'. */
  tuneOn?: string;
  /** A stored threshold to apply unchanged instead of tuning (external validation). */
  thresholdFrom?: number;
  /** Bootstrap resamples; default 2000. */
  bootstrap?: number;
  seed?: number;
  outDir: string;
  modelInfo?: Record<string, string | number | boolean>;
}

export interface SplitEvaluation {
  split: string;
  n: number;
  positives: number;
  auroc: number;
  auprc: number;
  brier: number;
  ece: number;
  atThreshold: ThresholdMetrics;
  bootstrap: BootstrapResult;
  reliability: ReliabilityBin[];
  roc: RocCurve;
  pr: PrCurve;
  /** Grade task only. */
  qwk?: number;
  gradeConfusion?: number[][];
  /** Referral at the threshold by true grade, when the grades are known. */
  referralByGrade?: GradeReferral[];
}

/** One line of metrics_summary.csv (and of `formatMetricsTable`). */
export interface MetricsRow {
  split: string;
  n: number;
  positives: number;
  auroc: number;
  auroc_lo: number;
  auroc_hi: number;
  auprc: number;
  auprc_lo: number;
  auprc_hi: number;
  threshold: number;
  sens: number;
  sens_lo: number;
  sens_hi: number;
  spec: number;
  spec_lo: number;
  spec_hi: number;
  ppv: number | null;
  npv: number | null;
  f1: number;
  brier: number;
  ece: number;
  qwk?: number;
}

export const SUMMARY_COLUMNS = [
  'split', 'n', 'positives', 'auroc', 'auroc_lo', 'auroc_hi', 'auprc', 'auprc_lo', 'auprc_hi', 'threshold',
  'sens', 'sens_lo', 'sens_hi', 'spec', 'spec_lo', 'spec_hi', 'ppv', 'npv', 'f1', 'brier', 'ece',
] as const;

export interface EvaluationResult {
  task: 'referable' | 'grade';
  threshold: number;
  /** How the threshold was obtained. */
  thresholdSource: { kind: 'tuned'; split: string; mode: OperatingMode; targetSpecificity: number; sensitivity: number; specificity: number } | { kind: 'given' };
  splits: SplitEvaluation[];
  rows: MetricsRow[];
  /** Absolute paths of the files written. */
  files: string[];
}

const SPLIT_NAME = /^[A-Za-z0-9_-]+$/;

interface PreparedSplit {
  name: string;
  ids: string[];
  labels: number[];
  scores: number[];
  grades?: number[];
  gradeProbs?: number[][];
  predictedGrades?: number[];
}

function prepareSplit(name: string, s: SplitPredictions, task: EvaluateOptions['task']): PreparedSplit {
  const what = `split '${name}'`;
  if (!SPLIT_NAME.test(name)) throw new DrXaiError(`${what}: split names may use only letters, digits, '_' and '-' (they name files)`);
  if (!s || !Array.isArray(s.ids) || !Array.isArray(s.labels)) throw new DrXaiError(`${what}: needs ids and labels arrays`);
  if (s.ids.length !== s.labels.length) throw new DrXaiError(`${what}: ${s.ids.length} ids but ${s.labels.length} labels`);
  const seen = new Set<string>();
  for (const id of s.ids) {
    if (seen.has(id)) throw new DrXaiError(`${what}: id '${id}' appears more than once`);
    seen.add(id);
  }
  if (task === 'referable') {
    if (!s.scores) throw new DrXaiError(`${what}: task 'referable' needs scores (probability of referable DR)`);
    checkBinaryInputs(s.labels, s.scores, what, { probabilities: true });
    if (s.grades !== undefined) checkGradesMatchLabels(s.grades, s.labels, what);
    return { name, ids: s.ids, labels: s.labels, scores: s.scores, ...(s.grades !== undefined ? { grades: s.grades } : {}) };
  }
  if (!s.gradeProbs) throw new DrXaiError(`${what}: task 'grade' needs gradeProbs (N x ${NUM_GRADES} probabilities)`);
  if (s.gradeProbs.length !== s.labels.length) throw new DrXaiError(`${what}: ${s.labels.length} labels but ${s.gradeProbs.length} rows of grade probabilities`);
  checkGradeProbs(s.gradeProbs, `${what} grade probabilities`);
  // Summing five float32 probabilities can step a hair outside [0, 1]; clamp that rounding only.
  const scores = referableProbability(s.gradeProbs).map((p) => Math.min(1, Math.max(0, p)));
  const labels = s.labels.map((g, i) => {
    if (!Number.isInteger(g) || g < 0 || g >= NUM_GRADES) throw new DrXaiError(`${what}: label at index ${i} is ${g}; grades must be integers 0..${NUM_GRADES - 1}`);
    return g >= REFERABLE_GRADE ? 1 : 0;
  });
  checkBinaryInputs(labels, scores, `${what} (referable = grade >= ${REFERABLE_GRADE})`, { probabilities: true });
  return { name, ids: s.ids, labels, scores, grades: s.labels, gradeProbs: s.gradeProbs, predictedGrades: predictedGrades(s.gradeProbs) };
}

/** A referable split's grades: one per image, 0..4, and every image of a grade with the same label (the task's rule). */
function checkGradesMatchLabels(grades: number[], labels: number[], what: string): void {
  if (!Array.isArray(grades) || grades.length !== labels.length) throw new DrXaiError(`${what}: ${labels.length} labels but ${Array.isArray(grades) ? grades.length : 'no array of'} grades`);
  checkGrades(grades, `${what} grades`);
  const labelOf = new Map<number, number>();
  grades.forEach((g, i) => {
    const seen = labelOf.get(g);
    if (seen === undefined) labelOf.set(g, labels[i]);
    else if (seen !== labels[i]) throw new DrXaiError(`${what}: grade ${g} has images labelled ${seen} and ${labels[i]} (at index ${i}); labels must follow from the grades`);
  });
}

function evaluateSplit(p: PreparedSplit, threshold: number, resamples: number, seed: number): SplitEvaluation {
  const at = metricsAtThreshold(p.labels, p.scores, threshold);
  const ev: SplitEvaluation = {
    split: p.name,
    n: p.labels.length,
    positives: at.tp + at.fn,
    auroc: auroc(p.labels, p.scores),
    auprc: averagePrecision(p.labels, p.scores),
    brier: brierScore(p.labels, p.scores),
    ece: expectedCalibrationError(p.labels, p.scores, CALIBRATION_BINS),
    atThreshold: at,
    bootstrap: stratifiedBootstrap(p.labels, p.scores, { threshold, resamples, seed }),
    reliability: reliabilityBins(p.labels, p.scores, CALIBRATION_BINS),
    roc: rocCurve(p.labels, p.scores),
    pr: prCurve(p.labels, p.scores),
  };
  if (p.grades && p.predictedGrades) {
    ev.qwk = quadraticWeightedKappa(p.grades, p.predictedGrades);
    ev.gradeConfusion = gradeConfusionMatrix(p.grades, p.predictedGrades);
  }
  if (p.grades) ev.referralByGrade = referralByGrade(p.grades, p.scores, threshold);
  return ev;
}

function toRow(e: SplitEvaluation): MetricsRow {
  const b = e.bootstrap;
  const a = e.atThreshold;
  return {
    split: e.split, n: e.n, positives: e.positives,
    auroc: e.auroc, auroc_lo: b.auroc.lo, auroc_hi: b.auroc.hi,
    auprc: e.auprc, auprc_lo: b.auprc.lo, auprc_hi: b.auprc.hi,
    threshold: a.threshold,
    sens: a.sensitivity, sens_lo: b.sensitivity.lo, sens_hi: b.sensitivity.hi,
    spec: a.specificity, spec_lo: b.specificity.lo, spec_hi: b.specificity.hi,
    ppv: a.ppv, npv: a.npv, f1: a.f1, brier: e.brier, ece: e.ece,
    ...(e.qwk !== undefined ? { qwk: e.qwk } : {}),
  };
}

function summaryCsv(rows: MetricsRow[], grade: boolean): string {
  const cols: string[] = [...SUMMARY_COLUMNS, ...(grade ? ['qwk'] : [])];
  return toCsv(cols, rows.map((r) => cols.map((c) => (r as unknown as Record<string, number | string | null>)[c])), { nullAs: 'NA' });
}

/** One row an image; the true grade when known (always for a grade task, which adds its predictions). */
function predictionsCsv(prepared: PreparedSplit[], threshold: number, grade: boolean): string {
  const withGrades = prepared.some((p) => p.grades);
  const gradeCols = [...(withGrades ? ['grade'] : []), ...(grade ? ['predicted_grade', ...Array.from({ length: NUM_GRADES }, (_, g) => `p_grade${g}`)] : [])];
  const rows = prepared.flatMap((p) =>
    p.ids.map((id, i) => {
      const extra = [...(withGrades ? [p.grades ? p.grades[i] : null] : []), ...(grade ? [p.predictedGrades![i], ...p.gradeProbs![i]] : [])];
      return [p.name, id, p.labels[i], p.scores[i], p.scores[i] >= threshold ? 1 : 0, ...extra];
    }),
  );
  return toCsv(['split', 'id', 'label', 'score', 'decision', ...gradeCols], rows, { nullAs: 'NA' });
}

function referralCsv(splits: SplitEvaluation[]): string {
  const rows = splits.flatMap((e) => (e.referralByGrade ?? []).map((r) => [e.split, r.grade, r.n, r.referred, r.share, r.interval?.lo ?? null, r.interval?.hi ?? null]));
  return toCsv(['split', 'grade', 'n', 'referred', 'share', 'share_lo', 'share_hi'], rows, { nullAs: 'NA' });
}

const threeDecimals = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : Number.isFinite(x) ? x.toFixed(3) : String(x));
const withInterval = (x: number, i: { lo: number; hi: number }) => `${threeDecimals(x)} [${threeDecimals(i.lo)}, ${threeDecimals(i.hi)}]`;

/** A short fixed-width table of the headline metrics for the terminal (3 decimals, 95% CIs). */
export function formatMetricsTable(rows: MetricsRow[]): string {
  const grade = rows.some((r) => r.qwk !== undefined);
  const header = ['split', 'n', 'pos', 'AUROC [95% CI]', 'AP [95% CI]', 'threshold', 'sens [95% CI]', 'spec [95% CI]', 'PPV', 'NPV', 'Brier', 'ECE', ...(grade ? ['QWK'] : [])];
  const body = rows.map((r) => [
    r.split, String(r.n), String(r.positives),
    withInterval(r.auroc, { lo: r.auroc_lo, hi: r.auroc_hi }), withInterval(r.auprc, { lo: r.auprc_lo, hi: r.auprc_hi }),
    threeDecimals(r.threshold), withInterval(r.sens, { lo: r.sens_lo, hi: r.sens_hi }), withInterval(r.spec, { lo: r.spec_lo, hi: r.spec_hi }),
    threeDecimals(r.ppv), threeDecimals(r.npv), threeDecimals(r.brier), threeDecimals(r.ece), ...(grade ? [threeDecimals(r.qwk)] : []),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((line) => line[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function reportMarkdown(result: Omit<EvaluationResult, 'files'>, opts: EvaluateOptions, plotFiles: string[], prepared: PreparedSplit[]): string {
  const { rows, splits, threshold, thresholdSource } = result;
  const md: string[] = [];
  md.push('# dr-xai evaluation report', '', `> **${DISCLAIMER}**`, '');
  if (opts.modelInfo && Object.keys(opts.modelInfo).length) {
    md.push('## Model', '');
    for (const [k, v] of Object.entries(opts.modelInfo)) md.push(`- **${k}**: ${String(v)}`);
    md.push('');
  }
  md.push('## Operating point', '');
  md.push(`Decision rule: an image is called **referable** when its score (predicted probability of referable DR${result.task === 'grade' ? ', P(grade >= 2) = sum of the grade 2-4 probabilities' : ''}) is **>= ${threeDecimals(threshold)}** (exact threshold ${threshold}).`, '');
  if (thresholdSource.kind === 'tuned') {
    const target = thresholdSource.targetSpecificity;
    const how = {
      constrained: `the highest sensitivity with specificity >= ${target}`,
      conservative: `the highest sensitivity with the Wilson 95% lower bound of specificity >= ${target}`,
      closest: `the specificity closest to ${target} (the reference study's rule)`,
    }[thresholdSource.mode];
    md.push(`Tuned on split **${thresholdSource.split}** for ${how}: sensitivity ${threeDecimals(thresholdSource.sensitivity)}, specificity ${threeDecimals(thresholdSource.specificity)} there. It is applied unchanged to every other split, so only those are unbiased estimates.`, '');
    if (threshold === Infinity) md.push('**Warning:** no finite threshold met the specificity target; the operating point calls nothing referable.', '');
  } else {
    md.push('Threshold given by the caller (stored from an earlier tuning) and applied unchanged to every split; nothing was tuned on these data.', '');
  }
  md.push('## Metrics', '');
  md.push(`95% CIs: stratified bootstrap (${opts.bootstrap ?? 2000} resamples, positives and negatives resampled separately, seed ${opts.seed ?? 42}, percentile intervals); the threshold is held fixed in every resample.`, '');
  const grade = result.task === 'grade';
  md.push(`| split | n | referable | AUROC [95% CI] | AP [95% CI] | sensitivity [95% CI] | specificity [95% CI] | PPV | NPV | F1 | Brier | ECE${grade ? ' | QWK' : ''} |`);
  md.push(`|---|---:|---:|---|---|---|---|---:|---:|---:|---:|---:${grade ? '|---:' : ''}|`);
  for (const r of rows) {
    const tunedHere = thresholdSource.kind === 'tuned' && thresholdSource.split === r.split ? ' (threshold tuned here)' : '';
    md.push(`| ${r.split}${tunedHere} | ${r.n} | ${r.positives} | ${withInterval(r.auroc, { lo: r.auroc_lo, hi: r.auroc_hi })} | ${withInterval(r.auprc, { lo: r.auprc_lo, hi: r.auprc_hi })} | ${withInterval(r.sens, { lo: r.sens_lo, hi: r.sens_hi })} | ${withInterval(r.spec, { lo: r.spec_lo, hi: r.spec_hi })} | ${threeDecimals(r.ppv)} | ${threeDecimals(r.npv)} | ${threeDecimals(r.f1)} | ${threeDecimals(r.brier)} | ${threeDecimals(r.ece)}${grade ? ` | ${threeDecimals(r.qwk)}` : ''} |`);
  }
  md.push('', '### Confusion at the operating point, with Wilson 95% intervals (cross-check)', '');
  md.push('| split | TP | FP | TN | FN | sensitivity (Wilson) | specificity (Wilson) | PPV (Wilson) | NPV (Wilson) |');
  md.push('|---|---:|---:|---:|---:|---|---|---|---|');
  for (const e of splits) {
    const a = e.atThreshold;
    const w = (x: number | null, i: Interval | null) => (x === null || i === null ? 'n/a' : withInterval(x, i));
    md.push(`| ${e.split} | ${a.tp} | ${a.fp} | ${a.tn} | ${a.fn} | ${w(a.sensitivity, a.wilson.sensitivity)} | ${w(a.specificity, a.wilson.specificity)} | ${w(a.ppv, a.wilson.ppv)} | ${w(a.npv, a.wilson.npv)} |`);
  }
  md.push('', 'PPV and NPV depend on the prevalence of the split and do not transfer to a population with another prevalence.', '');
  const byGrade = splits.filter((e) => e.referralByGrade);
  if (byGrade.length > 0) {
    md.push('### Referred at the operating point, by true grade', '');
    md.push(
      'Each cell: photographs of that grade called referable / all of that grade = share, Wilson 95% interval. For the grades counted as positive (*) the share is the sensitivity within the grade: the pooled sensitivity counts a missed grade 4 (proliferative DR) the same as a missed grade 2, this table does not. For the others it is the false-referral rate.',
      '',
    );
    const positive = new Set<number>(); // the grades whose images are labelled 1
    for (const p of prepared) p.grades?.forEach((g, i) => {
      if (p.labels[i] === 1) positive.add(g);
    });
    const names = classNamesFor('grade');
    md.push(`| split | ${names.map((nm, g) => `${nm}${positive.has(g) ? ' *' : ''}`).join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`);
    for (const e of byGrade) {
      const cells = e.referralByGrade!.map((r) => (r.share === null || r.interval === null ? 'none' : `${r.referred}/${r.n} = ${withInterval(r.share, r.interval)}`));
      md.push(`| ${e.split} | ${cells.join(' | ')} |`);
    }
    md.push('');
  }
  if (grade) {
    md.push('## Five-grade agreement', '', 'Predicted grade = the expected grade sum_g g P(g), rounded (see src/evaluate/grade.ts). Quadratic weighted kappa over the full 0-4 scale. Rows: true grade, columns: predicted grade.', '');
    for (const e of splits) {
      md.push(`**${e.split}**: QWK ${threeDecimals(e.qwk)}`, '', '| true \\ pred | 0 | 1 | 2 | 3 | 4 |', '|---|---:|---:|---:|---:|---:|');
      e.gradeConfusion!.forEach((row, g) => md.push(`| ${g} | ${row.join(' | ')} |`));
      md.push('');
    }
  }
  const excluded = opts.excluded ?? [];
  md.push('## Left out', '');
  if (excluded.length === 0) md.push('No photograph was left out: every one was readable and gradable.', '');
  else {
    const count = (kind: ExcludedImage['kind']) => excluded.filter((e) => e.kind === kind).length;
    md.push(`${excluded.length} photograph(s) are not in the metrics above: ${count('ungradable')} ungradable (the quality gate; a screening would give them no decision) and ${count('unreadable')} unreadable. All are in excluded.csv.`, '');
    md.push('| split | id | kind | reason |', '|---|---|---|---|');
    for (const e of excluded.slice(0, 50)) md.push(`| ${e.split} | ${e.id.replace(/\|/g, '\\|')} | ${e.kind} | ${e.reason.replace(/\|/g, '\\|')} |`);
    if (excluded.length > 50) md.push(`| ... | ${excluded.length - 50} more in excluded.csv | | |`);
    md.push('');
  }
  md.push('## Plots', '');
  for (const f of plotFiles) md.push(`![${f}](${f})`, '');
  md.push('## Definitions', '');
  md.push(
    '- AUROC: trapezoidal area under the ROC curve (ties count one half), as scikit-learn `roc_auc_score`.',
    '- AP: average precision, sum over thresholds of (R_n - R_{n-1}) P_n, as scikit-learn `average_precision_score` (no interpolation).',
    '- Brier: mean squared error of the predicted probability. ECE: sum over 15 equal-width bins (b/15, (b+1)/15] (first bin includes 0) of (n_b / N) |fraction positive - mean predicted probability|.',
    '',
  );
  return md.join('\n');
}

/**
 * Score predictions on every split, write the artifacts to `outDir` and return the numbers.
 * Files: <split>_roc.png/.svg and <split>_pr.png/.svg per split, calibration.png/.svg,
 * metrics_summary.csv, predictions.csv, excluded.csv, report.md and report.html; with grades
 * (a grade task, or `grades` given) referral_by_grade.csv too. Every check and every plot is
 * done before the first file is written, and each file is written atomically, so bad input
 * leaves nothing.
 */
export async function evaluatePredictions(opts: EvaluateOptions): Promise<EvaluationResult> {
  const { task } = opts;
  if (task !== 'referable' && task !== 'grade') throw new DrXaiError(`task must be 'referable' or 'grade', got '${task}'`);
  const names = Object.keys(opts.splits ?? {});
  if (names.length === 0) throw new DrXaiError('no splits to evaluate');
  const resamples = opts.bootstrap ?? 2000;
  const seed = opts.seed ?? 42;
  const prepared = names.map((name) => prepareSplit(name, opts.splits[name], task));

  let threshold: number;
  let thresholdSource: EvaluationResult['thresholdSource'];
  if (opts.thresholdFrom !== undefined) {
    // +Infinity is a legitimate stored threshold (tuning found none meeting the target: call nothing referable).
    if (typeof opts.thresholdFrom !== 'number' || Number.isNaN(opts.thresholdFrom)) throw new DrXaiError(`thresholdFrom must be a number, got ${opts.thresholdFrom}`);
    threshold = opts.thresholdFrom;
    thresholdSource = { kind: 'given' };
  } else {
    const tuneOn = opts.tuneOn ?? 'val';
    const tuning = prepared.find((p) => p.name === tuneOn);
    if (!tuning) throw new DrXaiError(`no '${tuneOn}' split to tune the threshold on (splits: ${names.join(', ')}); pass thresholdFrom for external validation`);
    const op = chooseOperatingPoint(tuning.labels, tuning.scores, { targetSpecificity: opts.fixSpecificity ?? 0.95, mode: opts.mode ?? 'constrained' });
    threshold = op.threshold;
    thresholdSource = { kind: 'tuned', split: tuneOn, mode: op.mode, targetSpecificity: op.targetSpecificity, sensitivity: op.sensitivity, specificity: op.specificity };
  }

  const splits = prepared.map((p) => evaluateSplit(p, threshold, resamples, seed));
  const rows = splits.map(toRow);

  const plots: Array<{ name: string; rendered: { svg: string; png: Buffer } }> = [];
  for (const e of splits) {
    const op: PlotOperatingPoint = {
      threshold,
      sensitivity: e.atThreshold.sensitivity,
      sensitivityCi: e.bootstrap.sensitivity,
      specificity: e.atThreshold.specificity,
      specificityCi: e.bootstrap.specificity,
      ppv: e.atThreshold.ppv,
    };
    plots.push({ name: `${e.split}_roc`, rendered: await renderPlot(rocSpec(e.split, e.roc, e.auroc, e.bootstrap.auroc, op)) });
    plots.push({ name: `${e.split}_pr`, rendered: await renderPlot(prSpec(e.split, e.pr, e.auprc, e.bootstrap.auprc, e.positives / e.n, op)) });
  }
  for (const e of splits) {
    if (e.gradeConfusion && e.qwk !== undefined) plots.push({ name: `${e.split}_confusion`, rendered: await renderPlot(gradeConfusionSpec(e.split, e.gradeConfusion, e.qwk)) });
  }
  plots.push({ name: 'calibration', rendered: await renderPlot(calibrationSpec(splits.map((e) => ({ split: e.split, bins: e.reliability, ece: e.ece, brier: e.brier })))) });

  const partial = { task, threshold, thresholdSource, splits, rows };
  const contents: Array<[string, string | Uint8Array]> = [];
  for (const p of plots) {
    contents.push([`${p.name}.png`, p.rendered.png], [`${p.name}.svg`, p.rendered.svg]);
  }
  contents.push(['metrics_summary.csv', summaryCsv(rows, task === 'grade')]);
  contents.push(['predictions.csv', predictionsCsv(prepared, threshold, task === 'grade')]);
  contents.push(['excluded.csv', toCsv(['split', 'id', 'kind', 'reason'], (opts.excluded ?? []).map((e) => [e.split, e.id, e.kind, e.reason]))]);
  if (splits.some((e) => e.referralByGrade)) contents.push(['referral_by_grade.csv', referralCsv(splits)]);
  contents.push(['report.md', reportMarkdown(partial, opts, plots.map((p) => `${p.name}.png`), prepared)]);
  const files: string[] = [];
  for (const [name, data] of contents) {
    const file = path.resolve(opts.outDir, name);
    await writeFileAtomic(file, data);
    files.push(file);
  }
  files.push(await writeHtmlReport(path.resolve(opts.outDir, 'report.md')));
  return { ...partial, files };
}
