import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DrXaiError } from '../../src/core/index.ts';
import {
  auroc,
  averagePrecision,
  brierScore,
  confusionAt,
  expectedCalibrationError,
  gradeConfusionMatrix,
  metricsAtThreshold,
  predictedGrades,
  prCurve,
  quadraticWeightedKappa,
  referableProbability,
  reliabilityBins,
  rocCurve,
  wilsonInterval,
} from '../../src/evaluate/index.ts';

// Reference values: scikit-learn 1.2 / scipy, made by scripts/fixtures/make_metric_fixtures.py.
interface BinaryRecord {
  labels: number[];
  scores: number[];
  roc: { fpr: number[]; tpr: number[]; thresholds: number[] };
  auroc: number;
  pr: { precision: number[]; recall: number[]; thresholds: number[] };
  average_precision: number;
  brier: number;
  calibration: { prob_true: number[]; prob_pred: number[]; counts: number[]; ece: number };
  at_median: { threshold: number; tp: number; fp: number; tn: number; fn: number; f1: number };
}
interface GradeRecord {
  grades: number[];
  probs: number[][];
  predicted: number[];
  qwk: number;
  qwk_sklearn_present_labels_only: number;
  confusion: number[][];
  referable_auroc: number;
}
const fixtures = JSON.parse(readFileSync(path.join(import.meta.dirname, '../fixtures/evaluate/metrics.json'), 'utf8')) as {
  binary: Record<string, BinaryRecord>;
  grade: Record<string, GradeRecord>;
  wilson: Array<{ successes: number; trials: number; lo: number; hi: number }>;
};

const TOL = 1e-9;
function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs sklearn ${expected}`);
}
function closeArray(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs sklearn ${expected.length}`);
  for (let i = 0; i < expected.length; i++) close(actual[i], expected[i], `${what}[${i}]`);
}

for (const [name, ref] of Object.entries(fixtures.binary)) {
  test(`binary metrics match scikit-learn 1.2: ${name}`, () => {
    const { labels: y, scores: s } = ref;
    const roc = rocCurve(y, s);
    closeArray(roc.fpr, ref.roc.fpr, 'fpr');
    closeArray(roc.tpr, ref.roc.tpr, 'tpr');
    closeArray(roc.thresholds, ref.roc.thresholds, 'roc thresholds');
    close(auroc(y, s), ref.auroc, 'AUROC');
    const pr = prCurve(y, s);
    closeArray(pr.precision, ref.pr.precision, 'precision');
    closeArray(pr.recall, ref.pr.recall, 'recall');
    closeArray(pr.thresholds, ref.pr.thresholds, 'pr thresholds');
    close(averagePrecision(y, s), ref.average_precision, 'AP');
    close(brierScore(y, s), ref.brier, 'Brier');
    const bins = reliabilityBins(y, s);
    assert.equal(bins.length, 15);
    assert.deepEqual(bins.map((b) => b.count), ref.calibration.counts);
    const filled = bins.filter((b) => b.count > 0);
    closeArray(filled.map((b) => b.fractionPositive!), ref.calibration.prob_true, 'fraction positive');
    closeArray(filled.map((b) => b.meanPredicted!), ref.calibration.prob_pred, 'mean predicted');
    close(expectedCalibrationError(y, s), ref.calibration.ece, 'ECE');
    const m = metricsAtThreshold(y, s, ref.at_median.threshold);
    const { tp, fp, tn, fn } = ref.at_median;
    assert.deepEqual({ tp: m.tp, fp: m.fp, tn: m.tn, fn: m.fn }, { tp, fp, tn, fn });
    close(m.f1, ref.at_median.f1, 'F1');
  });
}

for (const [name, ref] of Object.entries(fixtures.grade)) {
  test(`grade metrics match scikit-learn 1.2: ${name}`, () => {
    // The fixture's predicted grade is numpy's argmax (scripts/fixtures); the 'expected' rule is tested below.
    const pred = predictedGrades(ref.probs, 'argmax');
    assert.deepEqual(pred, ref.predicted);
    close(quadraticWeightedKappa(ref.grades, pred), ref.qwk, 'QWK');
    assert.deepEqual(gradeConfusionMatrix(ref.grades, pred), ref.confusion);
    const referable = ref.grades.map((g) => (g >= 2 ? 1 : 0));
    close(auroc(referable, referableProbability(ref.probs)), ref.referable_auroc, 'referable AUROC');
  });
}

test('QWK uses the full 0..4 scale, not only the grades present (sklearn without labels differs)', () => {
  const ref = fixtures.grade.missing_grade;
  assert.ok(Math.abs(ref.qwk - ref.qwk_sklearn_present_labels_only) > 0.01, 'fixture must show the difference');
  close(quadraticWeightedKappa(ref.grades, ref.predicted), ref.qwk, 'QWK');
  assert.equal(quadraticWeightedKappa([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]), 1);
});

test('Wilson intervals match scipy binomtest(...).proportion_ci(method="wilson")', () => {
  for (const w of fixtures.wilson) {
    const ci = wilsonInterval(w.successes, w.trials);
    close(ci.lo, w.lo, `Wilson lo ${w.successes}/${w.trials}`);
    close(ci.hi, w.hi, `Wilson hi ${w.successes}/${w.trials}`);
  }
});

test('threshold metrics: hand-counted confusion, undefined PPV/NPV are null', () => {
  const y = [1, 1, 1, 0, 0, 0, 0];
  const s = [0.9, 0.6, 0.2, 0.6, 0.3, 0.1, 0.05];
  // score >= 0.6 is positive: the tie at 0.6 counts on both sides.
  const m = metricsAtThreshold(y, s, 0.6);
  assert.deepEqual({ tp: m.tp, fp: m.fp, tn: m.tn, fn: m.fn }, { tp: 2, fp: 1, tn: 3, fn: 1 });
  assert.equal(m.sensitivity, 2 / 3);
  assert.equal(m.specificity, 3 / 4);
  assert.equal(m.ppv, 2 / 3);
  assert.equal(m.npv, 3 / 4);
  assert.equal(m.f1, 4 / 6);
  const none = metricsAtThreshold(y, s, Infinity);
  assert.equal(none.ppv, null);
  assert.equal(none.wilson.ppv, null);
  assert.equal(none.npv, 4 / 7);
  assert.equal(metricsAtThreshold(y, s, 0).npv, null);
  assert.deepEqual(confusionAt([0, 0], [0.1, 0.9], 0.5), { tp: 0, fp: 1, tn: 1, fn: 0 });
});

test('degenerate inputs raise DrXaiError, never a number', () => {
  const isUser = (re: RegExp) => (e: unknown) => e instanceof DrXaiError && re.test(e.message);
  assert.throws(() => auroc([1, 1, 1], [0.1, 0.2, 0.3]), isUser(/only one class/));
  assert.throws(() => averagePrecision([0, 0], [0.1, 0.2]), isUser(/only one class/));
  assert.throws(() => auroc([], []), isUser(/empty/));
  assert.throws(() => auroc([0, 1], [0.1]), isUser(/2 labels but 1 scores/));
  assert.throws(() => auroc([0, 1], [0.1, NaN]), isUser(/index 1 is NaN/));
  assert.throws(() => rocCurve([0, 1], [Infinity, 0.1]), isUser(/finite/));
  assert.throws(() => auroc([0, 2], [0.1, 0.2]), isUser(/must be 0 or 1/));
  assert.throws(() => brierScore([0, 1], [0.1, 1.5]), isUser(/probability in \[0, 1\]/));
  assert.throws(() => expectedCalibrationError([0, 1], [-0.1, 0.5]), isUser(/probability/));
  assert.throws(() => metricsAtThreshold([1, 1], [0.2, 0.3], 0.5), isUser(/only one class/));
  assert.throws(() => quadraticWeightedKappa([2, 2, 2], [2, 2, 2]), isUser(/undefined/));
  assert.throws(() => quadraticWeightedKappa([0, 5], [0, 1]), isUser(/grade at index 1 is 5/));
  assert.throws(() => quadraticWeightedKappa([0, 1], [0]), isUser(/2 true grades but 1/));
  assert.throws(() => referableProbability([[0.5, 0.5, 0, 0]]), isUser(/4 values/));
  assert.throws(() => referableProbability([[0.5, 0.6, 0, 0, 0]]), isUser(/sums to/));
  assert.throws(() => predictedGrades([[NaN, 1, 0, 0, 0]]), isUser(/row 0 grade 0 is NaN/));
  // Brier and ECE are defined for one class (no ranking needed).
  assert.equal(brierScore([1, 1], [1, 0.5]), 0.125);
  assert.equal(expectedCalibrationError([1, 1], [1, 1]), 0);
});

test("predictedGrades 'expected': the expected grade rounded half up, clamped to 0..4", () => {
  const probs = [
    [1, 0, 0, 0, 0], // E = 0
    [0.4, 0.35, 0.25, 0, 0], // E = 0.85 -> 1, while argmax says 0
    [0, 0.5, 0, 0.5, 0], // E = 2 -> 2, argmax 1 (lowest on ties)
    [0, 0, 0.5, 0.5, 0], // E = 2.5 -> 3 (halves up)
    [0, 0, 0, 0.1, 0.9], // E = 3.9 -> 4
  ];
  assert.deepEqual(predictedGrades(probs), [0, 1, 2, 3, 4]);
  assert.deepEqual(predictedGrades(probs, 'argmax'), [0, 0, 1, 2, 4]);
});
