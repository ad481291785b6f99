/**
 * The rules of `dr-xai evaluate` above the metrics: which splits are scored, where the threshold
 * comes from, and how a labelled split becomes predictions through the one screening path
 * (ungradable photographs are left out and listed, never scored as negatives). The command is a
 * shell over these; the metrics themselves are src/evaluate's.
 */
import { DrXaiError, labelFor } from '../core/index.ts';
import type { ExcludedImage, SplitPredictions } from '../evaluate/index.ts';
import type { FundusModel } from '../models/index.ts';
import { screenFiles, type FileToScreen } from './files.ts';
import type { Screening } from './screen.ts';

const SPLIT_NAMES = ['train', 'val', 'test'] as const;
type SplitName = (typeof SPLIT_NAMES)[number];

export interface EvaluationPlanOptions<T> {
  /** The split file's assignment; without one the whole data set is one 'external' split. */
  assignment?: Record<SplitName, T[]>;
  /** Every photograph of the data set (scored as 'external' when there is no assignment). */
  all: T[];
  /** Which splits of the assignment to score, e.g. ['val', 'test']. */
  subsets: readonly string[];
  /** 'val' tunes the threshold on the val split; 'model' applies the one stored in the package. */
  thresholdFrom: string;
  /** The package's stored threshold, if it has one. */
  storedThreshold?: number;
  /** Named in errors (the model file). */
  modelFile?: string;
}

export interface EvaluationPlan<T> {
  /** Split name -> photographs, in the order they are scored (empty splits left out). */
  splits: Record<string, T[]>;
  /** The threshold to apply unchanged; undefined: tune it on the val split. */
  threshold?: number;
}

/** Which splits to score and where the threshold comes from; every inconsistency is an error before any scoring. */
export function planEvaluation<T>(opts: EvaluationPlanOptions<T>): EvaluationPlan<T> {
  if (opts.thresholdFrom !== 'val' && opts.thresholdFrom !== 'model') throw new DrXaiError(`--threshold-from must be val or model, got '${opts.thresholdFrom}'`);
  let threshold: number | undefined;
  if (opts.thresholdFrom === 'model') {
    if (opts.storedThreshold === undefined) throw new DrXaiError('--threshold-from model: the model has no stored operating point', { file: opts.modelFile });
    threshold = opts.storedThreshold;
  }
  const splits: Record<string, T[]> = {};
  if (opts.assignment) {
    for (const name of opts.subsets) {
      const known = SPLIT_NAMES.find((s) => s === name);
      if (!known) throw new DrXaiError(`--subsets: unknown split '${name}' (train, val, test)`);
      if (opts.assignment[known].length > 0) splits[known] = opts.assignment[known];
    }
  } else {
    if (threshold === undefined) throw new DrXaiError('without --split there is no validation split to tune on: add --threshold-from model');
    splits.external = opts.all;
  }
  if (threshold === undefined && !splits.val) throw new DrXaiError('the threshold is tuned on the val split, which is empty or not selected (or use --threshold-from model)');
  return { splits, threshold };
}

export interface LabelledPhotograph extends FileToScreen {
  grade: number | null;
}

/**
 * Screen one labelled split through the screening path and turn it into predictions for the
 * metrics: unreadable and ungradable photographs go to `excluded` (with the reason), the rest
 * are labelled for the model's task. Throws when none of a non-empty split could be scored.
 */
export async function scoreLabelledSplit(
  model: FundusModel,
  name: string,
  samples: readonly LabelledPhotograph[],
  excluded: ExcludedImage[],
  opts: { batchSize?: number; onProgress?: (done: number) => void } = {},
): Promise<SplitPredictions> {
  const results = await screenFiles(model, [...samples], opts);
  type Scored = { id: string; screening: Screening & { probability: number } };
  const scored: Scored[] = [];
  for (const r of results) {
    if ('error' in r) excluded.push({ split: name, id: r.id, kind: 'unreadable', reason: r.error });
    else if (!r.screening.gradable || r.screening.probability === null) excluded.push({ split: name, id: r.id, kind: 'ungradable', reason: r.screening.reasons.join('; ') });
    else scored.push(r as Scored);
  }
  if (scored.length === 0 && samples.length > 0) {
    throw new DrXaiError(`no image of the ${name} split could be scored; first reason: ${excluded.find((e) => e.split === name)?.reason}`);
  }
  const gradeOf = new Map(samples.map((s) => [s.id, s.grade]));
  const task = model.info.task;
  const grades = scored.map((s) => {
    const grade = gradeOf.get(s.id);
    if (grade === null || grade === undefined) throw new DrXaiError(`image '${s.id}' has no grade; evaluation needs labelled data`);
    return grade;
  });
  const labels = grades.map((g) => labelFor(g, task));
  const ids = scored.map((s) => s.id);
  return task === 'grade'
    ? { ids, labels, gradeProbs: scored.map((s) => s.screening.classProbabilities as number[]) }
    : { ids, labels, scores: scored.map((s) => s.screening.probability), grades };
}
