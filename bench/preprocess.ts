/**
 * npm run bench:preprocess [-- --size 448 --reps 5 --jobs N --full --no-stages]
 *
 * Our pipeline against bench/preprocess_ref.py (the same steps in OpenCV-Python), run as a plain
 * single-process loop as the study's code would be (OpenCV may use its own threads) and on as
 * many processes as our pool has threads (the fair ratio), all on the
 * 20 full-size IDRiD photographs (4288x2848 JPEG) in ../shared/data/idrid-lesions/images.
 *
 * The same work on both sides, per image: read the file, decode it (by default both to 1/f of
 * the size, f the largest of 2, 4, 8 that keeps the short side >= size, by a DCT-domain decode at
 * f/2 and a Lanczos 2x reduce: sharp's shrink-on-load from bytes / cv2.IMREAD_REDUCED_COLOR_<f/2>
 * + cv2.resize INTER_LANCZOS4, near-identical pixels; --full decodes at full size on both sides), retina mask, crop + pad, the quality report (exposure, dark and saturated shares,
 * Laplacian sharpness: the reference's quality_score), CLAHE on L of Lab, green emphasis,
 * INTER_AREA resize + pad, PNG encode (zlib level 6 on both sides) and write. Ours does more on
 * top: it hashes the source for its cache key, writes a cache copy + JSON entry beside the
 * output, all three atomically (fsync + rename), plus a manifest.
 *
 * Steady state on both sides: the clock starts after the Python interpreter has started and
 * imported cv2, and after our worker pool has loaded its modules (PreprocessPool.ready). One
 * untimed warm-up batch of each side (page cache, JIT), then `reps` timed batches alternating
 * ours / reference / parallel reference; each figure is the median of the reps. Each batch writes to a fresh folder
 * (so our cache never helps). CPU time per image counts all threads of each process (libvips and
 * OpenCV threads included) and is less sensitive than wall time to other load on the machine.
 * "cores busy" (CPU / wall) shows how much of the machine each side got: when other work holds
 * a core, our two worker threads share the one left and the images/s ratio falls to about the
 * CPU-time ratio; on an idle machine they use both cores.
 *
 * Then a per-stage breakdown of ours on this thread alone (the second of two passes over the 20
 * images, after the JIT has warmed up).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng, readFileOrFail } from '../src/core/index.ts';
import { decodeFundus, PreprocessPool, preprocessFundus, runPreprocess } from '../src/preprocess/index.ts';
import { loadAverage, median } from './engine_common.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const IMAGES = path.join(ROOT, '../shared/data/idrid-lesions/images');
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const size = Number(arg('--size', '448'));
const reps = Math.max(1, Number(arg('--reps', '5')));
const jobs = Number(arg('--jobs', String(os.availableParallelism())));
const full = args.includes('--full');

if (!existsSync(IMAGES)) {
  console.log(`bench:preprocess: ${IMAGES} not found; nothing to measure`);
  process.exit(0);
}
const files = readdirSync(IMAGES).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(IMAGES, f));
const items = files.map((f) => ({ id: path.basename(f).replace(/\.[^.]+$/, ''), path: f }));
console.log(`${files.length} IDRiD images, size ${size}, ${full ? 'full-size decode' : 'JPEG shrink-on-load'} on both sides, ${os.availableParallelism()} cores, load average ${loadAverage()}`);

const python = '/usr/bin/python3';
const hasCv2 = existsSync(python) && spawnSync(python, ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0;

interface Timing {
  seconds: number;
  cpuSeconds: number;
}

async function runOurs(pool: PreprocessPool): Promise<Timing> {
  const out = mkdtempSync(path.join(os.tmpdir(), 'drxai-bench-pp-'));
  try {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const s = await runPreprocess(items, { out, pool, shrinkOnLoad: !full, config: { size }, quiet: true });
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0); // all threads of this process: workers and libvips included
    if (s.failed) throw new Error(`ours: ${s.failed} failed: ${s.records.filter((x) => x.error).map((x) => x.error).join('; ')}`);
    return { seconds, cpuSeconds: (c.user + c.system) / 1e6 };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * The reference on `processes` Python processes at once, each on its share of the images (the
 * fair comparison with our pool of as many threads). Each process's clock starts after its
 * imports, as the single-process run's; wall = the slowest process, CPU = the sum.
 */
async function runReference(processes: number): Promise<Timing> {
  const out = mkdtempSync(path.join(os.tmpdir(), 'drxai-bench-ppref-'));
  try {
    const shares = Array.from({ length: processes }, (_, k) => files.filter((_, i) => i % processes === k)).filter((s) => s.length);
    const results = await Promise.all(
      shares.map(
        (share) =>
          new Promise<{ images: number; seconds: number; cpu_seconds: number }>((resolve, reject) => {
            const p = spawn(python, [path.join(ROOT, 'bench/preprocess_ref.py'), '--size', String(size), '--reduce', full ? 'off' : 'auto', '--out', out, ...share]);
            let stdout = '';
            let stderr = '';
            p.stdout.on('data', (d) => (stdout += d));
            p.stderr.on('data', (d) => (stderr += d));
            p.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout.trim().split('\n').pop()!)) : reject(new Error(`reference failed: ${stderr}`))));
          }),
      ),
    );
    if (results.reduce((a, r) => a + r.images, 0) !== files.length || readdirSync(out).length !== files.length) throw new Error('reference did not write every image');
    return { seconds: Math.max(...results.map((r) => r.seconds)), cpuSeconds: results.reduce((a, r) => a + r.cpu_seconds, 0) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}


const pool = new PreprocessPool(jobs);
const ours: Timing[] = [];
const ref: Timing[] = [];
const refParallel: Timing[] = [];
try {
  await pool.ready();
  await runOurs(pool); // warm-up: JIT, page cache
  if (hasCv2) await runReference(1);
  for (let r = 0; r < reps; r++) {
    ours.push(await runOurs(pool));
    if (hasCv2) ref.push(await runReference(1));
    if (hasCv2) refParallel.push(await runReference(pool.size));
  }
} finally {
  await pool.close();
}

const n = files.length;
const report = (name: string, ts: Timing[]) => {
  const s = median(ts.map((t) => t.seconds));
  const cpu = median(ts.map((t) => t.cpuSeconds));
  // cores busy = CPU seconds / wall seconds: how much of the machine each side actually got
  console.log(`${name}: ${(n / s).toFixed(2)} images/s (median of ${ts.length}: ${s.toFixed(2)} s; all: ${ts.map((t) => t.seconds.toFixed(2)).join(' ')}), CPU ${((1000 * cpu) / n).toFixed(0)} ms/image, ${(cpu / s).toFixed(2)} cores busy`);
  return { s, cpu };
};
const o = report(`ours (TypeScript, pool of ${pool.size} worker threads)`, ours);
if (!hasCv2) {
  console.log('reference skipped: /usr/bin/python3 with cv2 not found');
} else {
  const p = report('reference (OpenCV-Python loop, 1 process)', ref);
  const pp = report(`reference (OpenCV-Python, ${pool.size} processes)`, refParallel);
  console.log(`ratio ours / reference on 1 process: ${(p.s / o.s).toFixed(2)}x in images/s; ${(p.cpu / o.cpu).toFixed(2)}x in CPU time per image (> 1: ours uses less)`);
  console.log(`ratio ours / reference on ${pool.size} processes (the fair one, target >= 1.5x): ${(pp.s / o.s).toFixed(2)}x in images/s; ${(pp.cpu / o.cpu).toFixed(2)}x in CPU time per image`);
}
console.log(`load average after: ${loadAverage()} (other work on the machine slows both sides)`);

if (!args.includes('--no-stages')) {
  // Per-stage breakdown, this thread only (no workers), for profiling.
  let stages: Record<string, number> = {};
  const add = (k: string, t0: number) => (stages[k] = (stages[k] ?? 0) + performance.now() - t0);
  for (let pass = 0; pass < 2; pass++) {
    stages = {}; // the first pass warms this thread's JIT up; the second is reported
    for (const f of files) {
      let t0 = performance.now();
      const bytes = await readFileOrFail(f, 'image');
      add('read', t0);
      t0 = performance.now();
      const d = await decodeFundus(bytes, f, size, { shrinkOnLoad: !full });
      add('decode', t0);
      const r = preprocessFundus(d.image, { size }, { decodeFactor: d.decodeFactor, sourceWidth: d.sourceWidth, sourceHeight: d.sourceHeight, timings: stages });
      t0 = performance.now();
      await encodePng(r.image);
      add('png encode', t0);
    }
  }
  const total = Object.values(stages).reduce((a, b) => a + b, 0);
  console.log(`stages of ours, one thread, ms/image (total ${(total / n).toFixed(1)}):`);
  for (const [k, v] of Object.entries(stages)) console.log(`  ${k.padEnd(12)} ${(v / n).toFixed(1).padStart(6)}  ${((100 * v) / total).toFixed(0).padStart(3)}%`);
}
