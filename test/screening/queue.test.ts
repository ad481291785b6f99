// Screening over BullMQ + Redis with real processes: a redis-server of our own on a loopback
// port, three `dr-xai worker` processes, `dr-xai screen --redis`. One worker is killed with -9
// while it holds a job, another is stopped with SIGTERM: every photograph still gets exactly one
// result, equal to the local `dr-xai screen`'s. Skips, saying so, where redis-server is absent
// (.ci/run installs Debian's redis-server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { encodePng } from '../../src/core/index.ts';
import { generatePhantom } from '../../src/data/index.ts';
import { modelFingerprint, readSidecar } from '../../src/models/index.ts';
import { queueName } from '../../src/screening/index.ts';
import { ROOT, SMALL_MODEL } from '../serve/helpers.ts';

const REDIS = '/usr/bin/redis-server';
const skip = existsSync(REDIS) ? false : `redis-server not found at ${REDIS} (apt-get install -y redis-server); queue tests skipped`;
if (skip) console.log(`# ${skip}`);
const CLI = path.join(ROOT, 'bin', 'dr-xai.js');
const N = 24;

function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await check()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    void tick();
  });
}

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
}

test('N photos through 3 workers, one killed with -9 and one stopped with SIGTERM mid-run: exactly N results, equal to local screen', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-queue-'));
  const photos = path.join(dir, 'photos');
  mkdirSync(photos);
  for (let i = 0; i < N; i++) writeFileSync(path.join(photos, `p${String(i).padStart(2, '0')}.png`), await encodePng(generatePhantom({ seed: 100 + i, size: 512, grade: (i % 5) as 0 | 1 | 2 | 3 | 4 }).image));
  writeFileSync(path.join(photos, 'zz-broken.png'), 'not a photograph');

  const port = 20000 + Math.floor(Math.random() * 20000);
  const redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const workers: ChildProcess[] = [];
  const queue = new Queue(queueName(modelFingerprint(readFileSync(SMALL_MODEL), await readSidecar(SMALL_MODEL))), { connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null } });
  try {
    await waitFor(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG', 'redis-server');
    const local = spawnSync(process.execPath, [CLI, 'screen', 'photos', '--model', SMALL_MODEL, '--out', 'local', '--workers', '2', '--quiet'], { cwd: dir, encoding: 'utf8' });
    assert.equal(local.status, 1, local.stderr); // the broken file
    const logs: string[] = ['', '', ''];
    for (let w = 0; w < 3; w++) {
      const p = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--model', SMALL_MODEL, '--concurrency', '1', '--lock-ms', '2000'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.on('data', (b) => (logs[w] += String(b)));
      p.stderr!.on('data', (b) => (logs[w] += String(b)));
      workers.push(p);
    }
    await waitFor(() => logs.every((l) => l.includes('dr-xai worker')), 'three workers ready');
    const screen = spawn(process.execPath, [CLI, 'screen', 'photos', '--model', SMALL_MODEL, '--redis', url, '--out', 'queued', '--quiet'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    screen.stdout!.on('data', (b) => (out += String(b)));
    screen.stderr!.on('data', (b) => (out += String(b)));
    // Kill worker 0 while BullMQ says it holds a job; stop worker 1 gracefully a little later.
    const victim = `dr-xai-worker-${workers[0].pid}`;
    await waitFor(async () => (await queue.getActive()).some((j) => j.processedBy === victim), 'the victim to hold a job');
    const held = (await queue.getActive()).find((j) => j.processedBy === victim)!.id;
    workers[0].kill('SIGKILL');
    await waitFor(async () => (await queue.getJobCounts('completed')).completed >= 4, 'some progress');
    workers[1].kill('SIGTERM');
    assert.equal(await exited(workers[1]), 0, `SIGTERM: ${logs[1]}`);
    assert.match(logs[1], /finishing the jobs in hand/);
    assert.equal(await exited(screen), 1, out); // the broken file is a failed input
    assert.match(out, new RegExp(`${N + 1} photograph\\(s\\): .* 1 failed`));
    assert.match(out, /photos\/zz-broken\.png: not a recognised image/);

    const read = (name: string) => readFileSync(path.join(dir, name, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const queued = read('queued');
    const reference = read('local');
    assert.equal(queued.length, N + 1);
    assert.deepEqual(queued.map((r) => r.id), reference.map((r) => r.id), 'same photographs, same order, no duplicates');
    queued.forEach((r, i) => {
      assert.equal(r.status, reference[i].status, r.id);
      if (r.status === 'ok') assert.ok(Math.abs(r.probability - reference[i].probability) < 1e-6, `${r.id}: ${r.probability} vs ${reference[i].probability}`);
    });
    // Each photograph was completed once in the queue, the killed worker's job by another worker.
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    assert.deepEqual(counts, { completed: N, failed: 1, active: 0, waiting: 0, delayed: 0, paused: 0 });
    const rescued = await queue.getJob(held!);
    assert.notEqual(rescued?.processedBy, victim, 'the job the killed worker held was finished by another');
    // A re-run collects the finished jobs: nothing is screened again.
    const again = spawnSync(process.execPath, [CLI, 'screen', 'photos', '--model', SMALL_MODEL, '--redis', url, '--out', 'queued2', '--quiet'], { cwd: dir, encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.equal((await queue.getJobCounts('completed')).completed, N);
    assert.deepEqual(read('queued2').map((r) => r.probability), queued.map((r) => r.probability));
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await queue.close();
    redis.kill('SIGKILL');
  }
});

test('a worker refuses a job for another model, and an unreachable Redis is one clear line', { skip, timeout: 60_000 }, async () => {
  const bad = spawnSync(process.execPath, [CLI, 'screen', path.join(ROOT, 'test', 'fixtures', 'screening', 'phantom.png'), '--model', SMALL_MODEL, '--redis', 'redis://127.0.0.1:1', '--out', mkdtempSync(path.join(tmpdir(), 'drxai-q-'))], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim(), 'dr-xai: error: cannot reach Redis at redis://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1; is redis-server running?)');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const fp = modelFingerprint(readFileSync(SMALL_MODEL), await readSidecar(SMALL_MODEL));
  const queue = new Queue(queueName(fp), { connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null } });
  let worker: ChildProcess | undefined;
  try {
    await waitFor(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG', 'redis-server');
    worker = spawn(process.execPath, [CLI, 'worker', '--redis', `redis://127.0.0.1:${port}`, '--model', SMALL_MODEL, '--concurrency', '1'], { stdio: 'ignore' });
    const photo = path.join(ROOT, 'test', 'fixtures', 'screening', 'phantom.png');
    const job = await queue.add('screen', { path: photo, source: 'phantom.png', sha256: 'x', modelFingerprint: 'f'.repeat(64), explain: false, thumbnailPx: 0 }, { jobId: 'wrong-model', attempts: 3 });
    await waitFor(async () => (await job.getState()) === 'failed', 'the job to fail');
    const failed = await queue.getJob('wrong-model');
    assert.match(failed!.failedReason, new RegExp(`this worker runs model ${fp.slice(0, 16)}, the job asks for ffffffffffffffff`));
    assert.equal(failed!.attemptsMade, 1, 'refused at once, not retried');
  } finally {
    worker?.kill('SIGKILL');
    await queue.close();
    redis.kill('SIGKILL');
  }
});
