import { DrXaiError } from '../core/index.ts';
import { binaryClfCurve } from './curves.ts';
import { wilsonInterval, type Interval } from './intervals.ts';
import { checkBinaryInputs } from './validate.ts';

/**
 * How the operating threshold is picked on the tuning (validation) split.
 * - 'constrained': the threshold with the highest sensitivity among those whose specificity is
 *   >= the target; among equal sensitivities, the one with the higher specificity.
 * - 'closest': the threshold whose specificity is closest to the target, as the reference study
 *   chose it; ties in distance go to the higher specificity, then to the higher sensitivity
 *   (so a tie between 0.94 and 0.96 picks 0.96, and equal specificities pick the better
 *   sensitivity, which a plain argmin over an ROC curve would not).
 * - 'conservative': as 'constrained', but the lower end of the Wilson 95% interval of the
 *   specificity (not its point estimate) must reach the target, so that the target still holds,
 *   with 97.5% confidence, on new images of the same population (the tuning negatives are a
 *   sample: with 1,960 of them a point estimate of 0.95 has a standard error near 0.005).
 * Decision rule everywhere: a sample is called positive (referable) when score >= threshold.
 */
export const OPERATING_MODES = ['constrained', 'closest', 'conservative'] as const;
export type OperatingMode = (typeof OPERATING_MODES)[number];

/** The one check of an operating-mode name (`what` names its source in the error, e.g. '--mode'). */
export function parseOperatingMode(value: string, what = 'operating mode', allowed: readonly OperatingMode[] = OPERATING_MODES): OperatingMode {
  const mode = allowed.find((m) => m === value);
  if (!mode) {
    const names = allowed.map((m) => `'${m}'`);
    throw new DrXaiError(`${what} must be ${names.slice(0, -1).join(', ')}${names.length > 1 ? ' or ' : ''}${names[names.length - 1]}, got '${value}'`);
  }
  return mode;
}

export interface OperatingPoint {
  threshold: number;
  mode: OperatingMode;
  targetSpecificity: number;
  /** Sensitivity and specificity reached on the split the threshold was tuned on. */
  sensitivity: number;
  specificity: number;
}

/** Specificities closer than this count as equal (they are ratios of small integers). */
const SPEC_TOLERANCE = 1e-12;

/**
 * Tune the threshold on one split. Candidates are the distinct scores (score >= s) plus
 * +Infinity, which calls nothing positive (specificity 1, sensitivity 0) and is returned only
 * when no finite threshold meets the constraint.
 */
export function chooseOperatingPoint(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  opts: { targetSpecificity?: number; mode?: OperatingMode } = {},
): OperatingPoint {
  const target = opts.targetSpecificity ?? 0.95;
  const mode = parseOperatingMode(opts.mode ?? 'constrained');
  if (!(target > 0 && target < 1)) throw new DrXaiError(`target specificity must be in (0, 1), got ${target}`);
  const { positives: P, negatives: N } = checkBinaryInputs(labels, scores, 'operating point');
  const curve = binaryClfCurve(labels, scores);
  const thresholds = [Infinity, ...curve.thresholds];
  const sens = [0, ...curve.tps.map((t) => t / P)];
  const spec = [1, ...curve.fps.map((f) => (N - f) / N)];
  // Candidates run from the highest threshold down: sensitivity never falls, specificity never rises.
  let best = 0;
  for (let k = 1; k < thresholds.length; k++) {
    if (mode === 'constrained') {
      if (spec[k] >= target - SPEC_TOLERANCE && sens[k] > sens[best]) best = k;
    } else if (mode === 'conservative') {
      if (wilsonInterval(N - curve.fps[k - 1], N).lo >= target - SPEC_TOLERANCE && sens[k] > sens[best]) best = k;
    } else {
      const d = Math.abs(spec[k] - target);
      const dBest = Math.abs(spec[best] - target);
      const closer = d < dBest - SPEC_TOLERANCE;
      const tie = Math.abs(d - dBest) <= SPEC_TOLERANCE;
      if (closer || (tie && (spec[k] > spec[best] + SPEC_TOLERANCE || (Math.abs(spec[k] - spec[best]) <= SPEC_TOLERANCE && sens[k] > sens[best])))) best = k;
    }
  }
  return { threshold: thresholds[best], mode, targetSpecificity: target, sensitivity: sens[best], specificity: spec[best] };
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts for the rule score >= threshold is positive. */
export function confusionAt(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Confusion {
  checkBinaryInputs(labels, scores, 'confusion matrix', { needBothClasses: false });
  if (Number.isNaN(threshold)) throw new DrXaiError('threshold is NaN');
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const called = scores[i] >= threshold;
    if (labels[i] === 1) called ? c.tp++ : c.fn++;
    else called ? c.fp++ : c.tn++;
  }
  return c;
}

export interface ThresholdMetrics extends Confusion {
  threshold: number;
  sensitivity: number;
  specificity: number;
  /** Null when nothing is called positive (PPV) or negative (NPV): undefined, not zero. */
  ppv: number | null;
  npv: number | null;
  f1: number;
  /** Wilson 95% intervals, a closed-form cross-check on the bootstrap. */
  wilson: { sensitivity: Interval; specificity: Interval; ppv: Interval | null; npv: Interval | null };
}

/**
 * Sensitivity TP/(TP+FN), specificity TN/(TN+FP), PPV TP/(TP+FP), NPV TN/(TN+FN),
 * F1 = 2TP/(2TP+FP+FN) (harmonic mean of PPV and sensitivity), at a fixed threshold.
 * Needs both classes, so sensitivity, specificity and F1 are always defined.
 */
export function metricsAtThreshold(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): ThresholdMetrics {
  checkBinaryInputs(labels, scores, 'metrics at threshold');
  const c = confusionAt(labels, scores, threshold);
  const calledPos = c.tp + c.fp;
  const calledNeg = c.tn + c.fn;
  return {
    threshold,
    ...c,
    sensitivity: c.tp / (c.tp + c.fn),
    specificity: c.tn / (c.tn + c.fp),
    ppv: calledPos > 0 ? c.tp / calledPos : null,
    npv: calledNeg > 0 ? c.tn / calledNeg : null,
    f1: (2 * c.tp) / (2 * c.tp + c.fp + c.fn),
    wilson: {
      sensitivity: wilsonInterval(c.tp, c.tp + c.fn),
      specificity: wilsonInterval(c.tn, c.tn + c.fp),
      ppv: calledPos > 0 ? wilsonInterval(c.tp, calledPos) : null,
      npv: calledNeg > 0 ? wilsonInterval(c.tn, calledNeg) : null,
    },
  };
}
