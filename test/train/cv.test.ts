// dr-xai cv: k folds trained as resumable runs, pooled out-of-fold predictions, an operating point
// chosen on them, stored in a model package with --apply-to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writePhantomDataset } from '../../src/data/index.ts';
import { auroc, chooseOperatingPoint, predictedGrades, quadraticWeightedKappa } from '../../src/evaluate/index.ts';
import { readSidecar } from '../../src/models/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts')];
const run = (args: string[]) => spawnSync(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, encoding: 'utf8' });

test('dr-xai cv: 3 folds cover every image once; the OOF threshold is chosen on the pooled predictions and applied to a package', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-cv-'));
  await writePhantomDataset(path.join(dir, 'data'), { n: 45, seed: 3, size: 64, quiet: true });
  await fsp.writeFile(path.join(dir, 'cv.yaml'), `model_name: tiny_cnn\nimg_size: 32\nbatch_size: 6\nepochs: 2\nlr: 0.003\nthreads: 1\nfix_specificity: 0.8\ndata_root: ${path.join(dir, 'data')}\n`);
  const args = ['cv', '--config', path.join(dir, 'cv.yaml'), '--folds', '3', '--out-dir', path.join(dir, 'runs'), '--run-name', 'r', '--mode', 'constrained', '--quiet'];
  const first = run(args);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /CV AUROC \d\.\d{4} \+\/- \d\.\d{4} \(mean \+\/- SD of 3 folds\); pooled OOF AUROC/);
  const cvDir = path.join(dir, 'runs', 'r-cv');
  const summary = JSON.parse(readFileSync(path.join(cvDir, 'cv.json'), 'utf8'));
  assert.equal(summary.folds.length, 3);
  // Every image scored exactly once, by the fold that held it out.
  const oof = readFileSync(path.join(cvDir, 'oof_predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(oof.length, 45);
  assert.equal(new Set(oof.map((r) => r[0])).size, 45);
  for (let f = 1; f <= 3; f++) {
    const val = readFileSync(path.join(cvDir, `fold-${f}.csv`), 'utf8').split('\n').filter((l) => l.includes(',val,')).map((l) => l.split(',')[0]);
    assert.deepEqual(oof.filter((r) => r[1] === String(f)).map((r) => r[0]).sort(), val.sort());
    assert.ok(existsSync(path.join(dir, 'runs', `r-fold${f}`, 'model.onnx')));
  }
  // The threshold and the pooled AUROC are those of the OOF predictions themselves.
  const labels = oof.map((r) => Number(r[3]));
  const scores = oof.map((r) => Number(r[4]));
  const op = chooseOperatingPoint(labels, scores, { targetSpecificity: 0.8, mode: 'constrained' });
  assert.equal(summary.operatingPoint.threshold, op.threshold);
  assert.ok(Math.abs(summary.oofAuroc - auroc(labels, scores)) < 1e-12);
  // Referral by true grade at that threshold counts the OOF rows of each grade with score >= threshold.
  for (let g = 0; g < 5; g++) {
    const mine = oof.filter((r) => r[2] === String(g));
    assert.deepEqual([summary.oofReferralByGrade[g].n, summary.oofReferralByGrade[g].referred], [mine.length, mine.filter((r) => Number(r[4]) >= op.threshold).length], `grade ${g}`);
  }
  const shown = summary.oofReferralByGrade.filter((r: { n: number }) => r.n > 0).map((r: { referred: number; n: number }) => `${r.referred}/${r.n}`);
  assert.match(first.stdout, new RegExp(`OOF referred by true grade at that threshold: 0 no DR ${shown[0]}, 1 mild ${shown[1]}`));
  // report/ is evaluate's report of the OOF predictions, tuned on them to the same threshold.
  const report = readFileSync(path.join(cvDir, 'report', 'report.md'), 'utf8');
  assert.match(report, /Tuned on split \*\*oof\*\* for the highest sensitivity with specificity >= 0\.8/);
  assert.ok(report.includes(`(exact threshold ${op.threshold})`));
  assert.ok(existsSync(path.join(cvDir, 'report', 'oof_roc.png')));
  assert.equal(readFileSync(path.join(cvDir, 'report', 'referral_by_grade.csv'), 'utf8').trim().split('\n').length, 6);
  assert.match(first.stdout, /report of the OOF predictions: .*r-cv\/report\/report\.md/);

  // A rerun trains nothing (every fold is done) and stores the point in the package given.
  const pkg = path.join(dir, 'pkg.onnx');
  copyFileSync(path.join(dir, 'runs', 'r-fold1', 'model.onnx'), pkg);
  copyFileSync(path.join(dir, 'runs', 'r-fold1', 'model.json'), path.join(dir, 'pkg.json'));
  const again = run([...args, '--apply-to', pkg]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((again.stdout.match(/done earlier/g) ?? []).length, 3);
  const sidecar = await readSidecar(pkg);
  assert.equal(sidecar.operatingPoint?.threshold, op.threshold);
  assert.match(sidecar.operatingPoint?.protocol ?? '', /3-fold stratified, duplicate-aware cross-validation/);
  assert.deepEqual(sidecar.operatingPoint?.referralByGrade, summary.oofReferralByGrade.map(({ grade, n, referred }: { grade: number; n: number; referred: number }) => ({ grade, n, referred })));
  assert.equal(sidecar.metrics?.cvFolds, 3);

  const bad = run([...args, '--folds', '1']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^dr-xai: error: --folds/);
});

test('dr-xai cv of an ordinal grade model: OOF grade probabilities in oof_predictions.csv reproduce the pooled QWK and AUROC of cv.json', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-cv-grade-'));
  await writePhantomDataset(path.join(dir, 'data'), { n: 45, seed: 3, size: 64, quiet: true });
  await fsp.writeFile(path.join(dir, 'cv.yaml'), `model_name: tiny_cnn\nimg_size: 32\nbatch_size: 6\nepochs: 2\nlr: 0.003\nthreads: 1\ntask: grade\ngrade_head: ordinal\ndata_root: ${path.join(dir, 'data')}\n`);
  const r = run(['cv', '--config', path.join(dir, 'cv.yaml'), '--folds', '3', '--out-dir', path.join(dir, 'runs'), '--run-name', 'g', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await readSidecar(path.join(dir, 'runs', 'g-fold1', 'model.onnx'))).numClasses, 4);
  const cvDir = path.join(dir, 'runs', 'g-cv');
  const summary = JSON.parse(readFileSync(path.join(cvDir, 'cv.json'), 'utf8'));
  const [head, ...rows] = readFileSync(path.join(cvDir, 'oof_predictions.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  assert.deepEqual(head, ['id', 'fold', 'grade', 'label', 'probability', 'p_grade0', 'p_grade1', 'p_grade2', 'p_grade3', 'p_grade4']);
  assert.equal(rows.length, 45);
  const probs = rows.map((row) => row.slice(5).map(Number));
  for (const [i, p] of probs.entries()) {
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9, `row ${i} sums to 1`);
    assert.ok(Math.abs(p[2] + p[3] + p[4] - Number(rows[i][4])) < 1e-9, `row ${i}: probability = P(grade >= 2)`);
  }
  const grades = rows.map((row) => Number(row[2]));
  assert.ok(Math.abs(summary.oofQwk - quadraticWeightedKappa(grades, predictedGrades(probs))) < 1e-12);
  assert.ok(Math.abs(summary.oofAuroc - auroc(rows.map((row) => Number(row[3])), rows.map((row) => Number(row[4])))) < 1e-12);
});
