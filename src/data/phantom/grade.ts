import type { Rng } from '../../core/index.ts';
import type { Grade, Lesion, LesionCounts } from './types.ts';

/**
 * The phantom grading rule, a scaled-down reading of the International Clinical Diabetic
 * Retinopathy severity scale (Wilkinson C.P. et al., Ophthalmology 2003;110:1677-1682):
 *
 *   4 proliferative  any neovascularisation (NV)
 *   3 severe NPDR    at least SEVERE_HE_PER_QUADRANT haemorrhages in each of the four quadrants
 *                    (the "4" of the 4-2-1 rule, which asks for > 20 per quadrant on a full
 *                    7-field photograph; a single 45-degree phantom field shows far fewer)
 *   2 moderate NPDR  more than MILD_MA_MAX microaneurysms, or any haemorrhage, hard exudate or
 *                    cotton-wool spot
 *   1 mild NPDR      1 to MILD_MA_MAX microaneurysms and nothing else
 *   0 no DR          no lesions
 *
 * Quadrants are split by the horizontal and vertical lines through the retina centre.
 */
export const MILD_MA_MAX = 5;
export const SEVERE_HE_PER_QUADRANT = 5;

/** Quadrant 0..3 of a point around a centre: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
export function quadrantOf(x: number, y: number, centre: { x: number; y: number }): 0 | 1 | 2 | 3 {
  return ((y >= centre.y ? 2 : 0) + (x >= centre.x ? 1 : 0)) as 0 | 1 | 2 | 3;
}

export function countLesions(lesions: readonly Lesion[]): LesionCounts {
  const counts: LesionCounts = { MA: 0, HE: 0, EX: 0, SE: 0, NV: 0 };
  for (const l of lesions) counts[l.type]++;
  return counts;
}

/** The grade the rule above gives to a set of drawn lesions; `centre` is the retina centre. */
export function gradeFromLesions(lesions: readonly Lesion[], centre: { x: number; y: number }): Grade {
  const counts = countLesions(lesions);
  if (counts.NV > 0) return 4;
  const hePerQuadrant = [0, 0, 0, 0];
  for (const l of lesions) if (l.type === 'HE') hePerQuadrant[quadrantOf(l.x, l.y, centre)]++;
  if (hePerQuadrant.every((n) => n >= SEVERE_HE_PER_QUADRANT)) return 3;
  if (counts.MA > MILD_MA_MAX || counts.HE > 0 || counts.EX > 0 || counts.SE > 0) return 2;
  if (counts.MA > 0) return 1;
  return 0;
}

/** What to draw for a target grade: total counts, plus haemorrhages required in every quadrant. */
export interface LesionPlan {
  counts: LesionCounts;
  /** Haemorrhages to place in each quadrant first (grade 3); the rest of `counts.HE` go anywhere. */
  hePerQuadrant: number;
}

/** Uniform integer in [lo, hi]. */
function between(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

/**
 * Lesion counts consistent with the rule for `grade`. `borderline` (grades 1 and 2 only) draws
 * images next to the referable border: grade 1 with MILD_MA_MAX - 1 or MILD_MA_MAX MAs, grade 2
 * with one to three MAs more than that and no other lesion.
 * Grade-2 haemorrhages stay below 4 * SEVERE_HE_PER_QUADRANT so they can never make a grade 3.
 */
export function planLesions(grade: Grade, rng: Rng, borderline: boolean): LesionPlan {
  const none: LesionCounts = { MA: 0, HE: 0, EX: 0, SE: 0, NV: 0 };
  switch (grade) {
    case 0:
      return { counts: none, hePerQuadrant: 0 };
    case 1:
      return { counts: { ...none, MA: borderline ? between(rng, MILD_MA_MAX - 1, MILD_MA_MAX) : between(rng, 1, MILD_MA_MAX) }, hePerQuadrant: 0 };
    case 2: {
      if (borderline) return { counts: { ...none, MA: between(rng, MILD_MA_MAX + 1, MILD_MA_MAX + 3) }, hePerQuadrant: 0 };
      const counts: LesionCounts = {
        MA: between(rng, 1, 3 * MILD_MA_MAX),
        HE: rng.next() < 0.7 ? between(rng, 1, 6) : 0,
        EX: rng.next() < 0.5 ? between(rng, 1, 5) : 0,
        SE: rng.next() < 0.25 ? between(rng, 1, 2) : 0,
        NV: 0,
      };
      // Make sure something lifts it above mild.
      if (counts.MA <= MILD_MA_MAX && counts.HE + counts.EX + counts.SE === 0) counts.HE = between(rng, 1, 4);
      return { counts, hePerQuadrant: 0 };
    }
    case 3: {
      const hePerQuadrant = between(rng, SEVERE_HE_PER_QUADRANT, SEVERE_HE_PER_QUADRANT + 3);
      return {
        counts: { MA: between(rng, 5, 20), HE: 4 * hePerQuadrant, EX: between(rng, 0, 8), SE: between(rng, 0, 4), NV: 0 },
        hePerQuadrant,
      };
    }
    case 4: {
      const base = planLesions(rng.next() < 0.5 ? 2 : 3, rng, false);
      return { counts: { ...base.counts, NV: between(rng, 1, 2) }, hePerQuadrant: base.hePerQuadrant };
    }
  }
}
