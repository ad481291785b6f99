/**
 * npm run bench:soak [-- --seconds 20 --model m.onnx]
 *
 * A mixed, hostile load on `dr-xai serve` (the released referable model by default) at 10, 50 and
 * 200 connections, `seconds` each: autocannon posts good photographs (APTOS 2019 at 224 px, or
 * phantoms) and bad ones (a corrupt PNG, text) in turn, while other clients abandon uploads
 * halfway and hold stalled sockets open, and /healthz is polled throughout. Prints per level the
 * successful screenings/s, p50/p99 latency and responses by status; the server's RSS idle, peak
 * and after the run. Targets (the reliability issue): no 5xx other than 503 back-pressure,
 * screenings/s at 200 connections >= 90% of those at 10, RSS back within 20% of idle, /healthz
 * answering throughout.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';
import { defaultModelPath } from '../src/models/index.ts';
import { rssMb, startServeChild } from '../scripts/serve-child.ts';
import { loadAverage } from './engine_common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const seconds = Number(arg('seconds', '20'));
const model = path.resolve(arg('model', await defaultModelPath('referable')));

const aptos = path.resolve(ROOT, '..', 'shared', 'data', 'aptos2019-224', 'images');
const good: Buffer[] = existsSync(aptos)
  ? readdirSync(aptos).sort().slice(0, 8).map((f) => readFileSync(path.join(aptos, f)))
  : await Promise.all([1, 2, 3, 4].map(async (s) => encodePng(generatePhantom({ seed: s, size: 224, grade: 2 }).image)));
const corrupt = Buffer.from(good[0]);
corrupt.fill(0x5a, 100, 300);
const bodies = [...good.map((b) => ({ body: b, good: true })), { body: corrupt, good: false }, { body: Buffer.from('not a photograph'), good: false }];

const { child, url } = await startServeChild(['--model', model, '--log', 'warn']);
let crashed = false;
child.on('exit', () => (crashed = true));
const { hostname, port } = new URL(url);
const pid = child.pid!;
for (let i = 0; i < 8; i++) await fetch(`${url}/v1/screen`, { method: 'POST', body: new Uint8Array(good[i % good.length]) });
await new Promise((r) => setTimeout(r, 2000));
const idle = rssMb(pid);
let peak = idle;
const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);

// /healthz throughout: every 500 ms, 2 s to answer.
let healthChecks = 0;
let healthFailures = 0;
const health = setInterval(() => {
  healthChecks++;
  fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok || healthFailures++, () => healthFailures++);
}, 500);

/** Abandoned uploads (headers announce 5 MB, half a photo is sent, the socket is destroyed) and stalled sockets (nothing after the request line). */
function hostileClients(stalled: number): () => void {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < stalled; i++) {
    const s = net.connect(Number(port), hostname, () => s.write('POST /v1/screen HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    s.on('error', () => {});
    sockets.push(s);
  }
  const abandon = setInterval(() => {
    const s = net.connect(Number(port), hostname, () => {
      s.write(`POST /v1/screen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`);
      s.write(good[0].subarray(0, good[0].length >> 1));
      setTimeout(() => s.destroy(), 50);
    });
    s.on('error', () => {});
  }, 100);
  return () => {
    clearInterval(abandon);
    for (const s of sockets) s.destroy();
  };
}

function load(connections: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${url}/v1/screen`,
        connections,
        duration: seconds,
        timeout: 60,
        requests: bodies.map((b) => ({ method: 'POST' as const, body: b.body, headers: { 'content-type': 'image/png' } })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    inst.on('error', reject);
  });
}

const stats = (r: autocannon.Result) => (r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
console.log(`bench:soak: ${path.basename(model)}, ${good.length} good photographs (${existsSync(aptos) ? 'APTOS 224 px' : 'phantoms'}) and 2 bad ones in turn, abandoned uploads 10/s, 100 stalled sockets, ${os.availableParallelism()} cores, load average ${loadAverage()}`);
console.log(`server RSS idle after warm-up: ${idle.toFixed(0)} MB`);
const rates: Record<number, number> = {};
let other5xx = 0;
for (const connections of [10, 50, 200]) {
  const stop = hostileClients(100);
  const r = await load(connections);
  stop();
  const s = stats(r);
  const ok = s['200']?.count ?? 0;
  rates[connections] = ok / seconds;
  other5xx += Object.entries(s).filter(([c]) => c.startsWith('5') && c !== '503').reduce((a, [, v]) => a + v.count, 0);
  console.log(
    `${String(connections).padStart(3)} connections: ${rates[connections].toFixed(1)} screenings/s (200), latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms; ` +
      `${Object.entries(s).map(([c, v]) => `${c}: ${v.count}`).join(', ')}${r.errors ? `, socket errors ${r.errors}` : ''}${r.timeouts ? `, timeouts ${r.timeouts}` : ''}; peak RSS ${peak.toFixed(0)} MB`,
  );
}
clearInterval(health);
await new Promise((r) => setTimeout(r, 5000));
clearInterval(sampler);
const final = rssMb(pid);
console.log(`screenings/s at 200 vs 10 connections: ${((100 * rates[200]) / rates[10]).toFixed(0)}% (target >= 90%)`);
console.log(`RSS: idle ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, 5 s after the load ${final.toFixed(0)} MB (${((100 * (final - idle)) / idle).toFixed(0)}% over idle; target <= 20%)`);
console.log(`/healthz: ${healthChecks - healthFailures}/${healthChecks} answered within 2 s; 5xx other than 503: ${other5xx}; server ${crashed ? 'CRASHED' : 'still running'}`);
console.log(`load average after: ${loadAverage()}`);
child.kill('SIGTERM');
process.exitCode = other5xx > 0 || crashed || healthFailures > 0 ? 1 : 0;
