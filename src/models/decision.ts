/**
 * The screening decision from a model's output: one rule for the CLI, the API and the page
 * (this file is browser-safe: no Node imports). Ungradable photographs get no decision, because
 * a confident "not referable" (or a grade) on a photo a grader would reject is the failure a
 * screening system must not make; a model without a stored operating point gives a probability only.
 */
import { gradeProbabilities, positiveProbability, predictedGrade } from '../core/index.ts';
import type { ModelSidecar } from './package.ts';

export interface Decision {
  /** Probability of referable DR (or of the task's positive class). */
  probability: number;
  /** Per-grade probabilities of a grade model (softmax or ordinal head), else null. */
  classProbabilities: number[] | null;
  /** The grade a grade model predicts (core/tasks.ts predictedGrade, the rule evaluate scores); null when ungradable or for a binary model. */
  predictedGrade: number | null;
  /** probability >= threshold; null when ungradable or when the model has no operating point. */
  referable: boolean | null;
  threshold: number | null;
}

/** Decisions for N images from their (test-time-augmentation averaged) logits, N x numClasses. */
export function decideFromLogits(info: Pick<ModelSidecar, 'task' | 'numClasses'> & { operatingPoint?: { threshold: number } | null }, logits: ArrayLike<number>, gradable: readonly boolean[]): Decision[] {
  const probability = positiveProbability(logits, info.task, info.numClasses);
  const classes = info.task === 'grade' ? gradeProbabilities(logits, info.numClasses) : null;
  const threshold = info.operatingPoint?.threshold ?? null;
  return probability.map((p, i) => ({
    probability: p,
    classProbabilities: classes ? classes[i] : null,
    predictedGrade: classes && gradable[i] ? predictedGrade(classes[i]) : null,
    referable: gradable[i] && threshold !== null ? p >= threshold : null,
    threshold,
  }));
}
