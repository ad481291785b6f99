import path from 'node:path';
import type { Command } from 'commander';
import { DrXaiError, parseTask } from '../../core/index.ts';
import {
  DEFAULT_FRACTIONS,
  DEFAULT_SEED,
  findDuplicateGroups,
  formatSplitReport,
  loadDataset,
  parseFormat,
  stratifiedFolds,
  stratifiedSplit,
  summarizeSplit,
  validateFractions,
  writeSplitCsv,
  type Sample,
} from '../../data/index.ts';
import { numberOption } from '../options.ts';

interface SplitCliOptions {
  data: string;
  format: string;
  task: string;
  fractions?: string;
  val?: string;
  test?: string;
  seed: string;
  out: string;
  jobs?: string;
  folds?: string;
  quiet?: boolean;
}

function fractionsFrom(opts: SplitCliOptions): [number, number, number] {
  if (opts.fractions !== undefined) {
    if (opts.val !== undefined || opts.test !== undefined) throw new DrXaiError('give either --fractions or --val/--test, not both');
    return validateFractions(opts.fractions.split(',').map((f) => numberOption(f, '--fractions')));
  }
  if (opts.val === undefined && opts.test === undefined) return [...DEFAULT_FRACTIONS];
  const val = opts.val === undefined ? DEFAULT_FRACTIONS[1] : numberOption(opts.val, '--val');
  const test = opts.test === undefined ? DEFAULT_FRACTIONS[2] : numberOption(opts.test, '--test');
  // Rounded so 1 - 0.1 - 0.1 is 0.8, not 0.7999999999999999 printed back to the user.
  return validateFractions([+(1 - val - test).toFixed(12), val, test]);
}

export function register(program: Command): void {
  program
    .command('split')
    .description('stratified train/val/test split that keeps identical images together; writes id,split,grade,group')
    .requiredOption('--data <root>', 'data set folder (or a path,grade CSV)')
    .option('--format <format>', 'auto, aptos, aptos224, eyepacs, messidor2, idrid, generic, folder', 'auto')
    .option('--task <task>', 'referable, any-dr or grade (classes the report counts)', 'referable')
    .option('--fractions <train,val,test>', `split fractions, e.g. 0.9,0.1,0 (default ${DEFAULT_FRACTIONS.join(',')})`)
    .option('--val <fraction>', 'validation fraction (train gets the rest)')
    .option('--test <fraction>', 'test fraction (train gets the rest)')
    .option('--seed <n>', 'random seed', String(DEFAULT_SEED))
    .option('--jobs <n>', 'images hashed at once (default: twice the CPU cores)')
    .option('--folds <k>', 'k-fold cross-validation instead: --out is a folder that gets fold-1.csv .. fold-k.csv, fold i as val and the rest as train')
    .option('--quiet', 'no progress bar')
    .requiredOption('--out <file>', 'split CSV to write (with --folds: the folder for the fold CSVs)')
    .action(async (opts: SplitCliOptions) => {
      const folds = opts.folds === undefined ? undefined : numberOption(opts.folds, '--folds', { integer: true, min: 2 });
      if (folds !== undefined && (opts.fractions !== undefined || opts.val !== undefined || opts.test !== undefined)) throw new DrXaiError('give either --folds or split fractions, not both');
      const fractions = fractionsFrom(opts);
      const task = parseTask(opts.task);
      const seed = numberOption(opts.seed, '--seed', { integer: true, min: 0 });
      const jobs = opts.jobs === undefined ? undefined : numberOption(opts.jobs, '--jobs', { integer: true, min: 1 });
      const dataset = await loadDataset(opts.data, parseFormat(opts.format));
      const skipped = dataset.skipped.map((s) => `, skipped ${s.count} ${s.reason}`).join('');
      process.stdout.write(`${dataset.name}: ${dataset.format}, ${dataset.samples.length} images${skipped}\n`);
      // An image that cannot be read is named and left out of the split; the rest is split.
      const unreadable = new Map<Sample, string>();
      const groups = await findDuplicateGroups(dataset.samples, { jobs, quiet: opts.quiet, onUnreadable: (s, reason) => unreadable.set(s, reason) });
      if (unreadable.size > 0) {
        dataset.samples = dataset.samples.filter((s) => !unreadable.has(s));
        process.stderr.write(`${unreadable.size} image(s) could not be read and are left out of the split:\n${[...unreadable.values()].map((r) => `  ${r}`).join('\n')}\n`);
        process.exitCode = 1;
        if (dataset.samples.length === 0) throw new DrXaiError('no readable image left to split');
      }
      if (folds !== undefined) {
        const assignments = stratifiedFolds(dataset.samples, folds, { seed, task, groupBy: groups });
        for (const [i, a] of assignments.entries()) {
          const file = path.join(path.resolve(opts.out), `fold-${i + 1}.csv`);
          await writeSplitCsv(file, a);
          const r = summarizeSplit(a, task);
          process.stdout.write(`fold ${i + 1}: ${a.val.length} val (${r.classNames.map((c, k) => `${r.counts.val[k]} ${c}`).join(', ')}), ${a.train.length} train -> ${file}\n`);
        }
        return;
      }
      const split = stratifiedSplit(dataset.samples, { fractions, seed, task, groupBy: groups });
      await writeSplitCsv(path.resolve(opts.out), split);
      process.stdout.write(`${formatSplitReport(split.report)}\nwrote ${opts.out}\n`);
    });
}
