import { DrXaiError } from '../core/index.ts';

/**
 * Checks shared by every metric. Degenerate input (empty, length mismatch, non-finite scores,
 * labels other than 0/1, a single class) raises a DrXaiError naming `what`, never returns a
 * number: a metric computed on one class or on NaN scores is meaningless and would be reported
 * as if it meant something.
 */
export interface BinaryCounts {
  positives: number;
  negatives: number;
}

export function checkBinaryInputs(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  what = 'metric',
  opts: { needBothClasses?: boolean; probabilities?: boolean } = {},
): BinaryCounts {
  const needBoth = opts.needBothClasses ?? true;
  if (labels.length !== scores.length) {
    throw new DrXaiError(`${what}: ${labels.length} labels but ${scores.length} scores`);
  }
  if (labels.length === 0) throw new DrXaiError(`${what}: no samples (empty input)`);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new DrXaiError(`${what}: label at index ${i} is ${y}; binary labels must be 0 or 1`);
    const s = scores[i];
    if (!Number.isFinite(s)) throw new DrXaiError(`${what}: score at index ${i} is ${s}; scores must be finite numbers`);
    if (opts.probabilities && (s < 0 || s > 1)) {
      throw new DrXaiError(`${what}: score at index ${i} is ${s}; a probability in [0, 1] is needed`);
    }
    positives += y;
  }
  const negatives = labels.length - positives;
  if (needBoth && (positives === 0 || negatives === 0)) {
    throw new DrXaiError(
      `${what}: only one class present (${positives} positives, ${negatives} negatives); both are needed`,
    );
  }
  return { positives, negatives };
}
