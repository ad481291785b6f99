import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, tempDir, writeImage } from './helpers.ts';

function drXai(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('dr-xai split: 90/10/0 split of an aptos224 folder with a duplicate pair; bad labels write nothing', async (t) => {
  const root = tempDir(t);
  const rows = ['id_code,diagnosis'];
  for (let i = 0; i < 20; i++) {
    const id = `img${String(i).padStart(2, '0')}`;
    rows.push(`${id},${i % 5}`);
    await writeImage(path.join(root, 'images', `${id}.png`), [i * 10, 50, 100]);
  }
  // img20 is img03's picture again under a new id and another grade.
  rows.push('img20,4');
  copyFileSync(path.join(root, 'images', 'img03.png'), path.join(root, 'images', 'img20.png'));
  writeFileSync(path.join(root, 'labels.csv'), `${rows.join('\n')}\n`);

  const out = path.join(root, 'out', 'split.csv');
  const ok = drXai(['split', '--data', root, '--fractions', '0.9,0.1,0', '--task', 'grade', '--quiet', '--out', out]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /aptos224, 21 images/);
  assert.match(ok.stdout, /^split\s+0 no DR\s+1 mild\s+2 moderate\s+3 severe\s+4 proliferative\s+total$/m);
  assert.match(ok.stdout, /duplicate groups: 1 \(2 images/);
  assert.match(ok.stdout, /img03=3 img20=4 {2}\(label differs\)/);
  assert.doesNotMatch(ok.stdout, /^test /m);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'id,split,grade,group');
  assert.equal(lines.length, 22);
  assert.equal(lines.filter((l) => l.split(',')[1] === 'val').length, 2);
  const pair = lines.filter((l) => l.startsWith('img03,') || l.startsWith('img20,'));
  assert.equal(pair.length, 2);
  assert.equal(pair[0].split(',')[1], pair[1].split(',')[1]);
  assert.deepEqual(pair.map((l) => l.split(',')[3]), ['img03', 'img03']);

  writeFileSync(path.join(root, 'labels.csv'), `${rows.join('\n')}\nimg21,9\n`);
  const out2 = path.join(root, 'never.csv');
  const bad = drXai(['split', '--data', root, '--val', '0.2', '--test', '0.1', '--out', out2]);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.equal(bad.stderr.trim(), `dr-xai: error: ${path.join(root, 'labels.csv')}:23: unknown grade '9' in column diagnosis (expected an integer 0-4)`);
  assert.equal(existsSync(out2), false);

  const both = drXai(['split', '--data', root, '--fractions', '0.8,0.1,0.1', '--val', '0.1', '--out', out2]);
  assert.equal(both.status, 1);
  assert.match(both.stderr, /give either --fractions or --val\/--test, not both/);
});

test('dr-xai split: a corrupt image is named and left out, the rest is split (exit 1); the folder format says what it did not read', async (t) => {
  const root = tempDir(t);
  const rows = ['id_code,diagnosis'];
  for (let i = 0; i < 12; i++) {
    const id = `img${String(i).padStart(2, '0')}`;
    rows.push(`${id},${i % 5}`);
    await writeImage(path.join(root, 'images', `${id}.png`), [i * 10, 50, 100]);
  }
  writeFileSync(path.join(root, 'images', 'img05.png'), 'not a png any more');
  writeFileSync(path.join(root, 'labels.csv'), `${rows.join('\n')}\n`);
  const out = path.join(root, 'split.csv');
  const r = drXai(['split', '--data', root, '--fractions', '0.8,0.2,0', '--quiet', '--out', out]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /1 image\(s\) could not be read and are left out of the split:\n {2}.*img05\.png: not a recognised image/);
  const ids = readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]);
  assert.equal(ids.length, 11);
  assert.ok(!ids.includes('img05'));

  const { loadDataset } = await import('../../src/data/index.ts');
  const folder = path.join(root, 'folder');
  await writeImage(path.join(folder, 'a.png'), [10, 20, 30]);
  writeFileSync(path.join(folder, 'b.gif'), 'GIF89a');
  writeFileSync(path.join(folder, 'c.svg'), '<svg/>');
  (await import('node:fs')).symlinkSync(path.join(folder, 'a.png'), path.join(folder, 'link.png'));
  (await import('node:fs')).symlinkSync(path.join(folder, 'gone.png'), path.join(folder, 'broken.png'));
  const ds = await loadDataset(folder, 'folder');
  assert.deepEqual(ds.samples.map((s) => s.id), ['a', 'link']);
  assert.deepEqual(ds.skipped.map((s) => `${s.count} ${s.reason}`).sort(), [
    '1 GIF file(s) (the folder format reads PNG, JPEG and TIFF)',
    '1 SVG file(s) (the folder format reads PNG, JPEG and TIFF)',
    '1 broken symbolic link(s)',
  ]);
});
