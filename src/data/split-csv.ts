import { DrXaiError, toCsv, writeFileAtomic } from '../core/index.ts';
import { readCsvTable } from './csv-reader.ts';
import { SPLIT_NAMES, type SplitAssignment, type SplitName } from './split.ts';
import type { Dataset, Sample } from './types.ts';

/*
 * The split file every later command reads, so training, evaluation and explanation all see the
 * same images on the same side:
 *
 *   id,split,grade,group
 *   000c1434d8d7,train,2,000c1434d8d7
 *
 * grade is empty for an unlabelled image; group is the sample's duplicate-group key (its own id
 * when it has no duplicate). Rows: train, then val, then test, each in data set order.
 */
export const SPLIT_CSV_COLUMNS = ['id', 'split', 'grade', 'group'] as const;

/** Write a split file atomically. */
export async function writeSplitCsv(file: string, assignment: SplitAssignment): Promise<void> {
  const rows = SPLIT_NAMES.flatMap((split) => assignment[split].map((s) => [s.id, split, s.grade, assignment.groupOf.get(s.id) ?? s.id]));
  await writeFileAtomic(file, toCsv(SPLIT_CSV_COLUMNS, rows));
}

/**
 * Read a split file against the data set it was made from. Every data set image must appear
 * exactly once with the grade it has now (a changed label file is an error, not a silent new
 * split), and a group must not straddle two splits.
 */
export async function readSplitCsv(file: string, dataset: Dataset): Promise<SplitAssignment> {
  const table = await readCsvTable(file, SPLIT_CSV_COLUMNS, 'split CSV');
  const byId = new Map(dataset.samples.map((s, i) => [s.id, { sample: s, index: i }]));
  const seen = new Map<string, number>();
  const groupSplit = new Map<string, { split: SplitName; line: number }>();
  const groupOf = new Map<string, string>();
  const lists: Record<SplitName, { sample: Sample; index: number }[]> = { train: [], val: [], test: [] };
  for (const row of table.rows) {
    const id = row.get('id');
    const where = { file, line: row.line };
    const entry = byId.get(id);
    if (!entry) throw new DrXaiError(`id '${id}' is not in data set ${dataset.root}`, where);
    const first = seen.get(id);
    if (first !== undefined) throw new DrXaiError(`duplicate id '${id}' (first on line ${first})`, where);
    seen.set(id, row.line);
    const split = row.get('split');
    if (!(SPLIT_NAMES as readonly string[]).includes(split)) {
      throw new DrXaiError(`unknown split '${split}' (expected ${SPLIT_NAMES.join(', ')})`, where);
    }
    const gradeText = row.get('grade');
    const grade = gradeText === '' ? null : /^[0-4]$/.test(gradeText) ? Number(gradeText) : NaN;
    if (Number.isNaN(grade)) throw new DrXaiError(`unknown grade '${gradeText}' (expected an integer 0-4 or empty)`, where);
    if (grade !== entry.sample.grade) {
      throw new DrXaiError(
        `grade of '${id}' is ${gradeText || 'empty'} here but ${entry.sample.grade ?? 'empty'} in the data set labels (labels changed since the split was made?)`,
        where,
      );
    }
    const group = row.get('group') || id;
    const other = groupSplit.get(group);
    if (other && other.split !== split) {
      throw new DrXaiError(`group '${group}' is in ${other.split} (line ${other.line}) and in ${split}`, where);
    }
    if (!other) groupSplit.set(group, { split: split as SplitName, line: row.line });
    groupOf.set(id, group);
    lists[split as SplitName].push(entry);
  }
  const missing = dataset.samples.filter((s) => !seen.has(s.id));
  if (missing.length > 0) {
    throw new DrXaiError(
      `${missing.length} image(s) of data set ${dataset.root} are not in the split (first: '${missing[0].id}'); make the split again`,
      { file },
    );
  }
  const ordered = (split: SplitName): Sample[] => lists[split].sort((a, b) => a.index - b.index).map((e) => e.sample);
  return { train: ordered('train'), val: ordered('val'), test: ordered('test'), groupOf };
}
