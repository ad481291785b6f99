/**
 * npm run bench:preprocess [-- --size 448 --full --reps 1 --jobs N]
 *
 * Our pipeline (runPreprocess: decode, mask, crop, CLAHE, green, resize, PNG encode + atomic
 * write of every output, on worker threads) against bench/preprocess_ref.py (the same steps in
 * OpenCV-Python, a single-process loop that neither encodes nor writes its outputs), both on the
 * 20 full-size IDRiD photographs (4288x2848 JPEG) in ../shared/data/idrid-lesions/images.
 *
 * Decoding: by default both sides decode the JPEGs in the DCT domain at the largest of 1/2, 1/4,
 * 1/8 that keeps the short side >= size (sharp jpegload shrink / cv2.IMREAD_REDUCED_COLOR_<f>,
 * identical pixels); --full makes both decode at full size. Our time includes starting the
 * worker threads; each repetition writes to a fresh folder so the cache never helps.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runPreprocess } from '../src/preprocess/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const IMAGES = path.join(ROOT, '../shared/data/idrid-lesions/images');
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const size = Number(arg('--size', '448'));
const reps = Number(arg('--reps', '1'));
const jobs = Number(arg('--jobs', String(os.availableParallelism())));
const full = args.includes('--full');

if (!existsSync(IMAGES)) {
  console.log(`bench:preprocess: ${IMAGES} not found; nothing to measure`);
  process.exit(0);
}
const files = readdirSync(IMAGES).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(IMAGES, f));
const items = files.map((f) => ({ id: path.basename(f).replace(/\.[^.]+$/, ''), path: f }));
console.log(`${files.length} IDRiD images, size ${size}, ${full ? 'full-size decode' : 'JPEG shrink-on-load'} on both sides, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

const ours: number[] = [];
const ref: number[] = [];
const oursCpu: number[] = [];
const refCpu: number[] = [];
const python = '/usr/bin/python3';
const hasCv2 = existsSync(python) && spawnSync(python, ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0;
for (let r = 0; r < reps; r++) {
  const out = mkdtempSync(path.join(os.tmpdir(), 'drxai-bench-pp-'));
  try {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const s = await runPreprocess(items, { out, jobs, shrinkOnLoad: !full, config: { size }, quiet: true });
    ours.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0); // all threads of this process, workers and libvips included
    oursCpu.push((c.user + c.system) / 1e6);
    if (s.failed) console.log(`  ours: ${s.failed} failed: ${s.records.filter((x) => x.error).map((x) => x.error).join('; ')}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  if (hasCv2) {
    const p = spawnSync(python, [path.join(ROOT, 'bench/preprocess_ref.py'), '--size', String(size), '--reduce', full ? 'off' : 'auto', ...files], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`reference failed: ${p.stderr}`);
    const res = JSON.parse(p.stdout.trim().split('\n').pop()!) as { seconds: number; cpu_seconds: number };
    ref.push(res.seconds);
    refCpu.push(res.cpu_seconds);
  }
}
const best = (xs: number[]) => Math.min(...xs);
const rate = (s: number) => files.length / s;
const cpuMs = (xs: number[]) => ((1000 * best(xs)) / files.length).toFixed(0);
console.log(`ours (TypeScript, ${jobs} threads): ${rate(best(ours)).toFixed(2)} images/s (best of ${reps}: ${best(ours).toFixed(2)} s; CPU ${cpuMs(oursCpu)} ms/image)`);
if (!hasCv2) {
  console.log('reference skipped: /usr/bin/python3 with cv2 not found');
} else {
  console.log(`reference (OpenCV-Python loop): ${rate(best(ref)).toFixed(2)} images/s (best of ${reps}: ${best(ref).toFixed(2)} s; CPU ${cpuMs(refCpu)} ms/image)`);
  console.log(`ratio ours / reference: ${(best(ref) / best(ours)).toFixed(2)}x in images/s (target >= 1.5x); ${(best(refCpu) / best(oursCpu)).toFixed(2)}x in CPU time per image`);
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on the machine slows both sides)`);
}
