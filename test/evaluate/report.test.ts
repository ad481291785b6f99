import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { classNamesFor, DrXaiError, Rng } from '../../src/core/index.ts';
import {
  auroc,
  averagePrecision,
  brierScore,
  chooseOperatingPoint,
  evaluatePredictions,
  expectedCalibrationError,
  formatMetricsTable,
  metricsAtThreshold,
  PLOT_PIXELS,
  predictedGrades,
  quadraticWeightedKappa,
  referralByGrade,
  stratifiedBootstrap,
  SUMMARY_COLUMNS,
  wilsonInterval,
} from '../../src/evaluate/index.ts';
import { DISCLAIMER } from '../../src/core/disclaimer.ts';

function synthetic(n: number, seed: number) {
  const rng = new Rng(seed);
  const ids: string[] = [];
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rng.next() < 0.35 ? 1 : 0;
    ids.push(i === 0 ? `id,with "comma" ${seed}` : `img${seed}_${i}`);
    labels.push(y);
    scores.push(1 / (1 + Math.exp(-(rng.normal() * 1.2 + 2.2 * y - 1.4))));
  }
  return { ids, labels, scores };
}

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'drxai-eval-'));
const num = (s: string) => (s === 'NA' ? null : Number(s));

test('evaluatePredictions writes plots, CSVs and report whose values match the metric functions', async () => {
  const outDir = tmp();
  try {
    const val = synthetic(120, 1);
    const testSplit = synthetic(150, 2);
    const result = await evaluatePredictions({
      splits: { val, test: testSplit }, task: 'referable', fixSpecificity: 0.9, mode: 'constrained',
      bootstrap: 300, seed: 7, outDir, modelInfo: { model: 'synthetic' },
      excluded: [{ split: 'test', id: 'white_frame', kind: 'ungradable', reason: 'no retina found' }],
    });
    const expected = ['calibration', 'test_pr', 'test_roc', 'val_pr', 'val_roc']
      .flatMap((p) => [`${p}.png`, `${p}.svg`])
      .concat(['metrics_summary.csv', 'predictions.csv', 'excluded.csv', 'report.md', 'report.html'])
      .sort();
    assert.deepEqual(readdirSync(outDir).sort(), expected);
    // What was left out is listed, and report.html is report.md with every plot inlined.
    assert.equal(readFileSync(path.join(outDir, 'excluded.csv'), 'utf8'), 'split,id,kind,reason\ntest,white_frame,ungradable,no retina found\n');
    assert.match(readFileSync(path.join(outDir, 'report.md'), 'utf8'), /1 photograph\(s\) are not in the metrics above: 1 ungradable/);
    const html = readFileSync(path.join(outDir, 'report.html'), 'utf8');
    assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 5, 'the five plots inlined');
    assert.doesNotMatch(html, /<img src="(?!data:)/, 'no image left linked');
    assert.match(html, /<th>AUROC \[95% CI\]<\/th>/);

    const op = chooseOperatingPoint(val.labels, val.scores, { targetSpecificity: 0.9 });
    assert.equal(result.threshold, op.threshold);
    const rows = parse(readFileSync(path.join(outDir, 'metrics_summary.csv')), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(rows[0]), [...SUMMARY_COLUMNS]);
    assert.deepEqual(rows.map((r) => r.split), ['val', 'test']);
    for (const [row, split] of [[rows[0], val], [rows[1], testSplit]] as const) {
      const m = metricsAtThreshold(split.labels, split.scores, op.threshold);
      const boot = stratifiedBootstrap(split.labels, split.scores, { threshold: op.threshold, resamples: 300, seed: 7 });
      assert.equal(Number(row.n), split.labels.length);
      assert.equal(Number(row.positives), m.tp + m.fn);
      assert.equal(Number(row.auroc), auroc(split.labels, split.scores));
      assert.equal(Number(row.auroc_lo), boot.auroc.lo);
      assert.equal(Number(row.auprc), averagePrecision(split.labels, split.scores));
      assert.equal(Number(row.auprc_hi), boot.auprc.hi);
      assert.equal(Number(row.threshold), op.threshold);
      assert.equal(Number(row.sens), m.sensitivity);
      assert.equal(Number(row.spec_lo), boot.specificity.lo);
      assert.equal(num(row.ppv), m.ppv);
      assert.equal(num(row.npv), m.npv);
      assert.equal(Number(row.f1), m.f1);
      assert.equal(Number(row.brier), brierScore(split.labels, split.scores));
      assert.equal(Number(row.ece), expectedCalibrationError(split.labels, split.scores));
    }

    const preds = parse(readFileSync(path.join(outDir, 'predictions.csv')), { columns: true }) as Record<string, string>[];
    assert.equal(preds.length, 270);
    assert.deepEqual(Object.keys(preds[0]), ['split', 'id', 'label', 'score', 'decision']);
    assert.equal(preds[0].id, 'id,with "comma" 1');
    for (const p of preds) assert.equal(Number(p.decision), Number(p.score) >= op.threshold ? 1 : 0);
    assert.equal(preds.filter((p) => p.split === 'test' && p.decision === '1').length, metricsAtThreshold(testSplit.labels, testSplit.scores, op.threshold).tp + metricsAtThreshold(testSplit.labels, testSplit.scores, op.threshold).fp);

    const report = readFileSync(path.join(outDir, 'report.md'), 'utf8');
    assert.ok(report.includes(DISCLAIMER));
    assert.ok(report.includes('![test_roc.png](test_roc.png)'));
    assert.ok(report.includes(`>= ${op.threshold.toFixed(3)}`));
    assert.ok(report.includes('| val (threshold tuned here) | 120 |'));
    assert.ok(report.includes('| test | 150 |'));

    for (const name of ['test_roc', 'test_pr', 'val_roc', 'val_pr', 'calibration']) {
      const png = readFileSync(path.join(outDir, `${name}.png`));
      const meta = await sharp(png).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, PLOT_PIXELS);
      assert.equal(meta.height, PLOT_PIXELS);
      // The top strip holds only the title: dark pixels there mean the font was found and text drawn.
      const strip = await sharp(png).extract({ left: 0, top: 0, width: PLOT_PIXELS, height: 60 }).greyscale().raw().toBuffer();
      const dark = strip.filter((v) => v < 100).length;
      assert.ok(dark > 500, `${name}: title text drawn (${dark} dark pixels)`);
      assert.match(readFileSync(path.join(outDir, `${name}.svg`), 'utf8'), /^<svg/);
    }
    assert.match(readFileSync(path.join(outDir, 'test_roc.svg'), 'utf8'), /AUROC/);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('thresholdFrom applies a stored threshold unchanged (external validation, no val split)', async () => {
  const outDir = tmp();
  try {
    const ext = synthetic(90, 3);
    const result = await evaluatePredictions({ splits: { external_validation: ext }, task: 'referable', thresholdFrom: 0.5, bootstrap: 100, outDir });
    assert.equal(result.threshold, 0.5);
    assert.deepEqual(result.thresholdSource, { kind: 'given' });
    assert.equal(result.rows[0].sens, metricsAtThreshold(ext.labels, ext.scores, 0.5).sensitivity);
    assert.ok(readdirSync(outDir).includes('external_validation_roc.png'));
    // The long split name makes a long PR title. Text is measured with DejaVu's advance widths,
    // so the title does not squeeze the plot area (autosize 'fit'): the frame keeps most of 520 px.
    const svg = readFileSync(path.join(outDir, 'external_validation_pr.svg'), 'utf8');
    const frame = /class="background"[^>]*d="M0\.5,0\.5h([0-9.]+)v([0-9.]+)/.exec(svg);
    assert.ok(frame && Number(frame[1]) > 420 && Number(frame[2]) > 360, `plot area ${frame?.[1]} x ${frame?.[2]}`);
    assert.match(readFileSync(path.join(outDir, 'report.md'), 'utf8'), /Threshold given by the caller/);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('the report states the rule each operating mode tuned with', async () => {
  const rules = {
    constrained: /the highest sensitivity with specificity >= 0\.9:/,
    conservative: /the highest sensitivity with the Wilson 95% lower bound of specificity >= 0\.9:/,
    closest: /the specificity closest to 0\.9 \(the reference study's rule\):/,
  } as const;
  for (const [mode, rule] of Object.entries(rules)) {
    const outDir = tmp();
    try {
      const result = await evaluatePredictions({ splits: { val: synthetic(120, 4) }, task: 'referable', mode: mode as keyof typeof rules, fixSpecificity: 0.9, bootstrap: 20, outDir });
      assert.equal(result.thresholdSource.kind === 'tuned' && result.thresholdSource.mode, mode);
      assert.match(readFileSync(path.join(outDir, 'report.md'), 'utf8'), rule);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }
});

test('grade task: referable score P(grade >= 2), QWK column and 5x5 confusion', async () => {
  const outDir = tmp();
  try {
    const rng = new Rng(5);
    const make = (n: number) => {
      const labels: number[] = [];
      const gradeProbs: number[][] = [];
      for (let i = 0; i < n; i++) {
        const g = Math.min(4, Math.floor(rng.next() * 5));
        const logits = [0, 1, 2, 3, 4].map((k) => rng.normal() + (k === g ? 2 : 0));
        const z = logits.map(Math.exp);
        const sum = z.reduce((a, b) => a + b, 0);
        labels.push(g);
        gradeProbs.push(z.map((v) => v / sum));
      }
      return { ids: labels.map((_, i) => `g${i}`), labels, gradeProbs };
    };
    const val = make(100);
    const testSplit = make(100);
    const result = await evaluatePredictions({ splits: { val, test: testSplit }, task: 'grade', bootstrap: 100, outDir });
    const rows = parse(readFileSync(path.join(outDir, 'metrics_summary.csv')), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(rows[0]), [...SUMMARY_COLUMNS, 'qwk']);
    assert.equal(Number(rows[1].qwk), quadraticWeightedKappa(testSplit.labels, predictedGrades(testSplit.gradeProbs)));
    const referable = testSplit.labels.map((g) => (g >= 2 ? 1 : 0));
    const score = testSplit.gradeProbs.map((p) => p[2] + p[3] + p[4]);
    assert.ok(Math.abs(Number(rows[1].auroc) - auroc(referable, score)) < 1e-12);
    assert.equal(result.splits[1].gradeConfusion!.flat().reduce((a, b) => a + b, 0), 100);
    const preds = parse(readFileSync(path.join(outDir, 'predictions.csv')), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(preds[0]), ['split', 'id', 'label', 'score', 'decision', 'grade', 'predicted_grade', 'p_grade0', 'p_grade1', 'p_grade2', 'p_grade3', 'p_grade4']);
    assert.match(readFileSync(path.join(outDir, 'report.md'), 'utf8'), /Five-grade agreement/);
    assert.match(readFileSync(path.join(outDir, 'report.md'), 'utf8'), /!\[test_confusion\.png\]\(test_confusion\.png\)/);
    // The confusion plot is a PNG whose SVG carries every cell count.
    assert.deepEqual([...readFileSync(path.join(outDir, 'test_confusion.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    const svg = readFileSync(path.join(outDir, 'test_confusion.svg'), 'utf8');
    for (const count of new Set(result.splits[1].gradeConfusion!.flat())) assert.ok(svg.includes(`>${count}<`), `count ${count} missing from the confusion plot`);
    // Its axes name the grades as everything else does (core's classNamesFor).
    for (const name of classNamesFor('grade')) assert.ok(svg.includes(`>${name}<`), `grade '${name}' missing from the confusion plot's axes`);
    assert.match(formatMetricsTable(result.rows), /QWK/);
    // Its referral by grade counts what predictions.csv decided, grade by grade.
    const byGrade = parse(readFileSync(path.join(outDir, 'referral_by_grade.csv')), { columns: true }) as Record<string, string>[];
    assert.equal(byGrade.length, 10);
    for (const row of byGrade) {
      const mine = preds.filter((p) => p.split === row.split && p.grade === row.grade);
      assert.equal(Number(row.n), mine.length);
      assert.equal(Number(row.referred), mine.filter((p) => p.decision === '1').length);
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('referable task with grades: referral by true grade in referral_by_grade.csv, the report and predictions.csv', async () => {
  const outDir = tmp();
  try {
    // threshold 0.5: grade 0 refers 1 of 3 (0.8), grade 1 1 of 2 (0.9), grade 2 1 of 2 (0.7), grade 3 1 of 1, grade 4 2 of 2
    const grades = [0, 0, 0, 1, 1, 2, 2, 3, 4, 4];
    const scores = [0.1, 0.2, 0.8, 0.3, 0.9, 0.7, 0.4, 0.95, 0.6, 0.85];
    const ext = { ids: grades.map((_, i) => `e${i}`), labels: grades.map((g) => (g >= 2 ? 1 : 0)), scores, grades };
    const result = await evaluatePredictions({ splits: { external: ext }, task: 'referable', thresholdFrom: 0.5, bootstrap: 50, outDir });
    const expected = [[3, 1], [2, 1], [2, 1], [1, 1], [2, 2]];
    assert.deepEqual(result.splits[0].referralByGrade!.map((r) => [r.n, r.referred]), expected);
    assert.deepEqual(referralByGrade(grades, scores, 0.5).map((r) => r.share), [1 / 3, 1 / 2, 1 / 2, 1, 1]);
    const rows = parse(readFileSync(path.join(outDir, 'referral_by_grade.csv')), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(rows[0]), ['split', 'grade', 'n', 'referred', 'share', 'share_lo', 'share_hi']);
    rows.forEach((row, g) => {
      const [n, k] = expected[g];
      const w = wilsonInterval(k, n);
      assert.deepEqual([row.split, Number(row.grade), Number(row.n), Number(row.referred), Number(row.share), Number(row.share_lo), Number(row.share_hi)], ['external', g, n, k, k / n, w.lo, w.hi]);
    });
    // The pooled sensitivity (4 of 5) hides that grade 2 is referred half the time.
    assert.equal(result.rows[0].sens, 4 / 5);
    const report = readFileSync(path.join(outDir, 'report.md'), 'utf8');
    assert.match(report, /### Referred at the operating point, by true grade/);
    assert.ok(report.includes('| split | 0 no DR | 1 mild | 2 moderate * | 3 severe * | 4 proliferative * |'), 'the positive grades are starred');
    assert.ok(report.includes(`| external | 1/3 = 0.333 [${wilsonInterval(1, 3).lo.toFixed(3)}, ${wilsonInterval(1, 3).hi.toFixed(3)}] | 1/2 = 0.500 [`));
    const preds = parse(readFileSync(path.join(outDir, 'predictions.csv')), { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(preds[0]), ['split', 'id', 'label', 'score', 'decision', 'grade']);
    assert.deepEqual(preds.map((p) => Number(p.grade)), grades);
    // A grade without images is reported as none, not as 0/0.
    const noSevere = { ...ext, ids: ext.ids.filter((_, i) => grades[i] !== 3), labels: ext.labels.filter((_, i) => grades[i] !== 3), scores: scores.filter((_, i) => grades[i] !== 3), grades: grades.filter((g) => g !== 3) };
    const r2 = await evaluatePredictions({ splits: { external: noSevere }, task: 'referable', thresholdFrom: 0.5, bootstrap: 50, outDir });
    assert.deepEqual(r2.splits[0].referralByGrade![3], { grade: 3, n: 0, referred: 0, share: null, interval: null });
    assert.match(readFileSync(path.join(outDir, 'referral_by_grade.csv'), 'utf8'), /^external,3,0,0,NA,NA,NA$/m);
    // Grades that contradict the labels, out of range or of another length are refused before anything is written.
    const out2 = tmp();
    try {
      const bad = async (split: typeof ext, re: RegExp) =>
        assert.rejects(evaluatePredictions({ splits: { external: split }, task: 'referable', thresholdFrom: 0.5, bootstrap: 50, outDir: out2 }), (e: unknown) => e instanceof DrXaiError && re.test(e.message));
      await bad({ ...ext, labels: ext.labels.map((l, i) => (i === 6 ? 0 : l)) }, /grade 2 has images labelled 1 and 0 \(at index 6\)/);
      await bad({ ...ext, grades: grades.map((g) => (g === 4 ? 5 : g)) }, /grade at index 8 is 5/);
      await bad({ ...ext, grades: grades.slice(1) }, /10 labels but 9 grades/);
      assert.deepEqual(readdirSync(out2), []);
    } finally {
      rmSync(out2, { recursive: true, force: true });
    }
    assert.throws(() => referralByGrade([0, 1], [0.5], 0.5), /2 grades but 1 scores/);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('bad input raises DrXaiError and writes nothing', async () => {
  const outDir = tmp();
  try {
    const good = synthetic(40, 4);
    const bad = async (opts: Partial<Parameters<typeof evaluatePredictions>[0]>, re: RegExp) => {
      await assert.rejects(
        evaluatePredictions({ splits: { val: good }, task: 'referable', bootstrap: 50, outDir, ...opts }),
        (e: unknown) => e instanceof DrXaiError && re.test(e.message),
      );
    };
    await bad({ splits: { test: good } }, /no 'val' split to tune/);
    await bad({ splits: { val: good, test: { ...good, labels: good.labels.map(() => 1) } } }, /split 'test'.*only one class/);
    await bad({ splits: { val: { ...good, ids: good.ids.map(() => 'same') } } }, /id 'same' appears more than once/);
    await bad({ splits: { 'val/../x': good } }, /split names/);
    await bad({ splits: { val: { ...good, scores: good.scores.map((s) => s * 3) } } }, /probability in \[0, 1\]/);
    await bad({ splits: { val: { ...good, scores: good.scores.slice(1) } } }, /40 labels but 39 scores/);
    await bad({ task: 'grade' }, /needs gradeProbs/);
    await bad({ thresholdFrom: NaN }, /thresholdFrom must be a number/);
    await bad({ splits: {} }, /no splits/);
    assert.deepEqual(readdirSync(outDir), []);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('formatMetricsTable prints one aligned line per split with 3-decimal CIs', () => {
  const row = {
    split: 'test', n: 100, positives: 30, auroc: 0.91234, auroc_lo: 0.85, auroc_hi: 0.95, auprc: 0.8, auprc_lo: 0.7, auprc_hi: 0.9,
    threshold: 0.42, sens: 0.8, sens_lo: 0.6, sens_hi: 0.9, spec: 0.95, spec_lo: 0.9, spec_hi: 0.98, ppv: null, npv: 0.9, f1: 0.7, brier: 0.1, ece: 0.05,
  };
  const lines = formatMetricsTable([row]).split('\n');
  assert.equal(lines.length, 3);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'all lines the same width');
  assert.match(lines[2], /^test +100 +30 +0\.912 \[0\.850, 0\.950\] +0\.800 \[0\.700, 0\.900\] +0\.420 +0\.800 \[0\.600, 0\.900\] +0\.950 \[0\.900, 0\.980\] +n\/a +0\.900 +0\.100 +0\.050$/);
});
