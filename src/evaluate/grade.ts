// The grade scale and the referable threshold are the task rules of src/core/tasks.ts.
import { classNamesFor, DrXaiError, NUM_GRADES, predictedGrade, referableFromGradeProbabilities, type GradeRule } from '../core/index.ts';
import { wilsonInterval, type Interval } from './intervals.ts';
import { confusionAt } from './operating-point.ts';

/** Grade probabilities come from float32 logits: rows may miss 1 by rounding, never by more than this. */
const PROB_SUM_TOLERANCE = 1e-4;

/** Every grade an integer 0..4 (DrXaiError naming `what` and the index otherwise). */
export function checkGrades(grades: ArrayLike<number>, what: string): void {
  for (let i = 0; i < grades.length; i++) {
    const g = grades[i];
    if (!Number.isInteger(g) || g < 0 || g >= NUM_GRADES) {
      throw new DrXaiError(`${what}: grade at index ${i} is ${g}; grades must be integers 0..${NUM_GRADES - 1}`);
    }
  }
}

/** Check an N x 5 matrix of grade probabilities (non-negative, finite, rows summing to 1). */
export function checkGradeProbs(probs: ArrayLike<ArrayLike<number>>, what = 'grade probabilities'): void {
  if (probs.length === 0) throw new DrXaiError(`${what}: no samples (empty input)`);
  for (let i = 0; i < probs.length; i++) {
    const row = probs[i];
    if (!row || row.length !== NUM_GRADES) throw new DrXaiError(`${what}: row ${i} has ${row?.length ?? 0} values; ${NUM_GRADES} grade probabilities are needed`);
    let sum = 0;
    for (let g = 0; g < NUM_GRADES; g++) {
      const p = row[g];
      if (!Number.isFinite(p) || p < 0) throw new DrXaiError(`${what}: row ${i} grade ${g} is ${p}; probabilities must be finite and >= 0`);
      sum += p;
    }
    if (Math.abs(sum - 1) > PROB_SUM_TOLERANCE) throw new DrXaiError(`${what}: row ${i} sums to ${sum}, not 1 (expected grade probabilities)`);
  }
}

/** The referable score P(grade >= 2) of checked grade probabilities (the rule of core/tasks.ts). */
export function referableProbability(probs: ArrayLike<ArrayLike<number>>): number[] {
  checkGradeProbs(probs);
  return referableFromGradeProbabilities(probs);
}

/** Predicted grade of each row of checked probabilities, by `rule` (core/tasks.ts predictedGrade). */
export function predictedGrades(probs: ArrayLike<ArrayLike<number>>, rule: GradeRule = 'expected'): number[] {
  checkGradeProbs(probs);
  return Array.from(probs, (row) => predictedGrade(row, rule));
}

/** 5 x 5 confusion matrix, rows = true grade, columns = predicted grade, all grades kept. */
export function gradeConfusionMatrix(trueGrades: ArrayLike<number>, predGrades: ArrayLike<number>): number[][] {
  if (trueGrades.length !== predGrades.length) throw new DrXaiError(`grade confusion: ${trueGrades.length} true grades but ${predGrades.length} predictions`);
  if (trueGrades.length === 0) throw new DrXaiError('grade confusion: no samples (empty input)');
  checkGrades(trueGrades, 'true grades');
  checkGrades(predGrades, 'predicted grades');
  const m = Array.from({ length: NUM_GRADES }, () => new Array<number>(NUM_GRADES).fill(0));
  for (let i = 0; i < trueGrades.length; i++) m[trueGrades[i]][predGrades[i]]++;
  return m;
}

/**
 * Quadratic weighted kappa (Cohen, Psychol. Bull. 70 (1968)): 1 - sum w O / sum w E with
 * weights w_ij = (i - j)^2, O the confusion matrix and E the outer product of its marginals
 * divided by N. Computed over the full 0..4 scale, i.e. scikit-learn 1.2
 * `cohen_kappa_score(a, b, weights='quadratic', labels=[0, 1, 2, 3, 4])`; without `labels`
 * scikit-learn weights by position among the grades present, which changes the value when a
 * grade is missing. Undefined (raises) when all agreement is expected by chance alone.
 */
export function quadraticWeightedKappa(trueGrades: ArrayLike<number>, predGrades: ArrayLike<number>): number {
  const O = gradeConfusionMatrix(trueGrades, predGrades);
  const rows = O.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = O[0].map((_, j) => O.reduce((a, r) => a + r[j], 0));
  const n = trueGrades.length;
  let observed = 0;
  let expected = 0;
  for (let i = 0; i < NUM_GRADES; i++) {
    for (let j = 0; j < NUM_GRADES; j++) {
      const w = (i - j) ** 2;
      observed += w * O[i][j];
      expected += (w * rows[i] * cols[j]) / n;
    }
  }
  if (expected === 0) throw new DrXaiError('quadratic weighted kappa is undefined: true and predicted grades are all one and the same grade');
  return 1 - observed / expected;
}

/** The photographs of one true grade at an operating point: how many, and how many were called positive. */
export interface GradeReferral {
  grade: number;
  n: number;
  /** Called positive (score >= threshold): referred. */
  referred: number;
  /** referred / n with its Wilson 95% interval; null for a grade without photographs. */
  share: number | null;
  interval: Interval | null;
}

/**
 * Referral at a threshold broken down by true grade 0..4. For a grade the task counts as
 * positive (2-4 for referable DR) the share referred is the sensitivity within that grade; for
 * the others it is the false-referral rate. The pooled sensitivity weighs a missed grade 4
 * (proliferative DR, urgent) the same as a missed grade 2; this breakdown does not.
 */
export function referralByGrade(grades: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): GradeReferral[] {
  if (grades.length !== scores.length) throw new DrXaiError(`referral by grade: ${grades.length} grades but ${scores.length} scores`);
  checkGrades(grades, 'true grades');
  return Array.from({ length: NUM_GRADES }, (_, grade) => {
    const of: number[] = [];
    for (let i = 0; i < grades.length; i++) if (grades[i] === grade) of.push(scores[i]);
    if (of.length === 0) return { grade, n: 0, referred: 0, share: null, interval: null };
    // every photograph of the grade as a "positive": the true positives are the ones referred (the one decision rule)
    const referred = confusionAt(new Array<number>(of.length).fill(1), of, threshold).tp;
    return { grade, n: of.length, referred, share: referred / of.length, interval: wilsonInterval(referred, of.length) };
  });
}

/** One terminal line: referred / n for each grade that has images, e.g. `0 no DR 3/163, 1 mild 4/33, ...`. */
export function formatReferralByGrade(rows: readonly Pick<GradeReferral, 'grade' | 'n' | 'referred'>[]): string {
  const names = classNamesFor('grade');
  return rows.filter((r) => r.n > 0).map((r) => `${names[r.grade]} ${r.referred}/${r.n}`).join(', ');
}
