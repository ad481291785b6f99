import { DrXaiError, Rng } from '../core/index.ts';
import { labelFor, type Task } from '../core/index.ts';
import type { Sample } from './types.ts';
import { summarizeSplit, type SplitReport } from './report.ts';

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

/** Which samples went where. Each list keeps the data set's order. */
export interface SplitAssignment {
  train: Sample[];
  val: Sample[];
  test: Sample[];
  /**
   * Group key of every sample id: the first (sorted) id of its duplicate group, or its own id
   * when it has no duplicate. Samples sharing a key are always in the same split.
   */
  groupOf: Map<string, string>;
}

export interface SplitResult extends SplitAssignment {
  report: SplitReport;
}

export interface SplitOptions {
  /** train, val, test; each >= 0 (0 = no such split), summing to 1. Default 0.8, 0.1, 0.1. */
  fractions?: readonly [number, number, number];
  /** Default 42. */
  seed?: number;
  /** The classes the report counts and the balance guarantee is about. Default 'referable'. */
  task?: Task;
  /** Sets of ids that must stay together (duplicate groups from findDuplicateGroups). */
  groupBy?: readonly { ids: readonly string[] }[];
}

export const DEFAULT_FRACTIONS: readonly [number, number, number] = [0.8, 0.1, 0.1];
export const DEFAULT_SEED = 42;

/** Products like 0.7 * 10 land a hair off an integer; snap those so they are not rounded away. */
function snap(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) < 1e-9 ? r : x;
}

export function validateFractions(fractions: readonly number[]): [number, number, number] {
  if (fractions.length !== 3 || fractions.some((f) => !Number.isFinite(f) || f < 0)) {
    throw new DrXaiError(`fractions must be three numbers >= 0 (train,val,test), got ${fractions.join(',')}`);
  }
  const sum = fractions[0] + fractions[1] + fractions[2];
  if (Math.abs(sum - 1) > 1e-6) throw new DrXaiError(`fractions must sum to 1, got ${fractions.join(',')} (sum ${+sum.toFixed(6)})`);
  if (fractions[0] === 0) throw new DrXaiError('the train fraction must be above 0');
  return [fractions[0], fractions[1], fractions[2]];
}

/**
 * Integer image targets per (grade, split).
 *
 * Ideal counts x[g][k] = fractions[k] * n[g] are rounded so that (a) each row still sums to n[g]
 * exactly, (b) every cell is floor or ceil of its ideal, and (c) for every set of rows in
 * `rowGroups` (the grades of one task class) and for the whole table, each column sum is floor or
 * ceil of its ideal. Such a "controlled rounding" always exists (Cox, "A constructive procedure
 * for unbiased controlled rounding", JASA 1987): rows are one laminar family of cells, the
 * nested class/total column sums another, so the constraint matrix is totally unimodular and the
 * polytope that holds the ideal x has integral vertices. With at most 6 rows and 3 splits
 * (<= 3^6 candidates) we find it by enumeration, keeping the candidate closest to the ideal
 * (least squares over cells, class columns and total columns; first one on ties).
 */
export function controlledRounding(rowTotals: readonly number[], fractions: readonly number[], rowGroups: readonly (readonly number[])[] = []): number[][] {
  const K = fractions.length;
  const ideal = rowTotals.map((n) => fractions.map((f) => snap(f * n)));
  const base = ideal.map((row) => row.map(Math.floor));
  const need = rowTotals.map((n, g) => n - base[g].reduce((a, b) => a + b, 0));
  const sets = [...rowGroups, rowTotals.map((_, g) => g)];
  const setIdeal = sets.map((rows) => {
    const n = rows.reduce((a, g) => a + rowTotals[g], 0);
    return fractions.map((f) => snap(f * n));
  });
  // Per row, the ways to hand out its `need` extra images to its fractional cells.
  const choices = ideal.map((row, g) => {
    const fractional = row.map((x, k) => (Number.isInteger(x) ? -1 : k)).filter((k) => k >= 0);
    const subsets: number[][] = [];
    const pick = (start: number, chosen: number[]): void => {
      if (chosen.length === need[g]) {
        subsets.push(chosen.slice());
        return;
      }
      for (let i = start; i < fractional.length; i++) pick(i + 1, [...chosen, fractional[i]]);
    };
    pick(0, []);
    return subsets;
  });
  let best: number[][] | null = null;
  let bestCost = Infinity;
  const current = base.map((row) => row.slice());
  const search = (g: number): void => {
    if (g === rowTotals.length) {
      let cost = 0;
      for (let r = 0; r < rowTotals.length; r++) for (let k = 0; k < K; k++) cost += (current[r][k] - ideal[r][k]) ** 2;
      for (let i = 0; i < sets.length; i++) {
        for (let k = 0; k < K; k++) {
          let col = 0;
          for (const r of sets[i]) col += current[r][k];
          if (col < Math.floor(setIdeal[i][k]) || col > Math.ceil(setIdeal[i][k])) return;
          cost += (col - setIdeal[i][k]) ** 2;
        }
      }
      if (cost < bestCost - 1e-12) {
        bestCost = cost;
        best = current.map((row) => row.slice());
      }
      return;
    }
    for (const subset of choices[g]) {
      for (const k of subset) current[g][k]++;
      search(g + 1);
      for (const k of subset) current[g][k]--;
    }
  };
  search(0);
  if (!best) throw new Error(`controlled rounding found no solution for ${rowTotals.join(',')} x ${fractions.join(',')}`);
  return best;
}

interface Unit {
  samples: Sample[];
  /** Stratum: the group's highest grade (null when no member is graded). */
  grade: number | null;
}

/**
 * Stratified, group-aware train/val/test split.
 *
 * Strata are the ICDR grades for every task: splitting each grade in proportion also splits
 * any grouping of grades (referable, any-dr) in proportion, and keeps the rarer grades
 * (severe, proliferative) from piling up in one split. Targets per grade and split come from
 * controlledRounding, so without duplicates every grade, every task class and every split's
 * total lands within one image of its ideal count.
 *
 * Duplicate groups move as one unit. A group's stratum is its highest grade (the conservative
 * reading when graders disagree on the same picture). Within a stratum the units are shuffled
 * with Rng(seed) and dealt out in that order: train is filled to its target, then val, then test
 * (a split with fraction 0 receives nothing). A group that does not fit the split being filled
 * goes to a later one it fits, else to the one furthest below target, and that excess is taken
 * off the targets of the next grades of the same task class. Without groups this is a plain cut
 * of the shuffled list and meets the targets exactly; with groups, a group's split depends only
 * on its random position, so duplicates are not steered into any one split.
 */
export function stratifiedSplit(samples: readonly Sample[], opts: SplitOptions = {}): SplitResult {
  const fractions = validateFractions(opts.fractions ?? DEFAULT_FRACTIONS);
  const seed = opts.seed ?? DEFAULT_SEED;
  const task = opts.task ?? 'referable';
  const order = new Map<string, number>();
  samples.forEach((s, i) => {
    if (order.has(s.id)) throw new DrXaiError(`duplicate sample id '${s.id}'`);
    order.set(s.id, i);
  });

  // Union the groups (a sample could be listed in two overlapping groups).
  const parent = new Map<string, string>();
  const find = (id: string): string => {
    let r = id;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(id, r);
    return r;
  };
  for (const s of samples) parent.set(s.id, s.id);
  for (const group of opts.groupBy ?? []) {
    const present = group.ids.filter((id) => order.has(id));
    for (const id of present.slice(1)) {
      const a = find(present[0]);
      const b = find(id);
      if (a !== b) parent.set(b < a ? a : b, b < a ? b : a);
    }
  }
  const members = new Map<string, Sample[]>();
  for (const s of samples) {
    const root = find(s.id);
    const list = members.get(root);
    if (list) list.push(s);
    else members.set(root, [s]);
  }
  const groupOf = new Map<string, string>();
  const units: Unit[] = [];
  for (const list of members.values()) {
    const key = list.map((s) => s.id).sort()[0];
    for (const s of list) groupOf.set(s.id, key);
    const grades = list.map((s) => s.grade).filter((g): g is number => g !== null);
    units.push({ samples: list, grade: grades.length ? Math.max(...grades) : null });
  }

  // Targets per grade, balanced per grade, per task class and per split total.
  const strata: (number | null)[] = [0, 1, 2, 3, 4, null];
  const size = new Map<number | null, number>(strata.map((g) => [g, 0]));
  for (const u of units) size.set(u.grade, size.get(u.grade)! + u.samples.length);
  const target = new Map<number | null, number[]>();
  const classes = new Map<string, (number | null)[]>();
  for (const g of strata) {
    const cls = g === null ? 'unlabelled' : String(labelFor(g, task));
    if (!classes.has(cls)) classes.set(cls, []);
    classes.get(cls)!.push(g);
  }
  const classRows = [...classes.values()].map((grades) => grades.map((g) => strata.indexOf(g)));
  const targets = controlledRounding(strata.map((g) => size.get(g)!), fractions, classRows);
  strata.forEach((g, i) => target.set(g, targets[i]));

  const rng = new Rng(seed);
  const bySplit: Sample[][] = [[], [], []];
  const open = [0, 1, 2].filter((k) => fractions[k] > 0);
  for (const grades of classes.values()) {
    // A group can overshoot its grade's target; the excess is taken off the targets of the
    // class's next grades (largest last, where it is relatively smallest), so the task class
    // stays balanced. Without groups there is never any excess.
    const carry = [0, 0, 0];
    for (const g of [...grades].sort((a, b) => size.get(a)! - size.get(b)!)) {
      const stratum = rng.shuffle(units.filter((u) => u.grade === g));
      const want = target.get(g)!.map((t, k) => t - carry[k]);
      const have = [0, 0, 0];
      const deficit = (k: number): number => want[k] - have[k];
      for (const unit of stratum) {
        const n = unit.samples.length;
        // Fill the splits in turn (train, then val, then test) like cutting a shuffled list, so a
        // group lands wherever its random position falls; one too big for the split being filled
        // goes to a later split it fits, else to the split furthest below its target.
        const filling = open.find((k) => deficit(k) > 0);
        let k = filling !== undefined && deficit(filling) >= n ? filling : open.find((j) => j > (filling ?? -1) && deficit(j) >= n);
        if (k === undefined) k = open.reduce((a, b) => (deficit(b) > deficit(a) ? b : a));
        have[k] += n;
        bySplit[k].push(...unit.samples);
      }
      for (let k = 0; k < 3; k++) carry[k] = have[k] - want[k];
    }
  }
  for (const list of bySplit) list.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const assignment: SplitAssignment = { train: bySplit[0], val: bySplit[1], test: bySplit[2], groupOf };
  return { ...assignment, report: summarizeSplit(assignment, task, { fractions, seed }) };
}

/**
 * Stratified, group-aware k-fold partition for cross-validation: fold i is the validation split
 * of assignment i and the other folds its training split (no test split). Folds are cut one at a
 * time with stratifiedSplit, fold i taking 1 / (k - i) of what is left, so every fold inherits
 * its guarantees: each grade and task class within about one image of 1/k, and duplicate groups
 * never straddling two folds (hence never on both sides of a train/val boundary).
 */
export function stratifiedFolds(samples: readonly Sample[], k: number, opts: Omit<SplitOptions, 'fractions'> = {}): SplitAssignment[] {
  if (!Number.isInteger(k) || k < 2) throw new DrXaiError(`folds must be an integer >= 2, got ${k}`);
  if (samples.length < k) throw new DrXaiError(`${samples.length} images cannot be cut into ${k} folds`);
  const seed = opts.seed ?? DEFAULT_SEED;
  const folds: Sample[][] = [];
  let rest: readonly Sample[] = samples;
  let groupOf = new Map<string, string>();
  for (let i = 0; i < k - 1; i++) {
    const f = 1 / (k - i);
    const cut = stratifiedSplit(rest, { ...opts, seed: seed + i, fractions: [1 - f, f, 0] });
    if (i === 0) groupOf = cut.groupOf;
    folds.push(cut.val);
    rest = cut.train;
  }
  folds.push([...rest]);
  const order = new Map(samples.map((s, i) => [s.id, i]));
  const inOrder = (list: Sample[]) => list.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return folds.map((val, i) => ({ train: inOrder(folds.filter((_, j) => j !== i).flat()), val: inOrder([...val]), test: [], groupOf }));
}
