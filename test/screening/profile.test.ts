// `dr-xai profile --json`: one object per model in the order given, with the documented fields
// measured (positive, consistent with each other), each model in its own process per round; and
// combineRounds, the medians over rounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { combineRounds, type ModelProfile } from '../../src/screening/index.ts';
import { ROOT, SMALL_MODEL } from '../serve/helpers.ts';

test('profile --json: per model, in order, latency p50 <= p95, images/s, RSS and size', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-profile-'));
  const copy = path.join(dir, 'copy.onnx');
  copyFileSync(SMALL_MODEL, copy);
  copyFileSync(SMALL_MODEL.replace(/\.onnx$/, '.json'), path.join(dir, 'copy.json'));
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dr-xai.js'), 'profile', '--model', SMALL_MODEL, '--compare', copy, '--json', '--runs', '4', '--rounds', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const profiles = JSON.parse(r.stdout);
  assert.deepEqual(profiles.map((p: { model: string }) => p.model), [SMALL_MODEL, copy]);
  for (const p of profiles) {
    for (const k of ['latency_ms_p50', 'latency_ms_p95', 'images_per_s', 'peak_rss_mb', 'size_mb']) assert.ok(typeof p[k] === 'number' && p[k] > 0, `${k} = ${p[k]}`);
    assert.ok(p.latency_ms_p50 <= p.latency_ms_p95);
    assert.equal(p.rounds, 2);
    assert.equal(p.size_mb, statSync(SMALL_MODEL).size / 1e6);
    assert.deepEqual(p.latency.map((l: { batch: number; threads: number }) => [l.batch, l.threads]), [[1, 1], [8, 1], [1, p.cores], [8, p.cores]]);
    assert.ok(p.stages_ms.decode > 0 && p.stages_ms.preprocess > 0 && p.stages_ms.infer > 0 && p.stages_ms.explain > 0);
    assert.ok(p.peak_rss_mb < 2000, `peak RSS ${p.peak_rss_mb} MB for a 128 px test model`);
  }
  const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dr-xai.js'), 'profile', '--model', path.join(dir, 'none.onnx')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr.trim(), /^dr-xai: error: .*none\.onnx: model file not found$/);
});

test('combineRounds: medians of every figure over the rounds, the largest peak RSS, rounds counted', () => {
  const round = (p50: number, p95: number, rss: number, decode: number): ModelProfile => ({
    model: 'm.onnx', latency_ms_p50: p50, latency_ms_p95: p95, images_per_s: 8000 / (2 * p50), peak_rss_mb: rss, size_mb: 8.9, input_px: 224,
    latency: [{ batch: 1, threads: 1, p50Ms: 2 * p50, p95Ms: 2 * p95, imagesPerS: 1000 / (2 * p50) }],
    stages_ms: { decode, preprocess: 10 + decode, infer: p50, explain: null }, photo: 'x.jpg', cores: 2, rounds: 1,
  });
  const c = combineRounds([round(12, 20, 300, 3), round(10, 14, 350, 5), round(11, 30, 320, 4)]);
  assert.equal(c.latency_ms_p50, 11);
  assert.equal(c.latency_ms_p95, 20);
  assert.equal(c.images_per_s, 8000 / 22);
  assert.equal(c.peak_rss_mb, 350);
  assert.deepEqual(c.latency, [{ batch: 1, threads: 1, p50Ms: 22, p95Ms: 40, imagesPerS: 1000 / 22 }]);
  assert.deepEqual(c.stages_ms, { decode: 4, preprocess: 14, infer: 11, explain: null });
  assert.equal(c.rounds, 3);
  assert.equal(c.size_mb, 8.9);
  // an even count takes the mean of the middle two
  assert.equal(combineRounds([round(10, 20, 1, 1), round(14, 20, 1, 1)]).latency_ms_p50, 12);
  assert.throws(() => combineRounds([]), /no rounds/);
});
