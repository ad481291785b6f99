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
 *
 * A grade model has one of two heads, told apart by its output count (a fact of the ONNX file,
 * so no sidecar field can contradict it):
 *   softmax  5 logits, one per grade, trained with cross-entropy;
 *   ordinal  4 logits z_k, k = 0..3, each the log-odds of "grade > k", trained with a binary
 *            cross-entropy per threshold (the extended binary classification of Li & Lin,
 *            NIPS 2006; as a CNN head, Niu et al., CVPR 2016). It knows that grade 3 is nearer
 *            to 2 than to 0, which a softmax does not, and its z_1 is a referable logit of its own.
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

export const GRADE_HEADS = ['softmax', 'ordinal'] as const;
export type GradeHead = (typeof GRADE_HEADS)[number];

/** Logits a model of the task has: one for a binary task (sigmoid); five (softmax) or four (ordinal) for the grades. */
export function outputsFor(task: Task, head: GradeHead = 'softmax'): number {
  if (task !== 'grade') return 1;
  return head === 'ordinal' ? NUM_GRADES - 1 : NUM_GRADES;
}

/** Whether a model of the task with this many outputs has the ordinal grade head. */
export function isOrdinal(task: Task, outputs: number): boolean {
  return task === 'grade' && outputs === NUM_GRADES - 1;
}

/**
 * The ordinal head's cumulative logits made monotone: m_k = min(z_0, ..., z_k), so that
 * P(grade > k) = sigmoid(m_k) never rises with k. Independently trained thresholds can cross on
 * an unusual image; the running minimum caps each threshold's probability at the one below it,
 * which makes the grade probabilities P(k) = P(> k-1) - P(> k) non-negative and leaves
 * consistent logits as they are.
 */
export function monotoneCumulativeLogits(z: ArrayLike<number>): number[] {
  const m: number[] = [];
  for (let k = 0; k < z.length; k++) m.push(k === 0 ? z[0] : Math.min(m[k - 1], z[k]));
  return m;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * Per-grade probabilities (N rows of 5) from a grade model's logits: the softmax of a softmax
 * head, or the differences of the ordinal head's monotone cumulative probabilities.
 */
export function gradeProbabilities(logits: ArrayLike<number>, outputs: number): number[][] {
  if (outputs === NUM_GRADES) return softmaxRows(logits, outputs);
  if (outputs !== NUM_GRADES - 1) throw new DrXaiError(`a grade model has ${NUM_GRADES} (softmax) or ${NUM_GRADES - 1} (ordinal) outputs, not ${outputs}`);
  const rows: number[][] = [];
  for (let r = 0; r * outputs < logits.length; r++) {
    const above = [1, ...monotoneCumulativeLogits(Array.from({ length: outputs }, (_, k) => logits[r * outputs + k])).map(sigmoid), 0];
    rows.push(Array.from({ length: NUM_GRADES }, (_, g) => above[g] - above[g + 1]));
  }
  return rows;
}

/**
 * How a grade is read off the 5 grade probabilities (one rule for evaluate, CV, training's
 * validation, screening, the API and the page):
 * - 'expected' (default): the expected grade sum_g g p_g rounded to the nearest grade (halves
 *   up). Quadratic weighted kappa charges a disagreement by its squared distance, and the point
 *   minimising the expected squared distance is the mean, not the mode; it is also what the
 *   regression heads of the APTOS 2019 winning solutions predict. On our validation split it
 *   raised QWK from 0.865 (argmax) to 0.887 with the same model.
 * - 'argmax': the most probable grade (the lowest on exact ties).
 */
export type GradeRule = 'expected' | 'argmax';

/** The predicted grade of one row of 5 grade probabilities, by `rule` (unchecked: see evaluate's predictedGrades). */
export function predictedGrade(row: ArrayLike<number>, rule: GradeRule = 'expected'): number {
  if (rule === 'expected') {
    let e = 0;
    for (let g = 1; g < NUM_GRADES; g++) e += g * row[g];
    return Math.min(NUM_GRADES - 1, Math.max(0, Math.floor(e + 0.5)));
  }
  let best = 0;
  for (let g = 1; g < NUM_GRADES; g++) if (row[g] > row[best]) best = g;
  return best;
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

/** The referable probability P(grade >= 2) = P(2) + P(3) + P(4) of each row of 5 grade probabilities. */
export function referableFromGradeProbabilities(rows: ArrayLike<ArrayLike<number>>): number[] {
  return Array.from(rows, (row) => {
    let s = 0;
    for (let g = REFERABLE_GRADE; g < NUM_GRADES; g++) s += row[g];
    return s;
  });
}

/**
 * Probability of the positive class from N images' logits: the sigmoid of a lone logit; for a
 * grade model the referable probability of its grade probabilities (for the ordinal head this is
 * sigmoid(m_1)); for another multi-class head the softmax mass from firstPositiveClass on.
 */
export function positiveProbability(logits: ArrayLike<number>, task: Task, outputs: number): number[] {
  if (outputs === 1) return Array.from(logits, sigmoid);
  if (task === 'grade') return referableFromGradeProbabilities(gradeProbabilities(logits, outputs));
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
