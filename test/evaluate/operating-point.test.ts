import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrXaiError } from '../../src/core/index.ts';
import { chooseOperatingPoint } from '../../src/evaluate/index.ts';

// Ten negatives and six positives; walking the threshold down from the top:
//   >= 0.9: TP 1 FP 0 | >= 0.8: TP 2 FP 0 | >= 0.7: TP 2 FP 1 (spec 0.9) | >= 0.6: TP 3 FP 1
//   >= 0.5: TP 4 FP 1 | >= 0.45: TP 4 FP 2 (spec 0.8) | >= 0.42: TP 5 FP 2 | ...
const negatives = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.7];
const positives = [0.9, 0.8, 0.6, 0.5, 0.42, 0.3];
const labels = [...negatives.map(() => 0), ...positives.map(() => 1)];
const scores = [...negatives, ...positives];

test('constrained: best sensitivity with specificity >= target', () => {
  // Target 0.93: only FP = 0 qualifies (spec 0.9 < 0.93); the lowest such threshold is 0.8.
  assert.deepEqual(chooseOperatingPoint(labels, scores, { targetSpecificity: 0.93 }), {
    threshold: 0.8, mode: 'constrained', targetSpecificity: 0.93, sensitivity: 2 / 6, specificity: 1,
  });
  // Target 0.9: spec exactly 0.9 qualifies; 0.7, 0.6, 0.5 all give spec 0.9, 0.5 has the best sensitivity.
  const op = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.9 });
  assert.equal(op.threshold, 0.5);
  assert.equal(op.sensitivity, 4 / 6);
  assert.equal(op.specificity, 0.9);
  // Default target 0.95 behaves like 0.93 here.
  assert.equal(chooseOperatingPoint(labels, scores).threshold, 0.8);
});

test('closest: specificity closest to target, as the reference study chose', () => {
  // Target 0.93: spec 0.9 (distance 0.03) beats 1.0 (0.07), and 0.5 has the best sensitivity at spec 0.9.
  const op = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.93, mode: 'closest' });
  assert.equal(op.threshold, 0.5);
  assert.equal(op.specificity, 0.9);
  assert.equal(op.sensitivity, 4 / 6);
  // Target 0.95: 0.9 and 1.0 are equally far; the tie goes to the higher specificity.
  const tie = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.95, mode: 'closest' });
  assert.equal(tie.threshold, 0.8);
  assert.equal(tie.specificity, 1);
  // Target 0.82: spec 0.8 (>= 0.45 down to >= 0.42) is closest; 0.42 gives the better sensitivity.
  const low = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.82, mode: 'closest' });
  assert.equal(low.threshold, 0.42);
  assert.equal(low.specificity, 0.8);
  // The constrained choice at 0.82 must keep spec >= 0.82, i.e. 0.9, so it differs.
  assert.equal(chooseOperatingPoint(labels, scores, { targetSpecificity: 0.82 }).threshold, 0.5);
});

test('constrained: when no finite threshold meets the target, nothing is called positive', () => {
  const op = chooseOperatingPoint([0, 1, 0, 1], [0.9, 0.8, 0.3, 0.2], { targetSpecificity: 0.99 });
  assert.equal(op.threshold, Infinity);
  assert.equal(op.sensitivity, 0);
  assert.equal(op.specificity, 1);
});

test('operating point rejects bad options and one-class input', () => {
  assert.throws(() => chooseOperatingPoint(labels, scores, { targetSpecificity: 1 }), DrXaiError);
  assert.throws(() => chooseOperatingPoint(labels, scores, { mode: 'best' as never }), /'constrained', 'closest' or 'conservative'/);
  assert.throws(() => chooseOperatingPoint([0, 0], [0.1, 0.2]), /only one class/);
});

test('conservative: the Wilson 95% lower bound of specificity, not its point estimate, must reach the target', () => {
  // 100 negatives scored 1..100, 20 positives scored 80.5, 82.5, ..., 118.5.
  const labels = [...Array(100).fill(0), ...Array(20).fill(1)];
  const scores = [...Array.from({ length: 100 }, (_, i) => i + 1), ...Array.from({ length: 20 }, (_, i) => 80.5 + 2 * i)];
  // Point estimate: 10 false positives (91..100) give specificity 0.90; 15 positives are >= 90.5.
  assert.deepEqual(chooseOperatingPoint(labels, scores, { targetSpecificity: 0.9 }), { threshold: 90.5, mode: 'constrained', targetSpecificity: 0.9, sensitivity: 0.75, specificity: 0.9 });
  // Wilson lower bounds (scipy binomtest(k, 100).proportion_ci(method='wilson').low):
  // 96/100 -> 0.9016, 95/100 -> 0.8882, so at most 4 false positives (97..100); 12 positives are >= 96.5.
  const op = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.9, mode: 'conservative' });
  assert.deepEqual(op, { threshold: 96.5, mode: 'conservative', targetSpecificity: 0.9, sensitivity: 0.6, specificity: 0.96 });
});
