import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DrXaiError, classNamesFor, labelFor, outputsFor, type Task } from '../../src/core/index.ts';
import {
  stratifiedSplit,
  stratifiedFolds,
  findDuplicateGroups,
  pixelHash,
  writeSplitCsv,
  readSplitCsv,
  summarizeSplit,
  formatSplitReport,
  SPLIT_NAMES,
  type Sample,
  type Dataset,
  type SplitAssignment,
} from '../../src/data/index.ts';
import { controlledRounding } from '../../src/data/split.ts';
import { tempDir, writeImage } from './helpers.ts';

/** Samples with the given number of images per grade, ids g<grade>-<n>. */
function samplesWith(countsPerGrade: number[]): Sample[] {
  const out: Sample[] = [];
  countsPerGrade.forEach((n, grade) => {
    for (let i = 0; i < n; i++) out.push({ id: `g${grade}-${i}`, path: `/nowhere/g${grade}-${i}.png`, grade });
  });
  return out;
}

const ids = (list: Sample[]): string[] => list.map((s) => s.id);

test('labelFor / outputsFor follow the ICDR thresholds', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((g) => labelFor(g, 'referable')), [0, 0, 1, 1, 1]);
  assert.deepEqual([0, 1, 2, 3, 4].map((g) => labelFor(g, 'any-dr')), [0, 1, 1, 1, 1]);
  assert.deepEqual([0, 1, 2, 3, 4].map((g) => labelFor(g, 'grade')), [0, 1, 2, 3, 4]);
  assert.deepEqual((['referable', 'any-dr', 'grade'] as Task[]).map((t) => outputsFor(t)), [1, 1, 5]);
  assert.deepEqual((['referable', 'any-dr', 'grade'] as Task[]).map((t) => outputsFor(t, 'ordinal')), [1, 1, 4]);
  assert.equal(classNamesFor('grade').length, 5);
  assert.throws(() => labelFor(5, 'grade'), DrXaiError);
  assert.throws(() => labelFor(1.5, 'referable'), DrXaiError);
});

test('controlledRounding keeps rows exact and cells, class totals and split totals within one image', () => {
  // Three grades of 5 at 80/10/10: every grade's val and test ideal is 0.5. Rounding each grade
  // alone (ties to val) would give val 3 and test 0; the class needs val and test in {1, 2}.
  const t = controlledRounding([5, 5, 5], [0.8, 0.1, 0.1]);
  for (const row of t) {
    assert.equal(row.reduce((a, b) => a + b, 0), 5);
    assert.equal(row[0], 4);
  }
  const cols = [0, 1, 2].map((k) => t.reduce((a, row) => a + row[k], 0));
  assert.equal(cols[0], 12);
  assert.ok(cols[1] >= 1 && cols[1] <= 2 && cols[2] >= 1 && cols[2] <= 2, `columns ${cols}`);
  // Five grades of 4 at 90/10 (val ideal 0.4 each, 2 in all), in classes {0,1} and {2,3,4}:
  // per-grade rounding alone would put no image in val; the totals force exactly 2, one per class.
  const g = controlledRounding([4, 4, 4, 4, 4], [0.9, 0.1, 0], [[0, 1], [2, 3, 4]]);
  assert.deepEqual(g.map((row) => row[0] + row[1]), [4, 4, 4, 4, 4]);
  assert.deepEqual(g.map((row) => row[2]), [0, 0, 0, 0, 0]);
  assert.equal(g[0][1] + g[1][1], 1);
  assert.equal(g[2][1] + g[3][1] + g[4][1], 1);
  // Exact products stay exact (0.7 * 10 is 7.000000000000001 in floating point).
  assert.deepEqual(controlledRounding([10], [0.7, 0.2, 0.1]), [[7, 2, 1]]);
  assert.deepEqual(controlledRounding([7], [0.9, 0.1, 0]), [[6, 1, 0]]);
});

test('stratification: every grade, task class and split total within 1 image of its ideal, all samples once', () => {
  for (const counts of [[101, 23, 57, 11, 17], [4, 4, 4, 4, 4], [7, 3, 5, 2, 1], [0, 9, 0, 3, 6]]) {
    const samples = samplesWith(counts);
    for (const task of ['referable', 'any-dr', 'grade'] as Task[]) {
      for (const fractions of [[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.9, 0.1, 0], [0.6, 0.25, 0.15]] as [number, number, number][]) {
        for (const seed of [1, 42, 7777]) {
          const split = stratifiedSplit(samples, { fractions, seed, task });
          const all = [...split.train, ...split.val, ...split.test].map((s) => s.id).sort();
          assert.deepEqual(all, samples.map((s) => s.id).sort());
          SPLIT_NAMES.forEach((name, k) => {
            for (let g = 0; g < 5; g++) {
              const n = split[name].filter((s) => s.grade === g).length;
              assert.ok(Math.abs(n - fractions[k] * counts[g]) < 1, `${task} ${fractions} seed ${seed}: grade ${g} in ${name} = ${n}, ideal ${fractions[k] * counts[g]}`);
            }
            for (let c = 0; c < classNamesFor(task).length; c++) {
              const total = counts.reduce((a, n, g) => a + (labelFor(g, task) === c ? n : 0), 0);
              const n = split.report.counts[name][c];
              assert.equal(n, split[name].filter((s) => labelFor(s.grade!, task) === c).length);
              assert.ok(Math.abs(n - fractions[k] * total) < 1, `${task}: class ${c} in ${name} = ${n}, ideal ${fractions[k] * total}`);
            }
            assert.ok(Math.abs(split[name].length - fractions[k] * samples.length) < 1, `${name} total ${split[name].length}`);
          });
          if (fractions[2] === 0) assert.equal(split.test.length, 0);
        }
      }
    }
  }
});

test('same seed => same split; different seed => different split; lists keep data set order', () => {
  const samples = samplesWith([40, 10, 20, 5, 5]);
  const a = stratifiedSplit(samples, { seed: 42 });
  const b = stratifiedSplit(samples, { seed: 42 });
  const c = stratifiedSplit(samples, { seed: 43 });
  assert.deepEqual(ids(a.val), ids(b.val));
  assert.deepEqual(ids(a.test), ids(b.test));
  assert.notDeepEqual(ids(a.val), ids(c.val));
  const position = new Map(samples.map((s, i) => [s.id, i]));
  for (const name of SPLIT_NAMES) {
    const pos = a[name].map((s) => position.get(s.id)!);
    assert.deepEqual(pos, [...pos].sort((x, y) => x - y));
  }
});

test('bad options: fractions that do not sum to 1, negative, or no train', () => {
  const samples = samplesWith([5, 5, 5, 5, 5]);
  assert.throws(() => stratifiedSplit(samples, { fractions: [0.8, 0.1, 0.2] }), /must sum to 1/);
  assert.throws(() => stratifiedSplit(samples, { fractions: [1.1, -0.1, 0] }), /three numbers >= 0/);
  assert.throws(() => stratifiedSplit(samples, { fractions: [0, 0.5, 0.5] }), /train fraction must be above 0/);
  assert.throws(() => stratifiedSplit([...samples, samples[0]]), /duplicate sample id 'g0-0'/);
});

test('duplicate groups stay on one side for every seed, and a group is stratified by its highest grade', () => {
  const samples: Sample[] = [
    { id: 'x', path: '/x.png', grade: 0 },
    { id: 'y', path: '/y.png', grade: 4 },
    { id: 's1', path: '/s1.png', grade: 4 },
    { id: 's2', path: '/s2.png', grade: 4 },
  ];
  // {x, y} counts as two grade-4 images, so grade 4 has 4 images and a 2/2 target: the group
  // fills one side and both singletons the other. Stratified by its lowest grade instead, the
  // two singletons would be split one and one.
  for (let seed = 0; seed < 40; seed++) {
    const split = stratifiedSplit(samples, { fractions: [0.5, 0.5, 0], seed, groupBy: [{ ids: ['x', 'y'] }] });
    const side = (id: string): string => (split.train.some((s) => s.id === id) ? 'train' : 'val');
    assert.equal(side('x'), side('y'));
    assert.equal(side('s1'), side('s2'));
    assert.notEqual(side('x'), side('s1'));
    assert.equal(split.groupOf.get('y'), 'x');
    assert.equal(split.groupOf.get('s1'), 's1');
  }
  // Larger data: 30 random groups never straddle, and each class stays within its group slack.
  const big = samplesWith([200, 40, 100, 20, 30]);
  const groups = Array.from({ length: 30 }, (_, i) => ({ ids: [big[i * 7].id, big[(i * 13 + 5) % big.length].id, big[(i * 11 + 200) % big.length].id] }));
  const splitSides = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5]) {
    const split = stratifiedSplit(big, { seed, groupBy: groups });
    const where = new Map<string, string>();
    for (const name of SPLIT_NAMES) for (const s of split[name]) where.set(s.id, name);
    for (const g of groups) {
      const sides = new Set(g.ids.map((id) => where.get(id)));
      assert.equal(sides.size, 1, `group ${g.ids} straddles ${[...sides]}`);
      splitSides.add([...sides][0]!);
    }
    // Overshoot by a group is carried over to the next grades, so split sizes stay near 39/39
    // although units here are up to 7 images of mixed grades.
    assert.ok(Math.abs(split.val.length - 39) <= 2 && Math.abs(split.test.length - 39) <= 2, `${split.val.length}/${split.test.length}`);
  }
  // Groups are not steered into one split.
  assert.deepEqual([...splitSides].sort(), ['test', 'train', 'val']);
});

test('findDuplicateGroups hashes decoded pixels: same pixels in different files group, different dims do not', async (t) => {
  const dir = tempDir(t);
  const pixels = Buffer.from(Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 37) % 256));
  const raw = { raw: { width: 6, height: 4, channels: 3 as const } };
  await sharp(pixels, raw).png({ compressionLevel: 0 }).toFile(path.join(dir, 'a.png'));
  await sharp(pixels, raw).png({ compressionLevel: 9 }).toFile(path.join(dir, 'b.png'));
  await sharp(pixels, raw).tiff({ compression: 'lzw' }).toFile(path.join(dir, 'c.tif'));
  await sharp(pixels, { raw: { width: 4, height: 6, channels: 3 } }).png().toFile(path.join(dir, 'd.png'));
  await writeImage(path.join(dir, 'e.png'), [1, 2, 3]);
  await writeImage(path.join(dir, 'f.png'), [1, 2, 3]);
  await writeImage(path.join(dir, 'g.png'), [1, 2, 4]);
  assert.notDeepEqual(readFileSync(path.join(dir, 'a.png')), readFileSync(path.join(dir, 'b.png')));
  const samples: Sample[] = ['g', 'f', 'e', 'd', 'c', 'b', 'a'].map((id) => ({ id, path: path.join(dir, `${id}.${id === 'c' ? 'tif' : 'png'}`), grade: 0 }));
  const groups = await findDuplicateGroups(samples, { jobs: 3, quiet: true });
  assert.deepEqual(groups.map((g) => g.ids), [['a', 'b', 'c'], ['e', 'f']]);
  assert.equal(groups[0].hash, await pixelHash(path.join(dir, 'a.png')));
  assert.match(groups[0].hash, /^[0-9a-f]{64}$/);
  // A corrupt image stops with its file named.
  writeFileSync(path.join(dir, 'bad.png'), 'not an image');
  await assert.rejects(findDuplicateGroups([{ id: 'bad', path: path.join(dir, 'bad.png'), grade: 1 }], { quiet: true }), /bad\.png: not a recognised image/);
});

test('report: counts per split and class, duplicate groups, conflicting grades with ids', () => {
  const samples: Sample[] = [
    ...samplesWith([10, 0, 0, 0, 0]),
    { id: 'p', path: '/p', grade: 1 },
    { id: 'q', path: '/q', grade: 2 },
    { id: 'r', path: '/r', grade: 3 },
    { id: 's', path: '/s', grade: 3 },
  ];
  const split = stratifiedSplit(samples, { task: 'referable', groupBy: [{ ids: ['q', 'p'] }, { ids: ['r', 's'] }] });
  const r = split.report;
  assert.equal(r.task, 'referable');
  assert.deepEqual(r.classNames, ['non-referable (0-1)', 'referable (2-4)']);
  assert.equal(r.totals.train + r.totals.val + r.totals.test, 14);
  assert.deepEqual([0, 1].map((c) => r.counts.train[c] + r.counts.val[c] + r.counts.test[c]), [11, 3]);
  assert.deepEqual(r.duplicateGroups.map((g) => g.ids), [['p', 'q'], ['r', 's']]);
  assert.equal(r.duplicateImages, 4);
  assert.equal(r.conflicts.length, 1);
  assert.deepEqual(r.conflicts[0].members, [{ id: 'p', grade: 1 }, { id: 'q', grade: 2 }]);
  assert.equal(r.conflicts[0].labelsDiffer, true);
  const text = formatSplitReport(r);
  assert.match(text, /duplicate groups: 2 \(4 images/);
  assert.match(text, /grade conflicts inside a group: 1 \(1 also disagree on the referable label\)/);
  assert.match(text, /p=1 q=2 {2}\(label differs\)/);
  // For any-dr, grades 1 and 2 agree on the label.
  assert.equal(summarizeSplit(split, 'any-dr').conflicts[0].labelsDiffer, false);
});

function datasetOf(samples: Sample[]): Dataset {
  return { name: 'mem', format: 'generic', root: '/mem', samples, skipped: [] };
}

test('split CSV round trip: write, read back against the data set, same assignment', async (t) => {
  const dir = tempDir(t);
  const samples = [...samplesWith([12, 3, 6, 2, 2]), { id: 'needs "quotes", yes', path: '/q', grade: 1 }, { id: 'unl', path: '/u', grade: null }];
  const split = stratifiedSplit(samples, { seed: 5, groupBy: [{ ids: ['g0-1', 'g2-3', 'g4-0'] }] });
  const file = path.join(dir, 'sub', 'split.csv');
  await writeSplitCsv(file, split);
  const text = readFileSync(file, 'utf8');
  assert.ok(text.startsWith('id,split,grade,group\n'));
  assert.match(text, /\n"needs ""quotes"", yes",(train|val|test),1,"needs ""quotes"", yes"\n/);
  assert.match(text, /\nunl,(train|val|test),,unl\n/);
  const back = await readSplitCsv(file, datasetOf(samples));
  const plain = (a: SplitAssignment) => ({ train: ids(a.train), val: ids(a.val), test: ids(a.test), groupOf: [...a.groupOf].sort() });
  assert.deepEqual(plain(back), plain(split));
  assert.equal(back.groupOf.get('g4-0'), 'g0-1');
});

test('readSplitCsv: every mismatch with the data set is an error on its line; a wrong header too', async (t) => {
  const dir = tempDir(t);
  const ds = datasetOf([{ id: 'a', path: '/a', grade: 0 }, { id: 'b', path: '/b', grade: 2 }, { id: 'c', path: '/c', grade: 4 }]);
  const file = path.join(dir, 'split.csv');
  const cases: [string, number | null, RegExp][] = [
    ['id,split,grade,group\na,train,0,a\nzz,val,2,zz\n', 3, /id 'zz' is not in data set \/mem/],
    ['id,split,grade,group\na,train,0,a\nb,val,3,b\nc,test,4,c\n', 3, /grade of 'b' is 3 here but 2 in the data set labels/],
    ['id,split,grade,group\na,train,0,a\nb,holdout,2,b\nc,test,4,c\n', 3, /unknown split 'holdout'/],
    ['id,split,grade,group\na,train,0,a\nb,val,2,a\nc,test,4,c\n', 3, /group 'a' is in train \(line 2\) and in val/],
    ['id,split,grade,group\na,train,0,a\nb,val,2,b\na,train,0,a\n', 4, /duplicate id 'a' \(first on line 2\)/],
    ['id,split,grade,group\na,train,0,a\nb,val,2,b\n', null, /1 image\(s\) of data set \/mem are not in the split \(first: 'c'\)/],
    ['id,split,group\na,train,a\n', 1, /wrong header: expected columns id,split,grade,group/],
  ];
  for (const [text, line, pattern] of cases) {
    writeFileSync(file, text);
    await assert.rejects(readSplitCsv(file, ds), (e: unknown) => {
      assert.ok(e instanceof DrXaiError);
      assert.ok(e.message.startsWith(line === null ? `${file}: ` : `${file}:${line}: `), e.message);
      assert.match(e.message, pattern);
      return true;
    });
  }
  await assert.rejects(readSplitCsv(path.join(dir, 'none.csv'), ds), /none\.csv: split CSV not found/);
  assert.equal(existsSync(path.join(dir, 'none.csv')), false);
});

test('stratifiedFolds: k disjoint folds covering every image, each grade within one image of 1/k, duplicates in one fold', () => {
  const samples = samplesWith([50, 11, 27, 6, 9]);
  const groups = [{ ids: ['g0-0', 'g0-1', 'g2-0'] }, { ids: ['g4-3', 'g4-4'] }];
  const folds = stratifiedFolds(samples, 5, { seed: 7, groupBy: groups });
  assert.equal(folds.length, 5);
  const seen = new Map<string, number>();
  folds.forEach((f, i) => {
    assert.equal(f.test.length, 0);
    assert.equal(f.train.length + f.val.length, samples.length);
    const val = new Set(ids(f.val));
    assert.ok(f.train.every((s) => !val.has(s.id)), `fold ${i}: train and val overlap`);
    for (const s of f.val) {
      assert.ok(!seen.has(s.id), `${s.id} in two folds`);
      seen.set(s.id, i);
    }
  });
  assert.equal(seen.size, samples.length);
  // Groups stay in one fold.
  for (const g of groups) assert.equal(new Set(g.ids.map((id) => seen.get(id))).size, 1, `group ${g.ids} split`);
  // Without groups every grade is within one image of its ideal per fold.
  const plain = stratifiedFolds(samples, 5, { seed: 7 });
  for (const f of plain) {
    const counts = [0, 1, 2, 3, 4].map((g) => f.val.filter((s) => s.grade === g).length);
    [50, 11, 27, 6, 9].forEach((n, g) => assert.ok(Math.abs(counts[g] - n / 5) < 1 + 1e-9, `grade ${g}: ${counts[g]} vs ${n / 5}`));
  }
  // Same seed, same folds; another seed, other folds.
  assert.deepEqual(stratifiedFolds(samples, 5, { seed: 7 }).map((f) => ids(f.val)), plain.map((f) => ids(f.val)));
  assert.notDeepEqual(stratifiedFolds(samples, 5, { seed: 8 }).map((f) => ids(f.val)), plain.map((f) => ids(f.val)));
  assert.throws(() => stratifiedFolds(samples, 1), /folds must be an integer >= 2/);
});
