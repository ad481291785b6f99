import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import { auroc, averagePrecision, metricsAtThreshold, stratifiedBootstrap } from '../../src/evaluate/index.ts';
import { drawStratifiedResample } from '../../src/evaluate/bootstrap.ts';

/** Synthetic screening scores: positives shifted up, rounded to 2 decimals so there are ties. */
function synthetic(n: number, seed: number, prevalence = 0.3): { labels: number[]; scores: number[] } {
  const rng = new Rng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rng.next() < prevalence ? 1 : 0;
    labels.push(y);
    scores.push(Math.round(100 / (1 + Math.exp(-(rng.normal() + 1.5 * y - 1)))) / 100);
  }
  return { labels, scores };
}

test('each bootstrap replicate equals the plain metrics on the same stratified resample', () => {
  const { labels, scores } = synthetic(300, 7);
  const threshold = 0.5;
  const boot = stratifiedBootstrap(labels, scores, { threshold, resamples: 25, seed: 3, keepReplicates: true });
  const pos = Int32Array.from(labels.flatMap((y, i) => (y === 1 ? [i] : [])));
  const neg = Int32Array.from(labels.flatMap((y, i) => (y === 0 ? [i] : [])));
  const rng = new Rng(3);
  const idx = new Int32Array(labels.length);
  for (let r = 0; r < 25; r++) {
    drawStratifiedResample(rng, pos, neg, idx);
    const y = Array.from(idx, (i) => labels[i]);
    const s = Array.from(idx, (i) => scores[i]);
    const m = metricsAtThreshold(y, s, threshold);
    assert.ok(Math.abs(boot.replicates!.auroc[r] - auroc(y, s)) < 1e-12, `AUROC replicate ${r}`);
    assert.ok(Math.abs(boot.replicates!.auprc[r] - averagePrecision(y, s)) < 1e-12, `AP replicate ${r}`);
    assert.equal(boot.replicates!.sensitivity[r], m.sensitivity);
    assert.equal(boot.replicates!.specificity[r], m.specificity);
  }
});

test('bootstrap is reproducible for a seed and differs across seeds', () => {
  const { labels, scores } = synthetic(400, 11);
  const a = stratifiedBootstrap(labels, scores, { threshold: 0.4, resamples: 500, seed: 42 });
  const b = stratifiedBootstrap(labels, scores, { threshold: 0.4, resamples: 500, seed: 42 });
  const c = stratifiedBootstrap(labels, scores, { threshold: 0.4, resamples: 500, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.auroc, c.auroc);
});

test('the 95% intervals contain the point estimates and shrink with n', () => {
  const width = (i: { lo: number; hi: number }) => i.hi - i.lo;
  const results = [200, 3200].map((n) => {
    const { labels, scores } = synthetic(n, 5);
    const threshold = 0.45;
    const boot = stratifiedBootstrap(labels, scores, { threshold, resamples: 1000, seed: 1 });
    const m = metricsAtThreshold(labels, scores, threshold);
    const point = { auroc: auroc(labels, scores), auprc: averagePrecision(labels, scores), sensitivity: m.sensitivity, specificity: m.specificity };
    for (const key of ['auroc', 'auprc', 'sensitivity', 'specificity'] as const) {
      assert.ok(boot[key].lo <= point[key] && point[key] <= boot[key].hi, `n=${n} ${key} ${point[key]} in [${boot[key].lo}, ${boot[key].hi}]`);
      assert.ok(boot[key].lo < boot[key].hi, `n=${n} ${key} has a non-empty interval`);
    }
    return boot;
  });
  for (const key of ['auroc', 'auprc', 'sensitivity', 'specificity'] as const) {
    // 16x the data: the width should fall by about 4x; demand at least 2x.
    assert.ok(width(results[1][key]) < width(results[0][key]) / 2, `${key} interval shrinks with n`);
  }
});

test('2000 resamples of n = 4000 take well under a few seconds', () => {
  const { labels, scores } = synthetic(4000, 9);
  const t0 = performance.now();
  const boot = stratifiedBootstrap(labels, scores, { threshold: 0.5, resamples: 2000, seed: 42 });
  const ms = performance.now() - t0;
  console.log(`bootstrap n=4000 x 2000 resamples: ${ms.toFixed(0)} ms`);
  assert.equal(boot.resamples, 2000);
  assert.ok(ms < 5000, `took ${ms} ms`);
});
