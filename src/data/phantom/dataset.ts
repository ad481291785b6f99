import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DrXaiError, Rng, encodePng, progressBar, writeFileAtomic } from '../../core/index.ts';
import { DEFAULT_PHANTOM_SIZE, PHANTOM_DIFFICULTY, checkPhantomOptions, generatePhantom } from './generate.ts';
import { streamSeed } from './noise.ts';
import { MASKED_LESION_TYPES, type Grade, type Lesion, type PhantomAnatomy, type PhantomDifficulty } from './types.ts';

/** APTOS 2019 training-set grade proportions (0: 1805, 1: 370, 2: 999, 3: 193, 4: 295 of 3,662). */
export const APTOS_GRADE_DISTRIBUTION: readonly number[] = [0.493, 0.101, 0.273, 0.053, 0.081];

export interface PhantomDatasetOptions {
  /** Number of distinct images (duplicates come on top). */
  n: number;
  seed: number;
  /** Image width and height in pixels (default 512). */
  size?: number;
  /** Proportion of each grade 0..4 (normalised); default APTOS_GRADE_DISTRIBUTION. */
  gradeDistribution?: readonly number[];
  difficulty?: Partial<PhantomDifficulty>;
  /**
   * Extra rows that are exact byte copies of earlier images under new ids, like the duplicates
   * in APTOS; every other one carries a different grade than its original.
   */
  duplicates?: number;
  /** No progress bar. */
  quiet?: boolean;
}

export interface PhantomDatasetRow {
  id: string;
  /** Label written to labels.csv. */
  grade: Grade;
  /** For a duplicate: the id it copies. */
  duplicateOf?: string;
}

export interface PhantomDatasetSummary {
  dir: string;
  rows: PhantomDatasetRow[];
  gradeCounts: number[];
}

/**
 * How many images of each grade: proportions scaled to n and rounded by the largest-remainder
 * (Hamilton) method, so the counts sum to n exactly and small sets still get every common grade.
 */
export function allocateGrades(n: number, distribution: readonly number[]): number[] {
  const total = distribution.reduce((a, b) => a + b, 0);
  const quotas = distribution.map((p) => (n * p) / total);
  const counts = quotas.map(Math.floor);
  const order = quotas.map((q, g) => ({ g, rest: q - Math.floor(q) })).sort((a, b) => b.rest - a.rest || a.g - b.g);
  const missing = n - counts.reduce((a, b) => a + b, 0);
  for (let k = 0; k < missing; k++) counts[order[k].g]++;
  return counts;
}

function checkDatasetOptions(o: PhantomDatasetOptions): readonly number[] {
  if (!Number.isInteger(o.n) || o.n < 1 || o.n > 1_000_000) throw new DrXaiError(`phantom data set size n must be an integer from 1 to 1000000, got ${o.n}`);
  const d = o.duplicates ?? 0;
  if (!Number.isInteger(d) || d < 0 || d > o.n) throw new DrXaiError(`duplicates must be an integer from 0 to n (${o.n}), got ${d}`);
  const dist = o.gradeDistribution ?? APTOS_GRADE_DISTRIBUTION;
  if (dist.length !== 5 || dist.some((p) => !Number.isFinite(p) || p < 0) || dist.reduce((a, b) => a + b, 0) <= 0) {
    throw new DrXaiError(`grade distribution must be 5 non-negative numbers (grades 0..4) with a positive sum, got ${dist.join(',')}`);
  }
  return dist;
}

/**
 * A 0/255 mask as a one-channel greyscale PNG, as IDRiD ships its masks. (core's encodePng
 * turns a one-channel image into an RGB PNG: sharp converts to sRGB unless told otherwise.)
 */
function encodeMaskPng(data: Uint8Array, size: number): Promise<Buffer> {
  return sharp(data, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png({ compressionLevel: 6 }).toBuffer();
}

/** Refuse to touch an existing non-empty folder; report whether an empty one is there. */
async function checkOutputDir(dir: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ENOTDIR') throw new DrXaiError('output path exists and is not a directory', { file: dir });
    throw e;
  }
  if (entries.length > 0) throw new DrXaiError('output directory is not empty; choose a new one', { file: dir });
  return true;
}

/**
 * Write a phantom data set to `dir` (which must not exist or be empty):
 *   labels.csv             id_code,diagnosis            (the APTOS layout)
 *   images/<id>.png
 *   masks/<id>_{MA,HE,EX,SE,OD}.png   0/255 greyscale   (the IDRiD lesion layout)
 *   lesions.csv            image,image_size,MA_px,HE_px,EX_px,SE_px,OD_px
 *   phantom.json           generator settings and every image's lesions and anatomy
 * Everything is built in a sibling temporary folder that is renamed into place at the end, so
 * an interrupted run leaves no half-written data set under `dir`.
 */
export async function writePhantomDataset(dir: string, opts: PhantomDatasetOptions): Promise<PhantomDatasetSummary> {
  const distribution = checkDatasetOptions(opts);
  const size = opts.size ?? DEFAULT_PHANTOM_SIZE;
  const difficulty = { ...PHANTOM_DIFFICULTY.medium, ...opts.difficulty };
  // Validate seed, size and difficulty before any file is written.
  checkPhantomOptions({ seed: opts.seed, size, difficulty });
  const target = path.resolve(dir);
  const existsEmpty = await checkOutputDir(target);
  const staging = `${target}.partial-${process.pid}-${Date.now()}`;

  const gradeRng = new Rng(streamSeed(opts.seed, 100));
  const grades: Grade[] = [];
  allocateGrades(opts.n, distribution).forEach((count, g) => {
    for (let k = 0; k < count; k++) grades.push(g as Grade);
  });
  gradeRng.shuffle(grades);
  const digits = Math.max(5, String(opts.n + (opts.duplicates ?? 0)).length);
  const idFor = (k: number): string => `ph${opts.seed}-${String(k).padStart(digits, '0')}`;

  const rows: PhantomDatasetRow[] = [];
  const lesionRows: string[] = ['image,image_size,MA_px,HE_px,EX_px,SE_px,OD_px'];
  const records: Array<{ id: string; seed: number; grade: Grade; lesions: Lesion[]; anatomy: PhantomAnatomy; duplicateOf?: string }> = [];
  const files = new Map<string, { image: Buffer; masks: Buffer[]; lesionRow: string }>();
  const progress = progressBar('phantom', opts.n + (opts.duplicates ?? 0), { quiet: opts.quiet });
  const count = (plane: Uint8Array): number => {
    let c = 0;
    for (let i = 0; i < plane.length; i++) if (plane[i]) c++;
    return c;
  };
  try {
    await fsp.mkdir(path.join(staging, 'images'), { recursive: true });
    await fsp.mkdir(path.join(staging, 'masks'), { recursive: true });
    const writeOne = async (id: string, image: Buffer, masks: Buffer[]): Promise<void> => {
      await writeFileAtomic(path.join(staging, 'images', `${id}.png`), image);
      await Promise.all(MASKED_LESION_TYPES.concat().map((t, k) => writeFileAtomic(path.join(staging, 'masks', `${id}_${t}.png`), masks[k])));
      await writeFileAtomic(path.join(staging, 'masks', `${id}_OD.png`), masks[4]);
    };
    let pending: Promise<void> = Promise.resolve();
    for (let k = 0; k < opts.n; k++) {
      const id = idFor(k + 1);
      const seed = streamSeed(opts.seed, 1000 + k);
      const p = generatePhantom({ seed, size, grade: grades[k], difficulty });
      const planes = [p.masks.MA, p.masks.HE, p.masks.EX, p.masks.SE, p.masks.OD];
      const lesionRow = [id, `${size}x${size}`, ...planes.map(count)].join(',');
      // Encode this image while the previous one is still being written.
      const [image, ...masks] = await Promise.all([
        encodePng(p.image),
        ...planes.map((data) => encodeMaskPng(data, size)),
      ]);
      await pending;
      pending = writeOne(id, image, masks);
      pending.catch(() => {}); // awaited on the next turn; this only stops an early "unhandled rejection"
      rows.push({ id, grade: p.grade });
      lesionRows.push(lesionRow);
      records.push({ id, seed, grade: p.grade, lesions: p.lesions, anatomy: p.anatomy });
      if (k < (opts.duplicates ?? 0) * 4) files.set(id, { image, masks, lesionRow });
      progress.tick();
    }
    await pending;
    // Duplicates: byte-identical copies under new ids, every other one relabelled.
    const dupRng = new Rng(streamSeed(opts.seed, 101));
    const sources = [...files.keys()];
    dupRng.shuffle(sources);
    for (let d = 0; d < (opts.duplicates ?? 0); d++) {
      const of = sources[d % sources.length];
      const original = rows.find((r) => r.id === of)!;
      const id = idFor(opts.n + d + 1);
      const grade = (d % 2 === 1 ? (original.grade === 4 ? 3 : original.grade + 1) : original.grade) as Grade;
      const f = files.get(of)!;
      await writeOne(id, f.image, f.masks);
      rows.push({ id, grade, duplicateOf: of });
      lesionRows.push(f.lesionRow.replace(/^[^,]*/, id));
      const rec = records.find((r) => r.id === of)!;
      records.push({ ...rec, id, grade, duplicateOf: of });
      progress.tick();
    }
    await writeFileAtomic(path.join(staging, 'lesions.csv'), lesionRows.join('\n') + '\n');
    const meta = {
      generator: 'dr-xai phantom',
      note: 'Synthetic fundus photographs with known lesions, for tests and demos; not real patients.',
      seed: opts.seed,
      size,
      n: opts.n,
      duplicates: opts.duplicates ?? 0,
      gradeDistribution: distribution,
      difficulty,
      images: records,
    };
    await writeFileAtomic(path.join(staging, 'phantom.json'), JSON.stringify(meta, null, 1) + '\n');
    await writeFileAtomic(path.join(staging, 'labels.csv'), ['id_code,diagnosis', ...rows.map((r) => `${r.id},${r.grade}`)].join('\n') + '\n');
    if (existsEmpty) await fsp.rmdir(target);
    await fsp.rename(staging, target);
  } catch (e) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw e;
  } finally {
    progress.stop();
  }
  const gradeCounts = [0, 0, 0, 0, 0];
  for (const r of rows) gradeCounts[r.grade]++;
  return { dir: target, rows, gradeCounts };
}
