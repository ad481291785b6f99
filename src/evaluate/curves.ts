import { checkBinaryInputs } from './validate.ts';

/**
 * Counts of true and false positives at each distinct score, highest score first: the rule
 * `score >= threshold` is called positive, so at threshold t every sample scoring >= t counts.
 * Port of scikit-learn 1.2 `_binary_clf_curve` (sklearn/metrics/_ranking.py): one point per
 * distinct score value, tied scores enter together.
 */
export interface ClfCurve {
  /** Distinct scores, decreasing. */
  thresholds: number[];
  /** True positives with score >= thresholds[k]. */
  tps: number[];
  /** False positives with score >= thresholds[k]. */
  fps: number[];
}

export function binaryClfCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): ClfCurve {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (labels[i] === 1) tp++;
    else fp++;
    // Record at the last sample of each group of equal scores.
    if (k === order.length - 1 || scores[order[k + 1]] !== scores[i]) {
      thresholds.push(scores[i]);
      tps.push(tp);
      fps.push(fp);
    }
  }
  return { thresholds, tps, fps };
}

export interface RocCurve {
  fpr: number[];
  tpr: number[];
  /** thresholds[0] = max score + 1 (nothing called positive), as scikit-learn 1.2 does. */
  thresholds: number[];
}

/**
 * ROC curve exactly as scikit-learn 1.2 `roc_curve(y, s, drop_intermediate=True)`: points that
 * are collinear with both neighbours (second difference of fps and tps both zero) are dropped,
 * which removes no area, then (0, 0) is prepended with threshold max + 1.
 * Reference: Fawcett, "An introduction to ROC analysis", Pattern Recognit. Lett. 27 (2006).
 */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): RocCurve {
  checkBinaryInputs(labels, scores, 'ROC curve');
  let { thresholds, tps, fps } = binaryClfCurve(labels, scores);
  if (fps.length > 2) {
    const keep: number[] = [];
    for (let k = 0; k < fps.length; k++) {
      if (k === 0 || k === fps.length - 1) keep.push(k);
      else if (fps[k + 1] - 2 * fps[k] + fps[k - 1] !== 0 || tps[k + 1] - 2 * tps[k] + tps[k - 1] !== 0) keep.push(k);
    }
    thresholds = keep.map((k) => thresholds[k]);
    tps = keep.map((k) => tps[k]);
    fps = keep.map((k) => fps[k]);
  }
  const P = tps[tps.length - 1];
  const N = fps[fps.length - 1];
  return {
    fpr: [0, ...fps.map((f) => f / N)],
    tpr: [0, ...tps.map((t) => t / P)],
    thresholds: [thresholds[0] + 1, ...thresholds],
  };
}

/**
 * Area under the ROC curve by the trapezoidal rule over `rocCurve`, as scikit-learn 1.2
 * `roc_auc_score` (binary) does via `auc(fpr, tpr)`. With ties this equals the Mann-Whitney
 * probability P(s+ > s-) + 0.5 P(s+ = s-) (Hanley & McNeil, Radiology 143 (1982)); the
 * bootstrap uses that counting form, this one is the reference point estimate.
 */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { fpr, tpr } = rocCurve(labels, scores);
  return trapezoidArea(fpr, tpr);
}

/** The area under the polyline (x_i, y_i) by the trapezoidal rule (x in order): the ROC area's rule, and the faithfulness curves'. */
export function trapezoidArea(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

export interface PrCurve {
  /** Decreasing-threshold order reversed as in scikit-learn: recall decreasing, ends (recall 0, precision 1). */
  precision: number[];
  recall: number[];
  /** One fewer than precision/recall; increasing. */
  thresholds: number[];
}

/**
 * Precision-recall curve exactly as scikit-learn 1.2 `precision_recall_curve`: one point per
 * distinct score, reversed so recall decreases, with the point (recall 0, precision 1) appended
 * and no threshold for it. Precision is 0 where nothing is called positive (cannot happen here,
 * since every point includes at least one sample).
 */
export function prCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): PrCurve {
  checkBinaryInputs(labels, scores, 'precision-recall curve');
  const { thresholds, tps, fps } = binaryClfCurve(labels, scores);
  const P = tps[tps.length - 1];
  const precision = tps.map((t, k) => (t + fps[k] === 0 ? 0 : t / (t + fps[k]))).reverse();
  const recall = tps.map((t) => t / P).reverse();
  return { precision: [...precision, 1], recall: [...recall, 0], thresholds: [...thresholds].reverse() };
}

/**
 * Average precision, scikit-learn's step definition AP = sum_n (R_n - R_{n-1}) P_n over the
 * distinct thresholds (no trapezoidal interpolation, which is optimistic for PR curves; Davis &
 * Goadrich, ICML 2006). Same as scikit-learn 1.2 `average_precision_score` (binary).
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { precision, recall } = prCurve(labels, scores);
  let ap = 0;
  for (let i = 0; i < recall.length - 1; i++) ap -= (recall[i + 1] - recall[i]) * precision[i];
  return ap;
}
