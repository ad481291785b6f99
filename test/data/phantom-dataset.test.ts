import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { parse } from 'csv-parse/sync';
import { DrXaiError } from '../../src/core/index.ts';
import { loadDataset } from '../../src/data/index.ts';
import { writePhantomDataset, allocateGrades, APTOS_GRADE_DISTRIBUTION, generatePhantom, MASKED_LESION_TYPES } from '../../src/data/phantom/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(path.join(tmpdir(), 'drxai-phantom-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

async function maskPixels(file: string): Promise<{ count: number; width: number; height: number }> {
  assert.equal((await sharp(file).metadata()).channels, 1, `${file} is one channel, as in IDRiD`);
  const { data, info } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 1);
  let count = 0;
  for (const v of data) {
    assert.ok(v === 0 || v === 255);
    if (v) count++;
  }
  return { count, width: info.width, height: info.height };
}

test('largest-remainder grade allocation sums to n', () => {
  assert.deepEqual(allocateGrades(10, APTOS_GRADE_DISTRIBUTION), [5, 1, 3, 0, 1]);
  assert.deepEqual(allocateGrades(5, [1, 1, 1, 1, 1]), [1, 1, 1, 1, 1]);
  assert.deepEqual(allocateGrades(7, [0, 0, 1, 0, 0]), [0, 0, 7, 0, 0]);
  assert.deepEqual(allocateGrades(3, [2, 1, 0, 0, 0]), [2, 1, 0, 0, 0]);
});

test('data set layout: APTOS labels the loaders read, IDRiD-style masks, lesions.csv counts equal mask pixels, duplicates', async () => {
  const dir = path.join(scratch, 'ds');
  const summary = await writePhantomDataset(dir, { n: 10, seed: 9, size: 96, duplicates: 2, gradeDistribution: [2, 1, 3, 2, 2], quiet: true });
  assert.deepEqual(summary.gradeCounts.reduce((a, b) => a + b, 0), 12);
  assert.deepEqual(readdirSync(dir).sort(), ['images', 'labels.csv', 'lesions.csv', 'masks', 'phantom.json']);

  const dataset = await loadDataset(dir, 'auto');
  assert.equal(dataset.format, 'aptos224');
  assert.equal(dataset.samples.length, 12);
  assert.deepEqual(dataset.samples.map((s) => [s.id, s.grade]), summary.rows.map((r) => [r.id, r.grade]));
  // Distinct images carry the grade the rule gives their lesions; the grades follow the distribution.
  const meta = JSON.parse(readFileSync(path.join(dir, 'phantom.json'), 'utf8'));
  const distinct = summary.rows.filter((r) => !r.duplicateOf);
  assert.deepEqual([0, 1, 2, 3, 4].map((g) => distinct.filter((r) => r.grade === g).length), [2, 1, 3, 2, 2]);
  for (const r of distinct) {
    const rec = meta.images.find((m: { id: string }) => m.id === r.id);
    const again = generatePhantom({ seed: rec.seed, size: 96, grade: r.grade });
    assert.deepEqual(again.lesions, rec.lesions);
  }

  const lesionRows = parse(readFileSync(path.join(dir, 'lesions.csv')), { columns: true }) as Record<string, string>[];
  assert.deepEqual(Object.keys(lesionRows[0]), ['image', 'image_size', 'MA_px', 'HE_px', 'EX_px', 'SE_px', 'OD_px']);
  assert.deepEqual(lesionRows.map((r) => r.image), summary.rows.map((r) => r.id));
  let lesionPixels = 0;
  for (const row of lesionRows) {
    assert.equal(row.image_size, '96x96');
    for (const type of [...MASKED_LESION_TYPES, 'OD']) {
      const m = await maskPixels(path.join(dir, 'masks', `${row.image}_${type}.png`));
      assert.deepEqual([m.width, m.height], [96, 96]);
      assert.equal(Number(row[`${type}_px`]), m.count, `${row.image} ${type}`);
      if (type !== 'OD') lesionPixels += m.count;
      else assert.ok(m.count > 0);
    }
  }
  assert.ok(lesionPixels > 0);

  const dups = summary.rows.filter((r) => r.duplicateOf);
  assert.equal(dups.length, 2);
  for (const [k, d] of dups.entries()) {
    const original = summary.rows.find((r) => r.id === d.duplicateOf)!;
    const bytes = (id: string): Buffer => readFileSync(path.join(dir, 'images', `${id}.png`));
    assert.deepEqual(bytes(d.id), bytes(original.id));
    assert.deepEqual(readFileSync(path.join(dir, 'masks', `${d.id}_HE.png`)), readFileSync(path.join(dir, 'masks', `${original.id}_HE.png`)));
    // The first copy keeps the grade, the second is relabelled (as some APTOS duplicates are).
    if (k === 0) assert.equal(d.grade, original.grade);
    else assert.notEqual(d.grade, original.grade);
  }
});

test('same seed writes identical files; a non-empty folder is refused and nothing is left behind', async () => {
  const a = path.join(scratch, 'a');
  const b = path.join(scratch, 'b');
  await writePhantomDataset(a, { n: 3, seed: 4, size: 64, quiet: true });
  mkdirSync(b); // an existing empty folder is fine
  await writePhantomDataset(b, { n: 3, seed: 4, size: 64, quiet: true });
  for (const f of ['labels.csv', 'lesions.csv', 'phantom.json', ...readdirSync(path.join(a, 'images')).map((f) => `images/${f}`)]) {
    assert.deepEqual(readFileSync(path.join(b, f)), readFileSync(path.join(a, f)), f);
  }
  const c = path.join(scratch, 'c');
  await writePhantomDataset(c, { n: 3, seed: 5, size: 64, quiet: true });
  assert.notDeepEqual(readFileSync(path.join(c, 'images', 'ph5-00001.png')), readFileSync(path.join(a, 'images', 'ph4-00001.png')));

  const full = path.join(scratch, 'full');
  mkdirSync(full);
  writeFileSync(path.join(full, 'keep.txt'), 'mine');
  await assert.rejects(writePhantomDataset(full, { n: 2, seed: 1, size: 64, quiet: true }), (e: unknown) => e instanceof DrXaiError && /full: output directory is not empty/.test(e.message));
  assert.deepEqual(readdirSync(full), ['keep.txt']);
  const never = path.join(scratch, 'never');
  await assert.rejects(writePhantomDataset(never, { n: 2, seed: 1, size: 8, quiet: true }), /size must be an integer/);
  await assert.rejects(writePhantomDataset(never, { n: 2, seed: 1, duplicates: 3, quiet: true }), /duplicates must be an integer from 0 to n/);
  await assert.rejects(writePhantomDataset(never, { n: 2, seed: 1, gradeDistribution: [1, 1], quiet: true }), /grade distribution must be 5/);
  assert.equal(existsSync(never), false);
  assert.deepEqual(readdirSync(scratch).filter((f) => f.includes('.partial-')), []);
});

test('dr-xai phantom writes a data set and rejects bad options in one line', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'phantom', ...args], { cwd: root, encoding: 'utf8' });
  const out = path.join(scratch, 'cli');
  const ok = cli(['--out', out, '--n', '3', '--size', '64', '--seed', '2', '--duplicates', '1', '--quiet']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /wrote 4 images \(1 duplicates\)/);
  assert.equal(readFileSync(path.join(out, 'labels.csv'), 'utf8').trim().split('\n').length, 5);
  const bad = cli(['--out', path.join(scratch, 'cli2'), '--n', 'many']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim(), "dr-xai: error: --n must be an integer from 1 to 1000000, got 'many'");
  const preset = cli(['--out', path.join(scratch, 'cli3'), '--difficulty', 'brutal']);
  assert.equal(preset.status, 1);
  assert.match(preset.stderr, /--difficulty must be one of easy, medium, hard/);
});
