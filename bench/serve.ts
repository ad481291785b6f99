/**
 * Load test of `dr-xai serve` on loopback (npm run bench:serve): the server runs in a child
 * process; autocannon drives POST /v1/screen with a phantom fundus PNG for 30 s at 1, 10, 50 and
 * 200 concurrent connections, then a 10,000-request soak. Prints requests/s, p50/p99 latency,
 * responses by status, and the server's RSS read from /proc/<pid>/status (peak, and at the
 * start, middle and end of the soak). Each level's screenings/s is set against the model's raw
 * throughput on the same machine (the network alone, batch 8, all threads, in this process,
 * measured before and after the load: target >= 85%). Also: no 5xx other than deliberate 503
 * back-pressure, no crash, flat RSS.
 *   --model <onnx>   model package (default the referable default of `dr-xai models`)
 *   --size <px>      phantom size (default 224, as APTOS-224)
 *   --seconds <s>    per load level (default 30); --soak <n> soak requests (default 10000)
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';
import { defaultModelPath, loadModel, modelPreprocessConfig } from '../src/models/index.ts';
import { preprocessFundus } from '../src/preprocess/index.ts';
import { rssMb, startServeChild } from '../scripts/serve-child.ts';
import { loadAverage } from './engine_common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const model = path.resolve(arg('model', await defaultModelPath('referable')));
const size = Number(arg('size', '224'));
const seconds = Number(arg('seconds', '30'));
const soakRequests = Number(arg('soak', '10000'));


const phantom = generatePhantom({ seed: 7, size, grade: 2 }).image;
const body = await encodePng(phantom);

/** Images/s of the network alone: the preprocessed phantom in batches of 8 for `s` seconds, all threads. */
async function rawThroughput(s: number): Promise<number> {
  const m = await loadModel(model);
  const image = preprocessFundus(phantom, modelPreprocessConfig(m.info)).image;
  const batch = Array.from({ length: 8 }, () => image);
  await m.predict(batch);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < s * 1000) {
    await m.predict(batch);
    n += batch.length;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await m.release();
  return rate;
}
const rawBefore = await rawThroughput(Math.min(10, seconds));
const { child, url } = await startServeChild(['--model', model, '--log', 'warn']);
let crashed = false;
let stopping = false;
child.on('exit', (code, signal) => {
  if (stopping) return;
  crashed = true;
  console.error(`server exited (code ${code}, signal ${signal})`);
});
const pid = child.pid!;
let peakRss = rssMb(pid);
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, rssMb(pid));
}, 200);

// Warm the workers (model load, JIT) before measuring.
for (let i = 0; i < 8; i++) await fetch(`${url}/v1/screen`, { method: 'POST', body: new Uint8Array(body) });

function run(opts: Partial<autocannon.Options>): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const inst = autocannon({ url: `${url}/v1/screen`, method: 'POST', body, headers: { 'content-type': 'image/png' }, timeout: 60, ...opts }, (err, res) => (err ? reject(err) : resolve(res)));
    inst.on('error', reject);
  });
}

function byStatus(r: autocannon.Result): string {
  const stats = (r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  const parts = Object.entries(stats).map(([code, s]) => `${code}: ${s.count}`);
  if (r.errors) parts.push(`socket errors: ${r.errors}`);
  if (r.timeouts) parts.push(`timeouts: ${r.timeouts}`);
  return parts.join(', ');
}
function fiveHundreds(r: autocannon.Result): number {
  const stats = (r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  return Object.entries(stats).filter(([c]) => c.startsWith('5') && c !== '503').reduce((a, [, s]) => a + s.count, 0);
}

console.log(`dr-xai serve load test: ${path.relative(ROOT, model)}, ${size}x${size} phantom PNG (${body.length} bytes), ${os.availableParallelism()} cores; load average ${loadAverage()}`);
console.log(`server RSS after warm-up: ${rssMb(pid).toFixed(0)} MB`);
let bad = 0;
const levels: { connections: number; screenings: number }[] = [];
for (const connections of [1, 10, 50, 200]) {
  const r = await run({ connections, duration: seconds });
  bad += fiveHundreds(r);
  const screenings = ((r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats?.['200']?.count ?? 0) / seconds;
  levels.push({ connections, screenings });
  console.log(
    `${connections} connections, ${seconds} s: ${r.requests.average.toFixed(1)} req/s (${r.requests.total} responses), ` +
      `${screenings.toFixed(1)} screenings/s (200), ` +
      `latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms; ${byStatus(r)}; peak RSS so far ${peakRss.toFixed(0)} MB`,
  );
}
// The soak runs as two halves so that RSS can be read exactly at its middle.
const soakRss = [rssMb(pid)];
const soakT0 = Date.now();
const halves: autocannon.Result[] = [];
for (const amount of [Math.floor(soakRequests / 2), soakRequests - Math.floor(soakRequests / 2)]) {
  halves.push(await run({ connections: 50, amount }));
  soakRss.push(rssMb(pid));
}
const soakS = (Date.now() - soakT0) / 1000;
const merged = { ...halves[1], statusCodeStats: {} as Record<string, { count: number }>, errors: halves[0].errors + halves[1].errors, timeouts: halves[0].timeouts + halves[1].timeouts };
for (const h of halves) {
  for (const [code, st] of Object.entries((h as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {})) {
    merged.statusCodeStats[code] = { count: (merged.statusCodeStats[code]?.count ?? 0) + st.count };
  }
}
const soakResult = merged as unknown as autocannon.Result;
console.log(`soak, 50 connections: ${halves[0].requests.total + halves[1].requests.total} requests in ${soakS.toFixed(1)} s; ${byStatus(soakResult)}`);
console.log(`RSS during the soak: start ${soakRss[0].toFixed(0)} MB, middle ${soakRss[1].toFixed(0)} MB, end ${soakRss[2].toFixed(0)} MB`);
bad += fiveHundreds(soakResult);
clearInterval(sampler);
console.log(`server peak RSS over the whole run: ${peakRss.toFixed(0)} MB`);
stopping = true;
child.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 1000));
const rawAfter = await rawThroughput(Math.min(10, seconds));
const raw = (rawBefore + rawAfter) / 2;
console.log(`raw network throughput (batch 8, all threads, no decode or preprocessing): ${raw.toFixed(1)} images/s (before ${rawBefore.toFixed(1)}, after ${rawAfter.toFixed(1)})`);
for (const l of levels) console.log(`  ${String(l.connections).padStart(3)} connections: ${l.screenings.toFixed(1)} screenings/s = ${((100 * l.screenings) / raw).toFixed(0)}% of raw (target >= 85%)`);
console.log(`5xx other than 503: ${bad}; server ${crashed ? 'CRASHED before the end' : 'ran to the end'}; load average at end ${loadAverage()}`);
process.exitCode = bad > 0 || crashed ? 1 : 0;
