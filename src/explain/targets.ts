/**
 * What a heat map explains: the score S whose gradient weights the feature maps.
 *
 * S is always a function of the logits (pytorch-grad-cam's ClassifierOutputTarget also uses
 * the raw model output, i.e. the logit), never of the sigmoid/softmax probability, whose
 * gradient vanishes for confident predictions:
 *   - `referable` on a single-logit model: S = the logit;
 *   - `referable` on a multi-class model: S = the referable log-odds
 *       log sum_{c >= from} exp z_c - log sum_{c < from} exp z_c,
 *     from = 2 for the 5-grade task and 1 otherwise (the same classes as
 *     src/models positiveProbability, so sigmoid(S) is the probability the model reports);
 *   - `referable` on the ordinal grade head: S = m_1 = min(z_0, z_1), the monotone logit of
 *     P(grade > 1) (core/tasks.ts), so again sigmoid(S) is the reported probability;
 *   - `class` c: S = z_c (on the ordinal head, the log-odds of grade > c).
 * Backpropagation then starts from dS/dz (the "seed"), which is one-hot for a single logit.
 */
import { DrXaiError, firstPositiveClass, isOrdinal, monotoneCumulativeLogits, type Task } from '../core/index.ts';

export type CamTarget = { kind: 'referable' } | { kind: 'class'; index: number };

export const REFERABLE_TARGET: CamTarget = Object.freeze({ kind: 'referable' });


/** Parse `referable` or a class index (e.g. a grade `3`) from the command line. */
export function parseTarget(value: string, numClasses: number): CamTarget {
  if (value === 'referable') return REFERABLE_TARGET;
  const index = Number(value);
  if (!Number.isInteger(index) || index < 0 || index >= numClasses) {
    throw new DrXaiError(`--target must be 'referable' or a class index 0..${numClasses - 1}, got '${value}'`);
  }
  return { kind: 'class', index };
}

function checkTarget(target: CamTarget, numClasses: number): void {
  if (target.kind === 'class' && !(Number.isInteger(target.index) && target.index >= 0 && target.index < numClasses)) {
    throw new DrXaiError(`target class ${target.index} is outside 0..${numClasses - 1}`);
  }
}

function logSumExp(z: ArrayLike<number>, from: number, to: number): number {
  let m = -Infinity;
  for (let c = from; c < to; c++) m = Math.max(m, z[c]);
  let s = 0;
  for (let c = from; c < to; c++) s += Math.exp(z[c] - m);
  return m + Math.log(s);
}


/** S for one image's logits. */
export function targetScore(logits: ArrayLike<number>, target: CamTarget, task: Task): number {
  const k = logits.length;
  checkTarget(target, k);
  if (target.kind === 'class') return logits[target.index];
  if (k === 1) return logits[0];
  if (isOrdinal(task, k)) return monotoneCumulativeLogits(logits)[firstPositiveClass(task) - 1];
  const from = firstPositiveClass(task);
  return logSumExp(logits, from, k) - logSumExp(logits, 0, from);
}

/**
 * dS/dz when it does not depend on the logits (a class target, or a single-logit model: one-hot),
 * else null. With a constant seed the backward pass needs no forward pass first.
 */
export function constantSeed(target: CamTarget, k: number): Float64Array | null {
  checkTarget(target, k);
  if (target.kind !== 'class' && k !== 1) return null;
  const seed = new Float64Array(k);
  seed[target.kind === 'class' ? target.index : 0] = 1;
  return seed;
}

/** dS/dz for one image's logits (the seed of the backward pass). */
export function targetSeed(logits: ArrayLike<number>, target: CamTarget, task: Task): Float64Array {
  const k = logits.length;
  const constant = constantSeed(target, k);
  if (constant) return constant;
  const seed = new Float64Array(k);
  if (isOrdinal(task, k)) {
    // m_j = min(z_0..z_j): its gradient is one-hot on the smallest (z_j on a tie; consistent
    // thresholds have z_j smallest anyway).
    const j = firstPositiveClass(task) - 1;
    let arg = j;
    for (let c = j - 1; c >= 0; c--) if (logits[c] < logits[arg]) arg = c;
    seed[arg] = 1;
    return seed;
  }
  // d/dz_c of log sum_{pos} e^z - log sum_{neg} e^z = softmax within the positive (or, negated,
  // the negative) group.
  const from = firstPositiveClass(task);
  const pos = logSumExp(logits, from, k);
  const neg = logSumExp(logits, 0, from);
  for (let c = 0; c < k; c++) seed[c] = c >= from ? Math.exp(logits[c] - pos) : -Math.exp(logits[c] - neg);
  return seed;
}

/** The probability of the target the model reports: sigmoid(S) for referable, softmax (or sigmoid of a lone logit or an ordinal threshold) for a class. */
export function targetProbability(logits: ArrayLike<number>, target: CamTarget, task: Task): number {
  const k = logits.length;
  if (target.kind === 'referable' || k === 1 || isOrdinal(task, k)) return 1 / (1 + Math.exp(-targetScore(logits, target, task)));
  return Math.exp(logits[target.index] - logSumExp(logits, 0, k));
}

/** Human label of a target, for captions. */
export function targetLabel(target: CamTarget): string {
  return target.kind === 'referable' ? 'referable DR' : `class ${target.index}`;
}
