import { checkBinaryInputs } from './validate.ts';

/**
 * Brier score: mean squared difference between the predicted probability of the positive
 * class and the 0/1 outcome (Brier, Mon. Weather Rev. 78 (1950)); scikit-learn 1.2
 * `brier_score_loss`. Scores must be probabilities in [0, 1]. One class alone is allowed.
 */
export function brierScore(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  checkBinaryInputs(labels, probs, 'Brier score', { needBothClasses: false, probabilities: true });
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += (probs[i] - labels[i]) ** 2;
  return sum / labels.length;
}

export const CALIBRATION_BINS = 15;

export interface ReliabilityBin {
  /** Bin (lo, hi]; the first bin also holds 0. */
  lo: number;
  hi: number;
  count: number;
  /** Mean predicted probability in the bin (conf_b); null for an empty bin. */
  meanPredicted: number | null;
  /** Fraction of positives in the bin (acc_b); null for an empty bin. */
  fractionPositive: number | null;
}

/**
 * Reliability-diagram data with `bins` equal-width bins over [0, 1]: bin b is
 * (b/bins, (b+1)/bins], the first one also including 0 (edges computed as b/bins). Same
 * binning as scikit-learn 1.2 `calibration_curve(strategy='uniform')`.
 */
export function reliabilityBins(labels: ArrayLike<number>, probs: ArrayLike<number>, bins = CALIBRATION_BINS): ReliabilityBin[] {
  checkBinaryInputs(labels, probs, 'calibration', { needBothClasses: false, probabilities: true });
  const edges = Array.from({ length: bins + 1 }, (_, b) => b / bins);
  const count = new Array<number>(bins).fill(0);
  const sumProb = new Array<number>(bins).fill(0);
  const sumPos = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const p = probs[i];
    // Number of inner edges strictly below p = index of the bin (e_b, e_{b+1}] holding p.
    let b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    while (b > 0 && p <= edges[b]) b--;
    while (b < bins - 1 && p > edges[b + 1]) b++;
    count[b]++;
    sumProb[b] += p;
    sumPos[b] += labels[i];
  }
  return count.map((c, b) => ({
    lo: edges[b],
    hi: edges[b + 1],
    count: c,
    meanPredicted: c > 0 ? sumProb[b] / c : null,
    fractionPositive: c > 0 ? sumPos[b] / c : null,
  }));
}

/**
 * Expected calibration error ECE = sum_b (n_b / N) |acc_b - conf_b| over the reliability bins
 * above (15 equal-width bins by default), with conf_b the mean predicted probability of the
 * positive class in bin b and acc_b the fraction of positives there (Naeini, Cooper &
 * Hauskrecht, AAAI 2015; Guo et al., ICML 2017, with the binary "positive-class" reading).
 * Empty bins contribute nothing.
 */
export function expectedCalibrationError(labels: ArrayLike<number>, probs: ArrayLike<number>, bins = CALIBRATION_BINS): number {
  const table = reliabilityBins(labels, probs, bins);
  let ece = 0;
  for (const bin of table) {
    if (bin.count > 0) ece += (bin.count / labels.length) * Math.abs(bin.fractionPositive! - bin.meanPredicted!);
  }
  return ece;
}
