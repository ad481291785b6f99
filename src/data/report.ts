import { classNamesFor, labelFor, type Task } from '../core/index.ts';
import type { SplitAssignment, SplitName } from './split.ts';

const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

/** A duplicate group whose members carry different grades. */
export interface GradeConflict {
  group: string;
  split: SplitName;
  members: { id: string; grade: number | null }[];
  /** True when the grades also disagree on the task label (e.g. 1 vs 2 for referable). */
  labelsDiffer: boolean;
}

export interface SplitReport {
  task: Task;
  classNames: string[];
  fractions?: readonly [number, number, number];
  seed?: number;
  totals: Record<SplitName, number>;
  /** Images per split per task class (index = label). */
  counts: Record<SplitName, number[]>;
  /** Images per split per ICDR grade 0-4. */
  gradeCounts: Record<SplitName, number[]>;
  /** Images without a grade, per split. */
  unlabelled: Record<SplitName, number>;
  /** Groups of two or more identical images (all in one split by construction). */
  duplicateGroups: { group: string; ids: string[]; split: SplitName }[];
  /** Images that sit in a duplicate group. */
  duplicateImages: number;
  conflicts: GradeConflict[];
}

/** Counts, duplicate groups and grade conflicts of an assignment. */
export function summarizeSplit(
  assignment: SplitAssignment,
  task: Task,
  meta: { fractions?: readonly [number, number, number]; seed?: number } = {},
): SplitReport {
  const classNames = classNamesFor(task);
  const per = <T>(make: () => T): Record<SplitName, T> => ({ train: make(), val: make(), test: make() });
  const totals = per(() => 0);
  const counts = per(() => classNames.map(() => 0));
  const gradeCounts = per(() => [0, 0, 0, 0, 0]);
  const unlabelled = per(() => 0);
  const groups = new Map<string, { split: SplitName; members: { id: string; grade: number | null }[] }>();
  for (const split of SPLITS) {
    for (const s of assignment[split]) {
      totals[split]++;
      if (s.grade === null) unlabelled[split]++;
      else {
        gradeCounts[split][s.grade]++;
        counts[split][labelFor(s.grade, task)]++;
      }
      const key = assignment.groupOf.get(s.id) ?? s.id;
      const g = groups.get(key);
      if (g) g.members.push({ id: s.id, grade: s.grade });
      else groups.set(key, { split, members: [{ id: s.id, grade: s.grade }] });
    }
  }
  const duplicateGroups: SplitReport['duplicateGroups'] = [];
  const conflicts: GradeConflict[] = [];
  let duplicateImages = 0;
  for (const [group, { split, members }] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (members.length < 2) continue;
    members.sort((a, b) => (a.id < b.id ? -1 : 1));
    duplicateImages += members.length;
    duplicateGroups.push({ group, ids: members.map((m) => m.id), split });
    const grades = new Set(members.map((m) => m.grade));
    if (grades.size > 1) {
      const labels = new Set(members.map((m) => (m.grade === null ? null : labelFor(m.grade, task))));
      conflicts.push({ group, split, members, labelsDiffer: labels.size > 1 });
    }
  }
  return { task, classNames, fractions: meta.fractions, seed: meta.seed, totals, counts, gradeCounts, unlabelled, duplicateGroups, duplicateImages, conflicts };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** The report as text: per-split tables by task class and by grade, then duplicates and conflicts. */
export function formatSplitReport(report: SplitReport, opts: { maxConflicts?: number } = {}): string {
  const pct = (n: number, of: number): string => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');
  const splits = SPLITS.filter((s) => report.totals[s] > 0 || (report.fractions ? report.fractions[SPLITS.indexOf(s)] > 0 : true));
  const all = SPLITS.reduce((a, s) => a + report.totals[s], 0);
  const hasUnlabelled = SPLITS.some((s) => report.unlabelled[s] > 0);
  const classCols = [...report.classNames, ...(hasUnlabelled ? ['unlabelled'] : [])];
  const classRows = splits.map((s) => [
    s,
    ...report.counts[s].map((n) => `${n} (${pct(n, report.totals[s])})`),
    ...(hasUnlabelled ? [String(report.unlabelled[s])] : []),
    `${report.totals[s]} (${pct(report.totals[s], all)})`,
  ]);
  const out = [`task ${report.task}${report.seed !== undefined ? `, seed ${report.seed}` : ''}`, table(['split', ...classCols, 'total'], classRows)];
  if (report.task !== 'grade') {
    out.push('', table(['split', '0', '1', '2', '3', '4'], splits.map((s) => [s, ...report.gradeCounts[s].map(String)])));
  }
  out.push(
    '',
    `duplicate groups: ${report.duplicateGroups.length} (${report.duplicateImages} images, each group kept in one split)`,
    `grade conflicts inside a group: ${report.conflicts.length} (${report.conflicts.filter((c) => c.labelsDiffer).length} also disagree on the ${report.task} label)`,
  );
  const max = opts.maxConflicts ?? 20;
  for (const c of report.conflicts.slice(0, max)) {
    out.push(`  [${c.split}] ${c.members.map((m) => `${m.id}=${m.grade ?? '?'}`).join(' ')}${c.labelsDiffer ? '  (label differs)' : ''}`);
  }
  if (report.conflicts.length > max) out.push(`  ... and ${report.conflicts.length - max} more`);
  return out.join('\n');
}
