import { DrXaiError } from '../core/index.ts';

/**
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

export function numClassesFor(task: Task): number {
  return task === 'grade' ? 5 : 2;
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
