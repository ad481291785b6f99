import { DrXaiError } from './errors.ts';

/**
 * The task rules, in one place for every layer and for the browser (this file imports nothing
 * but the error type): labels from grades, the model's output count, its positive classes, and
 * the probability of the positive class from the logits (for a grade model, the derived
 * referable score P(grade >= 2)).
 *
 * What a model predicts from the ICDR grade (0 no DR, 1 mild, 2 moderate, 3 severe NPDR,
 * 4 proliferative; Wilkinson et al., Ophthalmology 2003):
 *   referable  grade >= 2 (moderate NPDR or worse: the usual screening referral threshold,
 *              as in Gulshan et al., JAMA 2016)
 *   any-dr     grade >= 1
 *   grade      the grade itself, 5 classes
 */
export type Task = 'referable' | 'any-dr' | 'grade';

export const TASKS: readonly Task[] = ['referable', 'any-dr', 'grade'];

export function parseTask(value: string): Task {
  if ((TASKS as readonly string[]).includes(value)) return value as Task;
  throw new DrXaiError(`unknown task '${value}' (expected ${TASKS.join(', ')})`);
}

/** The five ICDR grades. */
export const NUM_GRADES = 5;
/** Moderate NPDR: the first referable grade. */
export const REFERABLE_GRADE = 2;

/** Logits a model of the task has: one for a binary task (sigmoid), five for the grades (softmax). */
export function outputsFor(task: Task): number {
  return task === 'grade' ? NUM_GRADES : 1;
}

/** The first class of a multi-class head that counts as positive: grade 2 for the grade task, else class 1. */
export function firstPositiveClass(task: Task): number {
  return task === 'grade' ? REFERABLE_GRADE : 1;
}

/** Row-wise softmax of N x k logits (max-subtracted for stability). */
export function softmaxRows(logits: ArrayLike<number>, k: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r * k < logits.length; r++) {
    const xs = Array.from({ length: k }, (_, c) => logits[r * k + c]);
    const max = Math.max(...xs);
    const e = xs.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    rows.push(e.map((v) => v / sum));
  }
  return rows;
}

/**
 * Probability of the positive class from N images' logits: the sigmoid of a lone logit, and for
 * a multi-class head the softmax mass from firstPositiveClass on (for the grade task the
 * referable probability P(grade >= 2) = P(2) + P(3) + P(4)).
 */
export function positiveProbability(logits: ArrayLike<number>, task: Task, outputs: number): number[] {
  if (outputs === 1) return Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
  const from = firstPositiveClass(task);
  return softmaxRows(logits, outputs).map((p) => p.slice(from).reduce((a, b) => a + b, 0));
}

/** Human-readable class names, index = label. */
export function classNamesFor(task: Task): string[] {
  switch (task) {
    case 'referable':
      return ['non-referable (0-1)', 'referable (2-4)'];
    case 'any-dr':
      return ['no DR (0)', 'DR (1-4)'];
    case 'grade':
      return ['0 no DR', '1 mild', '2 moderate', '3 severe', '4 proliferative'];
  }
}

/** The class label of an ICDR grade for a task. */
export function labelFor(grade: number, task: Task): number {
  if (!Number.isInteger(grade) || grade < 0 || grade > 4) throw new DrXaiError(`grade ${grade} is not an ICDR grade 0-4`);
  switch (task) {
    case 'referable':
      return grade >= 2 ? 1 : 0;
    case 'any-dr':
      return grade >= 1 ? 1 : 0;
    case 'grade':
      return grade;
  }
}
