/**
 * npm run bench:queue [-- --n 240 --rounds 3 --model m.onnx]
 *
 * The cost of spreading `dr-xai screen` over BullMQ workers, on this one machine: the same N
 * photographs (APTOS 2019 at 224 px from ../shared/data, else phantoms at 224 px) screened by
 *   local     screenBatch with the local worker pool (every core)
 *   queue x1  one `dr-xai worker` process (every core) behind a redis-server on loopback
 *   queue x2  two worker processes (half the cores each)
 * alternating, `rounds` times, a fresh Redis database and output folder per run (job ids are
 * content hashes: a second run on the same database would collect results instead of screening).
 * Both sides are warm before the clock starts: the workers as in a deployment, the local pool by a
 * throwaway batch (its start-up, ~1 s per thread for MobileNetV2, would otherwise count against
 * local only). Prints photos/s per run and the medians, the
 * queue's overhead against local (target <= 10% at 224 px) and the load average.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';
import { defaultModelPath } from '../src/models/index.ts';
import { localBackend, queueBackend, screenBatch, type PhotographPath, type ScreeningBackend } from '../src/screening/index.ts';
import { loadAverage, median } from './engine_common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const n = Number(arg('n', '240'));
const rounds = Number(arg('rounds', '3'));
const model = path.resolve(arg('model', await defaultModelPath('referable')));
const cores = os.availableParallelism();
const REDIS = '/usr/bin/redis-server';
if (!existsSync(REDIS)) {
  console.log(`bench:queue skipped: ${REDIS} not found (apt-get install -y redis-server)`);
  process.exit(0);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'drxai-bench-queue-'));
const aptos = path.resolve(ROOT, '..', 'shared', 'data', 'aptos2019-224', 'images');
let photographs: PhotographPath[];
if (existsSync(aptos)) {
  photographs = readdirSync(aptos).sort().slice(0, n).map((f) => ({ id: f, path: path.join(aptos, f) }));
} else {
  photographs = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(tmp, `phantom-${i}.png`);
    writeFileSync(file, await encodePng(generatePhantom({ seed: i, size: 224, grade: (i % 5) as 0 | 1 | 2 | 3 | 4 }).image));
    photographs.push({ id: file, path: file });
  }
}

const port = 20000 + Math.floor(Math.random() * 20000);
const url = `redis://127.0.0.1:${port}`;
const redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const cli = (...a: string[]) => spawnSync('redis-cli', ['-p', String(port), ...a], { encoding: 'utf8' }).stdout.trim();
for (let i = 0; i < 100 && cli('ping') !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 50));

async function startWorkers(count: number): Promise<ChildProcess[]> {
  const per = Math.max(1, Math.floor(cores / count));
  const ws = Array.from({ length: count }, () =>
    spawn(process.execPath, [path.join(ROOT, 'bin', 'dr-xai.js'), 'worker', '--redis', url, '--model', model, '--concurrency', String(per), '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  await Promise.all(ws.map((w) => new Promise<void>((resolve) => w.stdout!.on('data', (d: Buffer) => d.toString().includes('dr-xai worker') && resolve()))));
  // Each worker's pool loads the model on its first job: warm them with a throwaway batch.
  await run('warm', 'queue', photographs.slice(0, 4 * cores));
  return ws;
}

// One warm local pool for every local run (screenBatch closes its backend: not this one).
const pool = localBackend(model, cores);
const warmLocal: ScreeningBackend = { capacity: pool.capacity, run: (j) => pool.run(j), close: async () => {} };

async function run(label: string, kind: 'local' | 'queue', list = photographs): Promise<number> {
  cli('flushall');
  const out = path.join(tmp, `${label}-${Date.now()}`);
  const t0 = performance.now();
  const r = await screenBatch({
    modelPath: model,
    photographs: list,
    out,
    backend: kind === 'local' ? async () => warmLocal : (fp: string) => queueBackend(url, fp),
  });
  const s = (performance.now() - t0) / 1000;
  if (r.failed > 0) throw new Error(`${label}: ${r.failed} failed`);
  return list.length / s;
}

console.log(`${photographs.length} photographs (${existsSync(aptos) ? 'APTOS 2019, 224 px' : 'phantoms, 224 px'}), model ${path.basename(model)}, ${cores} cores, load average ${loadAverage()}`);
const rates: Record<string, number[]> = { local: [], 'queue x1': [], 'queue x2': [] };
let one: ChildProcess[] = [];
let two: ChildProcess[] = [];
try {
  await run('warm-local', 'local', photographs.slice(0, 4 * cores));
  for (let r = 0; r < rounds; r++) {
    rates.local.push(await run('local', 'local'));
    one = await startWorkers(1);
    rates['queue x1'].push(await run('q1', 'queue'));
    for (const w of one) w.kill('SIGTERM');
    two = await startWorkers(2);
    rates['queue x2'].push(await run('q2', 'queue'));
    for (const w of two) w.kill('SIGTERM');
    console.log(`round ${r + 1}: ${Object.entries(rates).map(([k, v]) => `${k} ${v[r].toFixed(1)}/s`).join(', ')}`);
  }
} finally {
  for (const w of [...one, ...two]) if (w.exitCode === null) w.kill('SIGKILL');
  await pool.close();
  redis.kill('SIGKILL');
}
const m = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
console.log(`median photos/s: local ${m.local.toFixed(1)}, queue with 1 worker ${m['queue x1'].toFixed(1)}, with 2 workers ${m['queue x2'].toFixed(1)}`);
console.log(`queue overhead vs local (1 worker, same cores): ${((m.local / m['queue x1'] - 1) * 100).toFixed(1)}% (target <= 10%); 2 vs 1 workers: ${(m['queue x2'] / m['queue x1']).toFixed(2)}x`);
console.log(`load average after: ${loadAverage()}`);
