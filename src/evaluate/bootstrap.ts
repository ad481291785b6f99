import { DrXaiError, Rng } from '../core/index.ts';
import { quantileSorted, type Interval } from './intervals.ts';
import { checkBinaryInputs } from './validate.ts';

export interface BootstrapOptions {
  /** The operating threshold, fixed (not re-tuned per resample). */
  threshold: number;
  /** Number of resamples; default 2000. */
  resamples?: number;
  seed?: number;
  /** Keep every replicate (for tests and plots); off by default. */
  keepReplicates?: boolean;
}

export interface BootstrapResult {
  resamples: number;
  seed: number;
  auroc: Interval;
  auprc: Interval;
  sensitivity: Interval;
  specificity: Interval;
  replicates?: { auroc: Float64Array; auprc: Float64Array; sensitivity: Float64Array; specificity: Float64Array };
}

/**
 * One stratified resample: nP draws with replacement from the positives, then nN from the
 * negatives, written into `out` (length nP + nN) as sample indices. Stratifying keeps the
 * class counts fixed, so every replicate has both classes and the prevalence of the data.
 */
export function drawStratifiedResample(rng: Rng, positives: Int32Array, negatives: Int32Array, out: Int32Array): Int32Array {
  const nP = positives.length;
  const nN = negatives.length;
  for (let j = 0; j < nP; j++) out[j] = positives[rng.int(nP)];
  for (let j = 0; j < nN; j++) out[nP + j] = negatives[rng.int(nN)];
  return out;
}

/**
 * 95% percentile intervals (2.5th and 97.5th percentiles, numpy's linear rule) of AUROC, AP,
 * and sensitivity/specificity at a fixed threshold over stratified bootstrap resamples
 * (Efron & Tibshirani, An Introduction to the Bootstrap, 1993, ch. 13).
 *
 * Speed: scores are ranked once into K distinct values (highest first). A resample is then
 * just per-rank counts of drawn positives and negatives, and one sweep over the K ranks gives
 * AUROC as the Mann-Whitney count sum_k neg_k (TP_before_k + pos_k / 2) / (nP nN) (ties count
 * one half, identical to the trapezoidal ROC area), AP as sum_k (pos_k / nP) TP_k / (TP_k + FP_k)
 * (scikit-learn's step sum; ranks not drawn add nothing) and sensitivity/specificity from
 * the counts above the threshold's rank. O(n + K) per resample, no sorting.
 */
export function stratifiedBootstrap(labels: ArrayLike<number>, scores: ArrayLike<number>, opts: BootstrapOptions): BootstrapResult {
  const resamples = opts.resamples ?? 2000;
  const seed = opts.seed ?? 42;
  if (!Number.isInteger(resamples) || resamples < 1) throw new DrXaiError(`bootstrap resamples must be a positive integer, got ${resamples}`);
  if (Number.isNaN(opts.threshold)) throw new DrXaiError('bootstrap threshold is NaN');
  const { positives: nP, negatives: nN } = checkBinaryInputs(labels, scores, 'bootstrap');
  const n = labels.length;

  // Rank of each sample among the distinct scores, 0 = highest.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const rank = new Int32Array(n);
  let K = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0 && scores[order[k]] !== scores[order[k - 1]]) K++;
    rank[order[k]] = K;
  }
  K++;
  // Ranks < cut are called positive (score >= threshold).
  let cut = 0;
  while (cut < n && scores[order[cut]] >= opts.threshold) cut++;
  const cutRank = cut === 0 ? 0 : rank[order[cut - 1]] + 1;

  const positives = new Int32Array(nP);
  const negatives = new Int32Array(nN);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) positives[p++] = i;
    else negatives[q++] = i;
  }

  const rng = new Rng(seed);
  const drawn = new Int32Array(n);
  const posCount = new Int32Array(K);
  const negCount = new Int32Array(K);
  const reps = {
    auroc: new Float64Array(resamples),
    auprc: new Float64Array(resamples),
    sensitivity: new Float64Array(resamples),
    specificity: new Float64Array(resamples),
  };
  for (let r = 0; r < resamples; r++) {
    drawStratifiedResample(rng, positives, negatives, drawn);
    posCount.fill(0);
    negCount.fill(0);
    for (let j = 0; j < nP; j++) posCount[rank[drawn[j]]]++;
    for (let j = nP; j < n; j++) negCount[rank[drawn[j]]]++;
    let tp = 0;
    let fp = 0;
    let pairs = 0;
    let apSum = 0;
    let tpAtCut = 0;
    let fpAtCut = 0;
    for (let k = 0; k < K; k++) {
      if (k === cutRank) {
        tpAtCut = tp;
        fpAtCut = fp;
      }
      const pk = posCount[k];
      const nk = negCount[k];
      if (pk === 0 && nk === 0) continue;
      pairs += nk * (tp + pk / 2);
      tp += pk;
      fp += nk;
      if (pk > 0) apSum += (pk * tp) / (tp + fp);
    }
    if (cutRank === K) {
      tpAtCut = tp;
      fpAtCut = fp;
    }
    reps.auroc[r] = pairs / (nP * nN);
    reps.auprc[r] = apSum / nP;
    reps.sensitivity[r] = tpAtCut / nP;
    reps.specificity[r] = (nN - fpAtCut) / nN;
  }
  const interval = (values: Float64Array): Interval => {
    const sorted = Float64Array.from(values).sort();
    return { lo: quantileSorted(sorted, 0.025), hi: quantileSorted(sorted, 0.975) };
  };
  return {
    resamples,
    seed,
    auroc: interval(reps.auroc),
    auprc: interval(reps.auprc),
    sensitivity: interval(reps.sensitivity),
    specificity: interval(reps.specificity),
    ...(opts.keepReplicates ? { replicates: reps } : {}),
  };
}
