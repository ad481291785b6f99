// `dr-xai screen` as a user runs it: folders, a CSV of paths, a glob, bad files next to good
// ones, DICOM with patient data in it, a re-run that resumes; and the DICOM reader's refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDicomPhotograph } from '../../src/core/index.ts';
import { expandInputs } from '../../src/screening/index.ts';
import { ROOT, SMALL_MODEL, testServer } from '../serve/helpers.ts';

const FIX = path.join(ROOT, 'test', 'fixtures', 'screening');

function cli(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/dr-xai.js'), ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('DICOM: the reader refuses what it cannot read with one line naming the file and the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['bad_multiframe.dcm', /bad_multiframe\.dcm: DICOM: multi-frame object \(2 frames\)/],
    ['bad_jpeg2000.dcm', /unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.4\.91 \(JPEG 2000\)/],
    ['bad_mono.dcm', /MONOCHROME2 image; a colour fundus photograph is needed/],
    ['bad_truncated.dcm', /malformed or truncated file/],
  ];
  for (const [f, re] of cases) assert.throws(() => readDicomPhotograph(readFileSync(path.join(FIX, f)), f, { maxPixels: 1e8 }), re, f);
  const ok = readDicomPhotograph(readFileSync(path.join(FIX, 'phantom_rgb.dcm')), 'x', { maxPixels: 1e8 });
  assert.equal(ok.modality, 'OP');
  assert.equal(ok.sopInstanceUid, '1.2.826.0.1.3680043.10.1234.1');
  assert.equal(ok.pixels.kind, 'raw');
});

test('DICOM: every truncation and corrupted header of a good file is a one-line DrXaiError, never a crash', async () => {
  const { DrXaiError } = await import('../../src/core/index.ts');
  const { decodeFundus } = await import('../../src/preprocess/index.ts');
  const good = readFileSync(path.join(FIX, 'phantom_jpeg.dcm'));
  const variants: Buffer[] = [];
  for (let k = 1; k < 16; k++) variants.push(good.subarray(0, Math.floor((good.length * k) / 16)));
  for (let at = 132; at < 600; at += 37) {
    const b = Buffer.from(good);
    b[at] ^= 0xff;
    variants.push(b);
  }
  let refused = 0;
  for (const v of variants) {
    try {
      await decodeFundus(new Uint8Array(v), 'x.dcm', 128);
    } catch (e) {
      assert.ok(e instanceof DrXaiError, `not a DrXaiError: ${(e as Error).stack}`);
      assert.equal((e as Error).message.split('\n').length, 1);
      assert.match((e as Error).message, /^x\.dcm: /);
      refused++;
    }
  }
  assert.ok(refused >= 15, `${refused} of ${variants.length} refused (every truncation at least)`);
});

test('API: bad DICOM gets a 4xx with the reason, never a 500', async () => {
  const app = await testServer();
  try {
    for (const [f, status] of [['bad_multiframe.dcm', 415], ['bad_jpeg2000.dcm', 415], ['bad_mono.dcm', 415], ['bad_truncated.dcm', 400]] as const) {
      const res = await app.inject({ method: 'POST', url: '/v1/screen', payload: readFileSync(path.join(FIX, f)), headers: { 'content-type': 'application/dicom' } });
      assert.equal(res.statusCode, status, `${f}: ${res.body}`);
      assert.match(res.json().message, /DICOM: /);
    }
  } finally {
    await app.close();
  }
});

test('inputs: folders recursively, CSV of paths, globs; ids are the paths as given; nothing found is named', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-inputs-'));
  mkdirSync(path.join(dir, 'clinic', 'day1'), { recursive: true });
  copyFileSync(path.join(FIX, 'phantom.jpg'), path.join(dir, 'clinic', 'day1', 'a.jpg'));
  copyFileSync(path.join(FIX, 'phantom_rgb.dcm'), path.join(dir, 'clinic', 'b.dcm'));
  writeFileSync(path.join(dir, 'clinic', 'notes.txt'), 'not a photo');
  writeFileSync(path.join(dir, 'list.csv'), 'path,eye\nclinic/b.dcm,left\n');
  const got = await expandInputs(['clinic', 'list.csv', 'clinic/**/*.jpg', 'nothing/*.png', 'missing.jpg'], dir);
  assert.deepEqual(got.photographs.map((p) => p.id), [path.join('clinic', 'b.dcm'), path.join('clinic', 'day1', 'a.jpg')]);
  assert.deepEqual(got.missing, [
    { id: 'nothing/*.png', reason: 'pattern matches no photographs' },
    { id: 'missing.jpg', reason: 'no such file or folder' },
  ]);
});

test('dr-xai screen whose every argument names nothing: one line naming each, exit 1, no output folder', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-screen-none-'));
  const r = cli(dir, 'screen', 'missing.jpg', 'nothing/*.png', '--model', SMALL_MODEL, '--out', 'out', '--quiet');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'dr-xai: error: nothing to screen: missing.jpg: no such file or folder; nothing/*.png: pattern matches no photographs\n');
  assert.equal(existsSync(path.join(dir, 'out')), false);
});

test('dr-xai screen: bad files are named and the batch completes (exit 1); no patient data in any output; a re-run resumes', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-screen-'));
  const photos = path.join(dir, 'photos');
  mkdirSync(photos);
  for (const f of ['phantom.jpg', 'phantom_jpeg.dcm', 'bad_mono.dcm', 'bad_truncated.dcm']) copyFileSync(path.join(FIX, f), path.join(photos, f));
  writeFileSync(path.join(photos, 'empty.png'), '');
  writeFileSync(path.join(photos, 'cut.png'), readFileSync(path.join(ROOT, 'test', 'fixtures', 'preprocess', 'small_in.png')).subarray(0, 100));
  const first = cli(dir, 'screen', 'photos', '--model', SMALL_MODEL, '--out', 'out', '--explain', '--workers', '2', '--quiet');
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stdout, /6 photograph\(s\): .* 4 failed \(2 screened now, 0 from an earlier run\)/);
  assert.match(first.stderr, /photos\/bad_mono\.dcm: DICOM: MONOCHROME2 image/);
  assert.match(first.stderr, /photos\/empty\.png: empty file/);
  assert.match(first.stderr, /photos\/cut\.png: corrupt or truncated PNG$/m, 'the decoder\'s shared error text is not quoted: it may be another file\'s');
  const out = path.join(dir, 'out');
  const jsonl = readFileSync(path.join(out, 'results.jsonl'), 'utf8');
  const records = jsonl.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => [r.id, r.status]), [
    ['photos/bad_mono.dcm', 'failed'], ['photos/bad_truncated.dcm', 'failed'], ['photos/cut.png', 'failed'], ['photos/empty.png', 'failed'],
    ['photos/phantom.jpg', 'ok'], ['photos/phantom_jpeg.dcm', 'ok'],
  ]);
  const good = records.filter((r) => r.status === 'ok');
  assert.equal(good[0].probability, good[1].probability, 'a JPEG and the same JPEG in DICOM');
  for (const r of good) {
    assert.equal(typeof r.gradable, 'boolean');
    assert.equal(r.threshold, 0.5);
    assert.equal(r.referable, r.gradable ? r.probability >= 0.5 : null);
    assert.match(r.heatmap, /^heatmaps\/[0-9a-f]{12}-phantom(_jpeg)?\.png$/);
  }
  assert.equal(readdirSync(path.join(out, 'heatmaps')).length, 2);
  const csv = readFileSync(path.join(out, 'results.csv'), 'utf8');
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.equal(csv.trim().split('\n').length, 7);
  assert.match(html, /<table>/);
  assert.match(html, /not a diagnosis/);
  assert.equal((html.match(/data:image\/jpeg;base64,/g) ?? []).length, 2, 'thumbnails inlined');
  for (const text of [jsonl, csv, html, first.stdout, first.stderr]) {
    assert.doesNotMatch(text, /DOE|JANE|SECRET-PATIENT|19500101/, 'no patient data from the DICOM files');
  }
  // Re-run: nothing to do for the finished photos, the failures are tried again.
  const again = cli(dir, 'screen', 'photos', '--model', SMALL_MODEL, '--out', 'out', '--explain', '--quiet');
  assert.equal(again.code, 1);
  assert.match(again.stdout, /\(0 screened now, 2 from an earlier run\)/);
  assert.equal(readFileSync(path.join(out, 'results.jsonl'), 'utf8'), jsonl, 'same results, same order');
  // --id-from-uid: DICOM files are named by their SOP Instance UID, other files keep their path.
  const byUid = cli(dir, 'screen', 'photos/phantom_jpeg.dcm', 'photos/phantom.jpg', '--model', SMALL_MODEL, '--out', 'uid', '--id-from-uid', '--quiet');
  assert.equal(byUid.code, 0, byUid.stderr);
  assert.deepEqual(readFileSync(path.join(dir, 'uid', 'results.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]), ['1.2.826.0.1.3680043.10.1234.3', 'photos/phantom.jpg']);
  // Bad usage: one line, non-zero.
  const bad = cli(dir, 'screen', 'photos', '--out', 'o2', '--task', 'severity');
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim(), "dr-xai: error: --task must be referable or grade, got 'severity'");
});
