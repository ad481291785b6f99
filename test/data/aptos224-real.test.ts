// Needs ../shared/data/aptos2019-224 (read-only); runs only with DRXAI_REAL_DATA=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadDataset, findDuplicateGroups, stratifiedSplit, SPLIT_NAMES } from '../../src/data/index.ts';
import { FIXTURES, REPO_ROOT } from './helpers.ts';

const ROOT = path.resolve(REPO_ROOT, '../shared/data/aptos2019-224');
const skip = process.env.DRXAI_REAL_DATA === '1' ? false : 'set DRXAI_REAL_DATA=1 to run on ../shared/data';

test('APTOS-224: known grade counts, duplicate groups equal to the OpenCV reference, kept together', { skip }, async () => {
  const ds = await loadDataset(ROOT);
  assert.equal(ds.format, 'aptos224');
  const counts = [0, 0, 0, 0, 0];
  for (const s of ds.samples) counts[s.grade!]++;
  assert.deepEqual(counts, [1624, 336, 900, 174, 266]);

  const started = Date.now();
  const groups = await findDuplicateGroups(ds.samples, { quiet: true });
  const seconds = (Date.now() - started) / 1000;
  // Reference: scripts/fixtures/make_data_fixtures.py (cv2 decode + hashlib), 115 groups, 27 conflicting.
  const reference = JSON.parse(readFileSync(path.join(FIXTURES, 'aptos224_duplicates.json'), 'utf8')) as { groups: string[][] };
  assert.deepEqual(groups.map((g) => g.ids), reference.groups);
  assert.ok(seconds < 60, `hashing 3,300 images took ${seconds}s`);

  for (const fractions of [[0.8, 0.1, 0.1], [0.9, 0.1, 0]] as [number, number, number][]) {
    const split = stratifiedSplit(ds.samples, { fractions, seed: 42, task: 'referable', groupBy: groups });
    const where = new Map<string, string>();
    for (const name of SPLIT_NAMES) for (const s of split[name]) where.set(s.id, name);
    assert.equal(where.size, 3300);
    for (const g of groups) assert.equal(new Set(g.ids.map((id) => where.get(id))).size, 1, `group ${g.ids} straddles splits`);
    assert.equal(split.report.duplicateGroups.length, 115);
    assert.equal(split.report.conflicts.length, 27);
    SPLIT_NAMES.forEach((name, k) => {
      // Groups are at most 4 images; the carry keeps each split within a few images of its size.
      assert.ok(Math.abs(split[name].length - fractions[k] * 3300) <= 3, `${name}: ${split[name].length}`);
    });
    if (fractions[2] === 0) assert.equal(split.test.length, 0);
  }
});
