import path from 'node:path';
import type { Command } from 'commander';
import { DrXaiError } from '../../core/index.ts';
import { loadDataset, parseFormat } from '../../data/index.ts';
import { DEFAULT_PREPROCESS, runPreprocess, writeBoard } from '../../preprocess/index.ts';
import { numberOption } from '../options.ts';

interface PreprocessCliOptions {
  data: string;
  format: string;
  size: string;
  out: string;
  mask: boolean;
  studyMask?: boolean;
  crop: boolean;
  clahe: boolean;
  green: boolean;
  benGraham?: boolean;
  squash?: boolean;
  claheClip: string;
  claheTiles: string;
  jobs?: string;
  cache?: string;
  shrinkOnLoad: boolean;
  board?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('preprocess')
    .description('retina mask, crop, CLAHE, green emphasis (optional Ben Graham), resize; writes <out>/<id>.png, manifest.csv, preprocess.json')
    .requiredOption('--data <root>', 'data set folder (or a path,grade CSV)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--format <format>', 'auto, aptos, aptos224, eyepacs, messidor2, idrid, generic, folder', 'auto')
    .option('--size <n>', 'output size in pixels (square)', String(DEFAULT_PREPROCESS.size))
    .option('--no-mask', 'no retina mask (keep the whole frame)')
    .option('--study-mask', "the reference study's Otsu mask as published, without the field-of-view check (reproduction)")
    .option('--no-crop', 'no crop to the retina')
    .option('--no-clahe', 'no CLAHE')
    .option('--no-green', 'keep colour (no green-channel emphasis)')
    .option('--ben-graham', "Ben Graham's local contrast normalisation")
    .option('--squash', 'resize each photograph to a square first, without keeping its aspect (as APTOS-224 was made; what the released packages do)')
    .option('--clahe-clip <x>', 'CLAHE clip limit', String(DEFAULT_PREPROCESS.claheClipLimit))
    .option('--clahe-tiles <n>', 'CLAHE tiles per side', String(DEFAULT_PREPROCESS.claheTileGrid))
    .option('--jobs <n>', 'worker threads (default: CPU cores)')
    .option('--cache <dir>', 'cache folder (default <out>/.cache)')
    .option('--no-shrink-on-load', 'decode JPEGs at full size (slower; default decodes at 1/2..1/8 when the output allows)')
    .option('--board <file.png>', 'also write a before/after board of the first images')
    .option('--quiet', 'no progress bar')
    .action(async (opts: PreprocessCliOptions) => {
      const clip = numberOption(opts.claheClip, '--clahe-clip', { min: 0 });
      const config = {
        size: numberOption(opts.size, '--size', { integer: true, min: 16 }),
        mask: opts.mask && opts.studyMask ? ('study' as const) : opts.mask,
        crop: opts.crop,
        clahe: opts.clahe,
        claheClipLimit: clip,
        claheTileGrid: numberOption(opts.claheTiles, '--clahe-tiles', { integer: true, min: 1 }),
        green: opts.green,
        benGraham: !!opts.benGraham,
        squash: !!opts.squash,
      };
      const dataset = await loadDataset(opts.data, parseFormat(opts.format));
      if (dataset.samples.length === 0) throw new DrXaiError('no images found', { file: dataset.root });
      const items = dataset.samples.map((s) => ({ id: s.id, path: s.path }));
      const summary = await runPreprocess(items, {
        out: opts.out,
        config,
        jobs: opts.jobs === undefined ? undefined : numberOption(opts.jobs, '--jobs', { integer: true, min: 1 }),
        cacheDir: opts.cache,
        shrinkOnLoad: opts.shrinkOnLoad,
        quiet: opts.quiet,
        provenance: { dataset: { name: dataset.name, format: dataset.format, root: dataset.root, skipped: dataset.skipped } },
      });
      const out = path.resolve(opts.out);
      process.stdout.write(
        `preprocessed ${items.length} images from ${dataset.name} (${dataset.format}) in ${summary.seconds.toFixed(1)} s: ` +
          `${summary.processed} processed, ${summary.cached} from cache, ${summary.failed} failed -> ${out}\n`,
      );
      for (const s of dataset.skipped) process.stdout.write(`skipped by the loader: ${s.count} (${s.reason})\n`);
      const ungradable = summary.records.filter((r) => r.status !== 'failed' && r.quality && !r.quality.gradable).length;
      if (ungradable) process.stdout.write(`${ungradable} images flagged ungradable (see manifest.csv, column reasons)\n`);
      if (opts.board) {
        const ok = summary.records.filter((r) => r.status !== 'failed').map((r) => ({ id: r.id, path: r.source }));
        const n = await writeBoard(ok, config, path.resolve(opts.board), { shrinkOnLoad: opts.shrinkOnLoad });
        process.stdout.write(`board of ${n} images -> ${path.resolve(opts.board)}\n`);
      }
      if (summary.failed > 0) {
        process.stderr.write(`${summary.failed} image(s) failed:\n`);
        for (const r of summary.records) if (r.status === 'failed') process.stderr.write(`  ${r.error}\n`);
        process.exitCode = 1;
      }
    });
}
