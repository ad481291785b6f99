/**
 * DeLong's test for the difference of two correlated AUROCs (two models scored on the same
 * images): DeLong, DeLong & Clarke-Pearson, "Comparing the areas under two or more correlated
 * receiver operating characteristic curves: a nonparametric approach", Biometrics 44 (1988).
 * The structural components come from midranks as in Sun & Xu, "Fast implementation of
 * DeLong's algorithm", IEEE Signal Processing Letters 21 (2014), O(n log n) per model.
 *
 * With m positives x and n negatives y, psi(x, y) = 1 if x > y, 1/2 if equal, 0 else:
 *   V10_i = mean_j psi(x_i, y_j),  V01_j = mean_i psi(x_i, y_j),  AUROC = mean_i V10_i;
 *   Var(A_1 - A_2) = (S10_11 + S10_22 - 2 S10_12) / m + (S01_11 + S01_22 - 2 S01_12) / n
 * with S10, S01 the sample covariance matrices (divisor m - 1, n - 1) of the components.
 */
import { DrXaiError } from '../core/index.ts';
import { checkBinaryInputs } from './validate.ts';

export interface DelongResult {
  auroc1: number;
  auroc2: number;
  /** auroc1 - auroc2. */
  difference: number;
  /** Standard error of the difference. */
  se: number;
  z: number;
  /** Two-sided p-value, 2 (1 - Phi(|z|)). */
  p: number;
  /** 95% confidence interval of the difference (normal approximation). */
  ci: { lo: number; hi: number };
}

/** 1-based midranks of `v` (ties share the mean of their ranks). */
function midranks(v: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]] === v[order[i]]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[order[k]] = mid;
    i = j + 1;
  }
  return r;
}

/** V10 (per positive) and V01 (per negative) of one model's scores. */
function components(pos: number[], neg: number[]): { v10: Float64Array; v01: Float64Array } {
  const m = pos.length;
  const n = neg.length;
  const all = midranks([...pos, ...neg]);
  const rp = midranks(pos);
  const rn = midranks(neg);
  const v10 = Float64Array.from(pos, (_, i) => (all[i] - rp[i]) / n);
  const v01 = Float64Array.from(neg, (_, j) => 1 - (all[m + j] - rn[j]) / m);
  return { v10, v01 };
}

function covariance(a: Float64Array, b: Float64Array): number {
  const k = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < k; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= k;
  mb /= k;
  let s = 0;
  for (let i = 0; i < k; i++) s += (a[i] - ma) * (b[i] - mb);
  return s / (k - 1);
}

/**
 * Complementary error function, Chebyshev fit with fractional error below 1.2e-7 everywhere
 * (Press et al., Numerical Recipes in C, 2nd ed., section 6.2, erfcc).
 */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** DeLong's test of AUROC(scores1) = AUROC(scores2) on the same labelled images. */
export function delongTest(labels: ArrayLike<number>, scores1: ArrayLike<number>, scores2: ArrayLike<number>): DelongResult {
  const { positives: m, negatives: n } = checkBinaryInputs(labels, scores1, 'DeLong test (model 1)');
  checkBinaryInputs(labels, scores2, 'DeLong test (model 2)');
  if (m < 2 || n < 2) throw new DrXaiError(`DeLong test needs at least 2 positives and 2 negatives, got ${m} and ${n}`);
  const split = (s: ArrayLike<number>) => {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? pos : neg).push(s[i]);
    return components(pos, neg);
  };
  const a = split(scores1);
  const b = split(scores2);
  const mean = (v: Float64Array) => v.reduce((x, y) => x + y, 0) / v.length;
  const auroc1 = mean(a.v10);
  const auroc2 = mean(b.v10);
  const variance =
    (covariance(a.v10, a.v10) + covariance(b.v10, b.v10) - 2 * covariance(a.v10, b.v10)) / m +
    (covariance(a.v01, a.v01) + covariance(b.v01, b.v01) - 2 * covariance(a.v01, b.v01)) / n;
  const se = Math.sqrt(Math.max(variance, 0));
  const difference = auroc1 - auroc2;
  const z = se > 0 ? difference / se : difference === 0 ? 0 : Math.sign(difference) * Infinity;
  const p = erfc(Math.abs(z) / Math.SQRT2);
  const half = 1.959963984540054 * se;
  return { auroc1, auroc2, difference, se, z, p, ci: { lo: difference - half, hi: difference + half } };
}
