// The hostile-input corpus (scripts/hostile-corpus.ts) against `dr-xai screen` and a real
// `dr-xai serve` process: every file gets its named reason or its ungradable result, never a
// crash or a 5xx, and the server's RSS stays bounded per request (read from /proc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostileCorpus } from '../../scripts/hostile-corpus.ts';
import { rssMb, startServeChild } from '../../scripts/serve-child.ts';
import { ROOT, SMALL_MODEL } from '../serve/helpers.ts';

const CLI = path.join(ROOT, 'bin', 'dr-xai.js');

test('dr-xai screen over the hostile corpus: each file failed with its reason or screened as ungradable; the batch completes', { timeout: 120_000 }, async () => {
  const corpus = await hostileCorpus();
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-hostile-'));
  mkdirSync(path.join(dir, 'in'));
  for (const c of corpus) writeFileSync(path.join(dir, 'in', c.file), c.bytes);
  // The folder, plus the files whose extension says they are no photograph (a folder walk skips and counts those).
  const named = corpus.filter((c) => /\.(svg|gif)$/.test(c.file)).map((c) => path.join('in', c.file));
  const r = spawnSync(process.execPath, [CLI, 'screen', 'in', ...named, '--model', SMALL_MODEL, '--out', 'out', '--workers', '2', '--quiet'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /not photographs by their extension, skipped: 1 \.gif, 1 \.svg/);
  assert.doesNotMatch(r.stderr, /internal error|at .*\.ts:\d+/);
  const records = new Map(readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((x) => [x.id, x]));
  for (const c of corpus) {
    const rec = records.get(path.join('in', c.file));
    assert.ok(rec, `${c.name}: no record`);
    if (c.screen.status === 'failed') {
      assert.equal(rec.status, 'failed', `${c.name}: ${JSON.stringify(rec)}`);
      assert.match(rec.error, new RegExp(`^in/${c.file.replace('.', '\\.')}: `), c.name);
      assert.match(rec.error, c.screen.reason, c.name);
    } else {
      assert.equal(rec.status, 'ok', `${c.name}: ${rec.error}`);
      assert.equal(rec.gradable, c.screen.status === 'gradable', `${c.name}: ${rec.reasons}`);
      if (!rec.gradable) assert.equal(rec.referable, null, `${c.name}: an ungradable photo gets no decision`);
    }
  }
});

test('dr-xai preprocess over the hostile corpus (folder format): every bad file is a named failure in the manifest, the rest is written', { timeout: 120_000 }, async () => {
  const corpus = await hostileCorpus();
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-hostile-pre-'));
  mkdirSync(path.join(dir, 'in'));
  for (const c of corpus) writeFileSync(path.join(dir, 'in', c.file), c.bytes);
  const r = spawnSync(process.execPath, [CLI, 'preprocess', '--data', 'in', '--format', 'folder', '--size', '128', '--out', 'out', '--quiet'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr); // some images failed: named in the manifest, the rest written
  assert.doesNotMatch(r.stderr, /internal error/);
  const manifest = readFileSync(path.join(dir, 'out', 'manifest.csv'), 'utf8');
  for (const c of corpus.filter((x) => /\.(png|jpe?g|tiff?)$/.test(x.file))) {
    const line = manifest.split('\n').find((l) => l.startsWith(`${c.file.replace(/\.[^.]+$/, '')},`));
    assert.ok(line, `${c.name}: not in the manifest`);
    if (c.screen.status === 'failed') assert.match(line, /,failed,/, `${c.name}: ${line}`);
  }
});

test('dr-xai serve over the hostile corpus: the right 4xx or 200, no 5xx, RSS bounded per request, healthy after', { timeout: 180_000 }, async () => {
  const corpus = await hostileCorpus();
  const { child: server, url: base } = await startServeChild(['--model', SMALL_MODEL, '--workers', '1', '--log', 'silent']);
  try {
    const good = corpus.find((c) => c.api.status === 200)!;
    await fetch(`${base}/v1/screen`, { method: 'POST', body: new Uint8Array(good.bytes) }); // warm: model loaded
    const baseline = rssMb(server.pid!);
    let peak = baseline;
    for (const c of corpus) {
      const res = await fetch(`${base}/v1/screen`, { method: 'POST', body: new Uint8Array(c.bytes), headers: { 'content-type': c.file.endsWith('.dcm') ? 'application/dicom' : 'application/octet-stream' } });
      const body = await res.json();
      assert.equal(res.status, c.api.status, `${c.name}: ${JSON.stringify(body).slice(0, 300)}`);
      if (c.api.reason) assert.match(body.message, c.api.reason, c.name);
      const rss = rssMb(server.pid!);
      peak = Math.max(peak, rss);
      assert.ok(rss - baseline < 400, `${c.name}: RSS ${rss.toFixed(0)} MB against ${baseline.toFixed(0)} MB before the corpus`);
    }
    console.log(`# hostile corpus via the API: RSS ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB`);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
  } finally {
    server.kill('SIGTERM');
  }
});
