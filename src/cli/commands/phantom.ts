import type { Command } from 'commander';
import { DrXaiError } from '../../core/index.ts';
import {
  APTOS_GRADE_DISTRIBUTION,
  DEFAULT_PHANTOM_SIZE,
  PHANTOM_DIFFICULTY,
  writePhantomDataset,
} from '../../data/phantom/index.ts';
import { numberOption } from '../options.ts';

interface PhantomCliOptions {
  out: string;
  n: string;
  seed: string;
  size: string;
  duplicates: string;
  grades?: string;
  difficulty: string;
  quiet?: boolean;
}

function gradeDistribution(value: string): number[] {
  const parts = value.split(',').map((p) => Number(p));
  if (parts.length !== 5 || parts.some((p, k) => value.split(',')[k].trim() === '' || !Number.isFinite(p) || p < 0) || parts.reduce((a, b) => a + b, 0) <= 0) {
    throw new DrXaiError(`--grades must be 5 non-negative numbers for grades 0..4 (e.g. 1,1,1,1,1), got '${value}'`);
  }
  return parts;
}

export function register(program: Command): void {
  const presets = Object.keys(PHANTOM_DIFFICULTY);
  program
    .command('phantom')
    .description('write a synthetic fundus data set with known lesions (APTOS layout + IDRiD-style lesion masks)')
    .requiredOption('--out <dir>', 'folder to create (must not exist, or be empty)')
    .option('--n <count>', 'number of distinct images', '200')
    .option('--seed <n>', 'random seed; the same seed writes byte-identical files', '42')
    .option('--size <px>', 'image width and height in pixels', String(DEFAULT_PHANTOM_SIZE))
    .option('--duplicates <k>', 'add k exact copies of earlier images under new ids (every other one relabelled)', '0')
    .option('--grades <p0,p1,p2,p3,p4>', `grade proportions (default APTOS 2019: ${APTOS_GRADE_DISTRIBUTION.join(',')})`)
    .option('--difficulty <preset>', `lesion contrast, size jitter, noise and borderline cases: ${presets.join(', ')}`, 'medium')
    .option('--quiet', 'no progress bar')
    .addHelpText(
      'after',
      `
Files written under --out:
  labels.csv                        id_code,diagnosis (ICDR grade 0-4)
  images/<id>.png                   RGB fundus phantom
  masks/<id>_{MA,HE,EX,SE,OD}.png   0/255 masks: microaneurysms, haemorrhages, hard exudates,
                                    cotton-wool spots, optic disc
  lesions.csv                       image,image_size,MA_px,HE_px,EX_px,SE_px,OD_px
  phantom.json                      settings and every image's lesions (type, x, y, radius)

Grades follow a scaled-down ICDR rule: 0 no lesions; 1 at most 5 microaneurysms only;
2 more microaneurysms or any haemorrhage/exudate; 3 at least 5 haemorrhages in each
quadrant; 4 new vessels. Synthetic data: for tests and demos, never to judge a model.

Example:
  dr-xai phantom --out data/phantom --n 200 --seed 42 --size 512 --duplicates 3`,
    )
    .action(async (opts: PhantomCliOptions) => {
      if (!presets.includes(opts.difficulty)) throw new DrXaiError(`--difficulty must be one of ${presets.join(', ')}, got '${opts.difficulty}'`);
      const n = numberOption(opts.n, '--n', { integer: true, min: 1, max: 1_000_000 });
      const summary = await writePhantomDataset(opts.out, {
        n,
        seed: numberOption(opts.seed, '--seed', { integer: true, min: 0, max: 0xffffffff }),
        size: numberOption(opts.size, '--size', { integer: true, min: 32, max: 4096 }),
        duplicates: numberOption(opts.duplicates, '--duplicates', { integer: true, min: 0, max: n }),
        gradeDistribution: opts.grades === undefined ? undefined : gradeDistribution(opts.grades),
        difficulty: PHANTOM_DIFFICULTY[opts.difficulty as keyof typeof PHANTOM_DIFFICULTY],
        quiet: opts.quiet,
      });
      const dups = summary.rows.filter((r) => r.duplicateOf).length;
      process.stdout.write(
        `wrote ${summary.rows.length} images (${dups} duplicates) to ${summary.dir}; grades 0-4: ${summary.gradeCounts.join(', ')}\n`,
      );
    });
}
