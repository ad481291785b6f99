// One screening path: the same JPEG, PNG and DICOM photographs through every entry point (the
// library, evaluate's batched path and the `dr-xai evaluate` CLI, the `dr-xai screen` CLI over
// its worker pool, the HTTP API, `dr-xai cam`) must give the same probability to 1e-6 (the page:
// test/serve/e2e.test.ts, browser vs API). Fixtures:
// test/fixtures/screening, made by scripts/make-screening-fixtures.ts + make-dicom-fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse } from 'csv-parse/sync';
import path from 'node:path';
import { classNamesFor } from '../../src/core/index.ts';
import { loadModel } from '../../src/models/index.ts';
import { screenFiles, screenPhotograph, ScreeningStopped } from '../../src/screening/index.ts';
import { ROOT, SMALL_MODEL, smallModel, testServer } from '../serve/helpers.ts';

const FIX = path.join(ROOT, 'test', 'fixtures', 'screening');
const PHOTOS = ['phantom.jpg', 'phantom.png', 'phantom_rgb.dcm', 'phantom_jpeg.dcm', 'phantom_ybr.dcm'];
const TOL = 1e-6;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/dr-xai.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the same photograph gets the same probability from the library, evaluate, screen, cam and the API', { timeout: 120_000 }, async () => {
  const model = await smallModel();
  const lib = new Map<string, number>();
  for (const f of PHOTOS) {
    const s = await screenPhotograph(model, { source: f, bytes: readFileSync(path.join(FIX, f)) });
    assert.equal(typeof s.probability, 'number', f);
    lib.set(f, s.probability as number);
  }
  // JPEG shrink-on-load from bytes: the 320 px photo is decoded at 1/2 for the 128 px model, in
  // the JPEG and in the JPEG-in-DICOM alike; the native DICOM holds exactly the PNG's pixels.
  assert.equal(lib.get('phantom_jpeg.dcm'), lib.get('phantom.jpg'));
  assert.equal(lib.get('phantom_rgb.dcm'), lib.get('phantom.png'));
  assert.ok(Math.abs(lib.get('phantom_ybr.dcm')! - lib.get('phantom.png')!) < 0.02, 'YBR_FULL round trip (one grey level of rounding) moves the probability by < 0.02');

  // evaluate's path: batches of 8 (the photos twice, so the network sees them batched with others).
  const files = [...PHOTOS, ...PHOTOS].map((f, i) => ({ id: `${i}`, path: path.join(FIX, f) }));
  const batched = await screenFiles(model, files, { batchSize: 8 });
  batched.forEach((r, i) => {
    assert.ok('screening' in r, `${files[i].path} screened`);
    const want = lib.get(PHOTOS[i % PHOTOS.length])!;
    assert.ok(Math.abs((r.screening.probability as number) - want) < TOL, `batched ${PHOTOS[i % PHOTOS.length]}: ${r.screening.probability} vs ${want}`);
  });

  // The HTTP API (raw body, DICOM with its own content type).
  const app = await testServer();
  try {
    for (const f of PHOTOS) {
      const res = await app.inject({ method: 'POST', url: '/v1/screen', payload: readFileSync(path.join(FIX, f)), headers: { 'content-type': f.endsWith('.dcm') ? 'application/dicom' : 'application/octet-stream' } });
      assert.equal(res.statusCode, 200, `${f}: ${res.body}`);
      const body = res.json();
      assert.ok(Math.abs(body.probability - lib.get(f)!) < TOL, `API ${f}: ${body.probability} vs ${lib.get(f)}`);
      assert.equal(body.image.format, f.endsWith('.dcm') ? (f === 'phantom_jpeg.dcm' ? 'dicom/jpeg' : 'dicom/raw') : f.endsWith('.png') ? 'png' : 'jpeg');
    }
  } finally {
    await app.close();
  }

  // `dr-xai screen` (worker pool, 2 threads) and `dr-xai evaluate` (external, stored threshold).
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-parity-'));
  const out = path.join(dir, 'screen');
  const sc = cli('screen', ...PHOTOS.map((f) => path.join(FIX, f)), '--model', SMALL_MODEL, '--out', out, '--workers', '2', '--quiet');
  assert.equal(sc.code, 0, sc.stderr);
  const records = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.id), PHOTOS.map((f) => path.join(FIX, f)), 'ids are the paths as given, in input order');
  records.forEach((r, i) => assert.ok(Math.abs(r.probability - lib.get(PHOTOS[i])!) < TOL, `screen ${PHOTOS[i]}: ${r.probability}`));
  // evaluate reads a generic `path,grade` CSV, whose ids drop the extension: one copy per format.
  const unique = (f: string) => f.replace('.', '_') + path.extname(f);
  for (const f of PHOTOS) copyFileSync(path.join(FIX, f), path.join(dir, unique(f)));
  const labels = path.join(dir, 'labels.csv');
  writeFileSync(labels, `path,grade\n${PHOTOS.map((f, i) => `${unique(f)},${i % 2 === 0 ? 0 : 3}`).join('\n')}\n`);
  const ev = cli('evaluate', '--model', SMALL_MODEL, '--data', labels, '--threshold-from', 'model', '--bootstrap', '20', '--out-dir', path.join(dir, 'eval'), '--quiet');
  assert.equal(ev.code, 0, ev.stderr);
  const rows = readFileSync(path.join(dir, 'eval', 'predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(rows.length, PHOTOS.length);
  for (const f of PHOTOS) {
    const row = rows.find((r) => r[1] === unique(f).replace(/\.[^.]+$/, ''));
    assert.ok(row, `evaluate scored ${f}`);
    assert.ok(Math.abs(Number(row[3]) - lib.get(f)!) < TOL, `evaluate ${f}: ${row[3]} vs ${lib.get(f)}`);
  }
  // `dr-xai cam` (its explainer's own session; cams.csv keeps 6 significant digits, so 1e-6 absolute at p < 1).
  const cam = cli('cam', '--model', SMALL_MODEL, '--data', labels, '--n', String(PHOTOS.length * 2), '--out-dir', path.join(dir, 'cam'), '--threads', '1', '--quiet');
  assert.equal(cam.code, 0, cam.stderr);
  const camRows = readFileSync(path.join(dir, 'cam', 'cams.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(camRows.length, PHOTOS.length);
  for (const f of PHOTOS) {
    const row = camRows.find((r) => r[0] === unique(f).replace(/\.[^.]+$/, ''));
    assert.ok(row, `cam explained ${f}`);
    assert.ok(Math.abs(Number(row[2]) - lib.get(f)!) <= 1e-6, `cam ${f}: ${row[2]} vs ${lib.get(f)}`);
  }
});

test('a cancelled screening stops with ScreeningStopped (the server sets the flag when its client hangs up)', async () => {
  const model = await smallModel();
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(cancel, 0, 1);
  await assert.rejects(screenPhotograph(model, { source: 'p.png', bytes: readFileSync(path.join(FIX, 'phantom.png')) }, { cancel }), ScreeningStopped);
  Atomics.store(cancel, 0, 0);
  const s = await screenPhotograph(model, { source: 'p.png', bytes: readFileSync(path.join(FIX, 'phantom.png')) }, { cancel });
  assert.equal(typeof s.probability, 'number');
});

test('a grade model: screen (results.jsonl, results.csv, report.html), the API and evaluate give each photograph the same predicted grade', { timeout: 180_000 }, async () => {
  const gradeModel = path.join(ROOT, 'models', 'mobilenet_v2-aptos224-grade-ordinal.onnx');
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-grade-parity-'));
  const unique = (f: string) => f.replace('.', '_') + path.extname(f);
  for (const f of PHOTOS) copyFileSync(path.join(FIX, f), path.join(dir, unique(f)));
  const photos = PHOTOS.map((f) => path.join(dir, unique(f)));

  const out = path.join(dir, 'screen');
  const sc = cli('screen', ...photos, '--task', 'grade', '--out', out, '--workers', '1', '--quiet');
  assert.equal(sc.code, 0, sc.stderr);
  const records = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.match(records[0].model, /grade-ordinal/, '--task grade picks the grade default');
  const byId = new Map(records.map((r) => [path.basename(r.id).replace(/\.[^.]+$/, ''), r]));
  for (const r of records) {
    assert.ok(Number.isInteger(r.predictedGrade) && r.predictedGrade >= 0 && r.predictedGrade <= 4, `${r.id}: ${r.predictedGrade}`);
    const expected = r.gradeProbabilities.reduce((e: number, p: number, g: number) => e + g * p, 0);
    assert.equal(r.predictedGrade, Math.floor(expected + 0.5), `${r.id}: the rounded expected grade ${expected}`);
  }
  const csv: string[][] = parse(readFileSync(path.join(out, 'results.csv'), 'utf8'));
  const col = csv[0].indexOf('predicted_grade');
  assert.deepEqual(csv[0].slice(col), ['predicted_grade', 'p_grade0', 'p_grade1', 'p_grade2', 'p_grade3', 'p_grade4']);
  assert.deepEqual(csv.slice(1).map((row) => Number(row[col])), records.map((r) => r.predictedGrade));
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /<th>predicted grade<\/th>/);
  // What "no referral" means: the stored referral by true grade where the threshold was chosen.
  const stored: { grade: number; n: number; referred: number }[] = JSON.parse(readFileSync(gradeModel.replace(/\.onnx$/, '.json'), 'utf8')).operatingPoint.referralByGrade;
  assert.equal(stored.length, 5);
  for (const r of stored) assert.ok(html.includes(`<td>${r.referred} / ${r.n} (${((100 * r.referred) / r.n).toFixed(1)}%)</td>`), `grade ${r.grade} referral in report.html`);
  const perGrade = [0, 1, 2, 3, 4].map((g) => records.filter((r) => r.predictedGrade === g).length);
  assert.ok(html.includes(`<tr><td>photographs</td>${perGrade.map((n) => `<td>${n}</td>`).join('')}</tr>`), 'the summary counts the photographs of each predicted grade');
  const names = classNamesFor('grade');
  for (const r of records) assert.ok(html.includes(`<td data-sort="${r.predictedGrade}">${names[r.predictedGrade]}</td>`), `report row of ${r.id}`);
  assert.match(sc.stdout, /^predicted grades: 0 no DR \d+, 1 mild \d+, 2 moderate \d+, 3 severe \d+, 4 proliferative \d+$/m);

  // evaluate's predictions.csv: split,id,label,score,decision,grade,predicted_grade,p_grade0..4
  const labels = path.join(dir, 'labels.csv');
  writeFileSync(labels, `path,grade\n${PHOTOS.map((f, i) => `${unique(f)},${i % 5}`).join('\n')}\n`);
  const ev = cli('evaluate', '--model', gradeModel, '--data', labels, '--threshold-from', 'model', '--bootstrap', '20', '--out-dir', path.join(dir, 'eval'), '--quiet');
  assert.equal(ev.code, 0, ev.stderr);
  const rows = readFileSync(path.join(dir, 'eval', 'predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(rows.length, PHOTOS.length);
  for (const row of rows) assert.equal(Number(row[6]), byId.get(row[1])?.predictedGrade, `evaluate ${row[1]}`);

  // The API, serving the same package.
  const app = await testServer({ model: await loadModel(gradeModel) });
  try {
    for (const f of PHOTOS) {
      const res = await app.inject({ method: 'POST', url: '/v1/screen', payload: readFileSync(path.join(FIX, f)), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.statusCode, 200, `${f}: ${res.body}`);
      assert.equal(res.json().predictedGrade, byId.get(unique(f).replace(/\.[^.]+$/, ''))?.predictedGrade, `API ${f}`);
    }
    const binary = await testServer();
    try {
      const res = await binary.inject({ method: 'POST', url: '/v1/screen', payload: readFileSync(path.join(FIX, 'phantom.png')), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.json().predictedGrade, null, 'a binary model predicts no grade');
    } finally {
      await binary.close();
    }
  } finally {
    await app.close();
  }
});
