/** A two-sided interval [lo, hi]. */
export interface Interval {
  lo: number;
  hi: number;
}

/** Standard normal 0.975 quantile (scipy.special.ndtri(0.975)), for two-sided 95% intervals. */
export const Z_95 = 1.959963984540054;

/**
 * Wilson score interval for a binomial proportion k/n at 95%, without continuity correction
 * (Wilson, JASA 22 (1927); Newcombe, Stat. Med. 17 (1998), method 3; same as scipy
 * `binomtest(k, n).proportion_ci(method='wilson')`). Unlike the Wald interval it stays inside
 * [0, 1] and keeps its coverage near 0 and 1, where sensitivity and specificity live.
 */
export function wilsonInterval(successes: number, trials: number): Interval {
  const z = Z_95;
  const p = successes / trials;
  const denom = 2 * (trials + z * z);
  const center = (2 * trials * p + z * z) / denom;
  const half = (z * Math.sqrt(z * z + 4 * trials * p * (1 - p))) / denom;
  return { lo: Math.max(0, center - half), hi: Math.min(1, center + half) };
}

/**
 * The q-quantile (0 <= q <= 1) of values already sorted ascending, by linear interpolation
 * between closest ranks: numpy's default `np.percentile(x, 100 q)` (Hyndman & Fan type 7).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
