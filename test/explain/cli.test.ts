import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { writePhantomDataset } from '../../src/data/index.ts';
import { CamExplainer, listLesionCases, prepareLesionCase } from '../../src/explain/index.ts';
import { FIXTURES, ROOT } from './helpers.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'drxai-cam-'));
const phantoms = path.join(tmp, 'phantoms');
const model = path.join(FIXTURES, 'cam_binary.onnx');
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('phantom data set for the end-to-end tests', async () => {
  await writePhantomDataset(phantoms, { n: 8, seed: 3, size: 64 });
  assert.ok(existsSync(path.join(phantoms, 'labels.csv')));
});

test('lesion masks follow the image geometry: identity at the same size, any-coverage area resize when shrinking', async () => {
  const cases = await listLesionCases(phantoms);
  assert.equal(cases.length, 8);
  const c = cases.find((x) => readFileSync(x.maskPaths.HE).length > 0)!;
  const plain = { mask: false, crop: false, clahe: false, green: false };
  const same = await prepareLesionCase(c, { ...plain, size: 64 });
  const he = await sharp(c.maskPaths.HE).extractChannel(0).raw().toBuffer();
  assert.deepEqual(Array.from(same.lesions.HE), Array.from(he, (v) => (v > 127 ? 255 : 0)));
  const half = await prepareLesionCase(c, { ...plain, size: 32 });
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const any = [0, 1].some((dy) => [0, 1].some((dx) => he[(2 * y + dy) * 64 + 2 * x + dx] > 127));
      assert.equal(half.lesions.HE[y * 32 + x], any ? 255 : 0, `(${x}, ${y})`);
    }
  }
  const explainer = await CamExplainer.create(model, { threads: 1 });
  assert.equal(explainer.size, 16);
  await explainer.release();
});

test('dr-xai cam writes one PNG per case, a board and a CSV, with faithfulness AUCs', () => {
  const split = cli('split', '--data', phantoms, '--fractions', '0.5,0.5,0', '--out', path.join(tmp, 'split.csv'));
  assert.equal(split.code, 0, split.stderr);
  const r = cli('cam', '--model', model, '--data', phantoms, '--split', path.join(tmp, 'split.csv'), '--subset', 'val', '--n', '4', '--out-dir', path.join(tmp, 'cams'), '--faithfulness', '--steps', '4', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /gradcam\+\+ \(closed-form gradients, layer features\)/);
  assert.match(r.stdout, /faithfulness \(mean AUC, 4 steps\): deletion \d\.\d{3}/);
  assert.match(r.stdout, /Research decision support only/);
  const files = readdirSync(path.join(tmp, 'cams'));
  assert.ok(files.includes('board.png') && files.includes('cams.csv'));
  const rows = readFileSync(path.join(tmp, 'cams', 'cams.csv'), 'utf8').trim().split('\n');
  assert.equal(files.filter((f) => f.endsWith('.png')).length, rows.length - 1 + 1);
  assert.match(rows[0], /^id,grade,probability,decision,deletion_auc/);
  assert.ok(rows.slice(1).every((l) => /,(refer|no referral) \(t=0\.500\),/.test(l)));
  // report.html: the table and the board, self-contained.
  const html = readFileSync(path.join(tmp, 'cams', 'report.html'), 'utf8');
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 1);
  assert.equal((html.match(/<tr>/g) ?? []).length, rows.length, 'one table row per case plus the header');
  assert.match(html, /Research decision support only/);
});

test('dr-xai cam-score scores the phantoms against their masks with both baselines', () => {
  const r = cli('cam-score', '--model', model, '--lesions', phantoms, '--out-dir', path.join(tmp, 'score'), '--threads', '1', '--quiet');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| gradcam\+\+ \| /);
  assert.match(r.stdout, /\| random \(baseline\) \| /);
  assert.match(r.stdout, /\| centre Gaussian \(baseline\) \| /);
  const csv = readFileSync(path.join(tmp, 'score', 'cam_score.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 8 * 3);
  assert.ok(existsSync(path.join(tmp, 'score', 'board.png')));
  assert.equal(readdirSync(path.join(tmp, 'score', 'cases')).length, 8);
  const html = readFileSync(path.join(tmp, 'score', 'report.html'), 'utf8');
  assert.match(html, /<img src="data:image\/png;base64,[^"]+" alt="heat maps over the lesion masks"/);
  // Each photograph's random baseline depends on its own id and mask only: a folder without the
  // first photograph scores the others' noise maps exactly as before.
  const fewer = path.join(tmp, 'fewer');
  cpSync(phantoms, fewer, { recursive: true });
  const first = readdirSync(path.join(fewer, 'images')).sort()[0];
  const firstId = path.basename(first, path.extname(first));
  rmSync(path.join(fewer, 'images', first));
  const again = cli('cam-score', '--model', model, '--lesions', fewer, '--out-dir', path.join(tmp, 'score-fewer'), '--threads', '1', '--quiet');
  assert.equal(again.code, 0, again.stderr);
  const randomRows = (lines: string[]) => lines.filter((l) => l.split(',')[1] === 'random' && !l.startsWith(`${firstId},`));
  const before = randomRows(csv);
  assert.equal(before.length, 7);
  assert.deepEqual(randomRows(readFileSync(path.join(tmp, 'score-fewer', 'cam_score.csv'), 'utf8').trim().split('\n')), before);
});

test('bad input: a missing folder, a missing mask and a bad option each give one line and exit 1', () => {
  const a = cli('cam-score', '--model', model, '--lesions', path.join(tmp, 'nowhere'), '--quiet');
  assert.equal(a.code, 1);
  assert.equal(a.stderr.trim().split('\n').length, 1);
  assert.match(a.stderr, /nowhere: lesion folder not found/);
  const victim = readdirSync(path.join(phantoms, 'masks')).find((f) => f.endsWith('_SE.png'))!;
  unlinkSync(path.join(phantoms, 'masks', victim));
  const b = cli('cam-score', '--model', model, '--lesions', phantoms, '--out-dir', path.join(tmp, 'score2'), '--quiet');
  assert.equal(b.code, 1);
  assert.match(b.stderr, new RegExp(`${victim}: mask ${victim} for image .* is missing`));
  assert.ok(!existsSync(path.join(tmp, 'score2', 'cam_score.md')));
  // A mask that is not an image: named, in words that are the same on every run.
  writeFileSync(path.join(phantoms, 'masks', victim), 'not a PNG');
  const m = cli('cam-score', '--model', model, '--lesions', phantoms, '--out-dir', path.join(tmp, 'score3'), '--quiet');
  assert.equal(m.code, 1);
  assert.match(m.stderr, new RegExp(`${victim}: not a readable mask image \\(corrupt, truncated or not an image\\)$`, 'm'));
  unlinkSync(path.join(phantoms, 'masks', victim));
  const c = cli('cam', '--model', model, '--data', phantoms, '--n', 'x');
  assert.equal(c.code, 1);
  assert.match(c.stderr, /--n must be an integer >= 1, got 'x'/);
});

test('dr-xai cam: a photograph that cannot be read is named and the other cases are still explained (exit 1)', async () => {
  const data = path.join(tmp, 'phantoms-bad');
  await writePhantomDataset(data, { n: 6, seed: 5, size: 64 });
  const images = readdirSync(path.join(data, 'images')).sort();
  writeFileSync(path.join(data, 'images', images[0]), 'broken');
  const r = cli('cam', '--model', model, '--data', data, '--n', '6', '--out-dir', path.join(tmp, 'cams-bad'), '--threads', '1', '--quiet');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`1 case\\(s\\) could not be explained:\\n {2}.*${images[0].replace('.', '\\.')}: not a recognised image`));
  const rows = readFileSync(path.join(tmp, 'cams-bad', 'cams.csv'), 'utf8').trim().split('\n');
  assert.ok(rows.length >= 2, 'the readable cases were explained');
  assert.match(readFileSync(path.join(tmp, 'cams-bad', 'report.md'), 'utf8'), /## Not explained \(1\)/);
});
