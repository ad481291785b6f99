// `dr-xai evaluate` end to end on a model trained on phantom data: phantom -> split -> train
// (tiny_cnn, 1 epoch) -> evaluate; the summary it writes must agree with src/evaluate's metrics
// recomputed from its own predictions.csv, and bad invocations fail with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auroc, averagePrecision } from '../../src/evaluate/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/dr-xai.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function csv(file: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

test('dr-xai evaluate: phantom -> split -> train -> evaluate, summary consistent with predictions', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-eval-'));
  const data = path.join(dir, 'ph');
  assert.equal(cli('phantom', '--out', data, '--n', '48', '--seed', '3', '--size', '96', '--quiet').code, 0);
  const split = path.join(dir, 'split.csv');
  assert.equal(cli('split', '--data', data, '--fractions', '0.5,0.25,0.25', '--out', split, '--quiet').code, 0);
  const tr = cli('train', '--model', 'tiny_cnn', '--data', data, '--split', split, '--img-size', '48', '--epochs', '1', '--batch-size', '8', '--out-dir', path.join(dir, 'runs'), '--run-name', 'r', '--quiet');
  assert.equal(tr.code, 0, tr.stderr);
  const model = path.join(dir, 'runs', 'r', 'model.onnx');
  const out = path.join(dir, 'figs');
  const ev = cli('evaluate', '--model', model, '--data', data, '--split', split, '--out-dir', out, '--bootstrap', '100', '--quiet');
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, /AUROC/);
  assert.match(ev.stdout, /Research decision support only/);
  for (const f of ['val_roc.png', 'val_pr.png', 'test_roc.png', 'test_pr.png', 'calibration.png', 'metrics_summary.csv', 'predictions.csv', 'report.md']) {
    assert.ok(existsSync(path.join(out, f)), `${f} written`);
  }
  const preds = csv(path.join(out, 'predictions.csv'));
  const summary = csv(path.join(out, 'metrics_summary.csv'));
  assert.deepEqual(summary.map((r) => r.split), ['val', 'test']);
  for (const row of summary) {
    const mine = preds.filter((p) => p.split === row.split);
    assert.equal(Number(row.n), mine.length);
    assert.equal(mine.length, 12);
    const labels = mine.map((p) => Number(p.label));
    const scores = mine.map((p) => Number(p.score));
    assert.equal(Number(row.positives), labels.filter((l) => l === 1).length);
    assert.ok(Math.abs(Number(row.auroc) - auroc(labels, scores)) < 1e-6);
    assert.ok(Math.abs(Number(row.auprc) - averagePrecision(labels, scores)) < 1e-6);
    // Every decision is the stored rule score >= threshold.
    const threshold = Number(row.threshold);
    for (const p of mine) assert.equal(p.decision, Number(p.score) >= threshold ? '1' : '0');
  }
  // Each prediction carries the image's true grade (from the split file), and referral_by_grade.csv counts the decisions grade by grade.
  const gradeOf = new Map(csv(split).map((r) => [r.id, r.grade]));
  for (const p of preds) assert.equal(p.grade, gradeOf.get(p.id), `grade of ${p.id}`);
  const byGrade = csv(path.join(out, 'referral_by_grade.csv'));
  assert.equal(byGrade.length, 10);
  for (const row of byGrade) {
    const mine = preds.filter((p) => p.split === row.split && p.grade === row.grade);
    assert.deepEqual([Number(row.n), Number(row.referred)], [mine.length, mine.filter((p) => p.decision === '1').length], `${row.split} grade ${row.grade}`);
  }

  // Error paths: one line naming the problem, exit code 1, nothing written.
  const missing = cli('evaluate', '--model', path.join(dir, 'nope.onnx'), '--data', data, '--split', split, '--out-dir', path.join(dir, 'x'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^dr-xai: error: .*nope\.onnx: model file not found\n$/);
  const sidecar = JSON.parse(readFileSync(model.replace(/onnx$/, 'json'), 'utf8'));
  delete sidecar.operatingPoint;
  writeFileSync(model.replace(/onnx$/, 'json'), JSON.stringify(sidecar));
  const noOp = cli('evaluate', '--model', model, '--data', data, '--threshold-from', 'model', '--out-dir', path.join(dir, 'x'));
  assert.equal(noOp.code, 1);
  assert.match(noOp.stderr, /no stored operating point/);
  const noSplit = cli('evaluate', '--model', model, '--data', data, '--out-dir', path.join(dir, 'x'));
  assert.match(noSplit.stderr, /add --threshold-from model/);
  assert.ok(!existsSync(path.join(dir, 'x')));
});
