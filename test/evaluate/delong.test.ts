// DeLong's test: the midrank implementation against the definition (O(mn) structural
// components written out in the test) and against values worked by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import { auroc, delongTest } from '../../src/evaluate/index.ts';

/** DeLong et al. 1988, eq. for V10, V01 and S10, S01, computed literally. */
function bruteForce(labels: number[], s1: number[], s2: number[]) {
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const pos = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const neg = labels.flatMap((l, i) => (l === 0 ? [i] : []));
  const comp = (s: number[]) => ({
    v10: pos.map((i) => neg.reduce((a, j) => a + psi(s[i], s[j]), 0) / neg.length),
    v01: neg.map((j) => pos.reduce((a, i) => a + psi(s[i], s[j]), 0) / pos.length),
  });
  const cov = (a: number[], b: number[]) => {
    const ma = a.reduce((x, y) => x + y, 0) / a.length;
    const mb = b.reduce((x, y) => x + y, 0) / b.length;
    return a.reduce((acc, _, i) => acc + (a[i] - ma) * (b[i] - mb), 0) / (a.length - 1);
  };
  const a = comp(s1);
  const b = comp(s2);
  const v = (cov(a.v10, a.v10) + cov(b.v10, b.v10) - 2 * cov(a.v10, b.v10)) / pos.length + (cov(a.v01, a.v01) + cov(b.v01, b.v01) - 2 * cov(a.v01, b.v01)) / neg.length;
  return { difference: auroc(labels, s1) - auroc(labels, s2), se: Math.sqrt(v) };
}

test('delongTest matches the O(mn) definition on correlated scores with ties', () => {
  const rng = new Rng(11);
  const labels = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const base = labels.map((l) => l + rng.normal(0, 0.8));
  // Rounded to one decimal so that many scores tie, within and across classes.
  const s1 = base.map((v) => Math.round((v + rng.normal(0, 0.3)) * 10) / 10);
  const s2 = base.map((v) => Math.round((v + rng.normal(0, 1.5)) * 10) / 10);
  const r = delongTest(labels, s1, s2);
  const ref = bruteForce(labels, s1, s2);
  assert.ok(Math.abs(r.auroc1 - auroc(labels, s1)) < 1e-12);
  assert.ok(Math.abs(r.difference - ref.difference) < 1e-12);
  assert.ok(Math.abs(r.se - ref.se) < 1e-12, `se ${r.se} vs ${ref.se}`);
  assert.ok(r.difference > 0 && r.p < 0.05, `the less noisy score should win: diff ${r.difference}, p ${r.p}`);
  assert.ok(Math.abs(r.z - r.difference / r.se) < 1e-12);
});

test('delongTest: identical scores give difference 0 and p 1; a worked example; bad input is refused', () => {
  const labels = [1, 1, 0, 0];
  const same = delongTest(labels, [0.9, 0.4, 0.5, 0.1], [0.9, 0.4, 0.5, 0.1]);
  assert.equal(same.difference, 0);
  assert.ok(Math.abs(same.p - 1) < 1e-6);
  // Model 1 ranks (0.9, 0.4 | 0.5, 0.1): V10 = (1, 0.5), V01 = (0.5, 1), AUROC 0.75.
  // Model 2 is perfect: V10 = (1, 1), V01 = (1, 1), AUROC 1. Var = S10_11/2 + S01_11/2 = 0.125/2 + 0.125/2 = 0.125.
  const r = delongTest(labels, [0.9, 0.4, 0.5, 0.1], [0.9, 0.8, 0.5, 0.1]);
  assert.equal(r.auroc1, 0.75);
  assert.equal(r.auroc2, 1);
  assert.ok(Math.abs(r.se - Math.sqrt(0.125)) < 1e-12);
  // z = -0.25 / 0.35355 = -0.7071; two-sided p = 0.4795 (scipy.stats.norm.sf(0.7071) * 2).
  assert.ok(Math.abs(r.p - 0.4795001) < 1e-6, `p ${r.p}`);
  assert.throws(() => delongTest([1, 0], [0.2, 0.1], [0.3, 0.1]), /at least 2 positives and 2 negatives/);
  assert.throws(() => delongTest([1, 1, 0, 0], [0.2, 0.1, 0.3, NaN], [0.3, 0.1, 0.2, 0.1]), /DeLong test \(model 1\)/);
});
