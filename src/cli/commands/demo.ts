import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError } from '../../core/index.ts';
import { runDemo } from '../../demo/index.ts';

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new DrXaiError(`${flag} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('the whole chain on generated phantom images in a few minutes: data, split, preprocessing, training, evaluation, explanations, report')
    .option('--out <dir>', 'output folder (its data/, preprocessed/, run/, evaluation/, cam/ are replaced)', 'artifacts/demo')
    .option('--n <count>', 'phantom images', '480')
    .option('--epochs <n>', 'training epochs', '12')
    .option('--seed <n>', 'random seed', '42')
    .action(async (opts: { out: string; n: string; epochs: string; seed: string }) => {
      const n = integer(opts.n, '--n', 60, 100000);
      const epochs = integer(opts.epochs, '--epochs', 1, 1000);
      const seed = integer(opts.seed, '--seed', 0, 2 ** 31 - 1);
      process.stdout.write('dr-xai demo: synthetic phantoms -> split -> preprocess -> train -> evaluate -> explain\n');
      const r = await runDemo({ outDir: opts.out, n, epochs, seed, disclaimer: DISCLAIMER, stage: (l) => process.stdout.write(`  ${l}\n`) });
      process.stdout.write(`\ntest AUROC ${r.testAuroc.toFixed(3)} (val ${r.valAuroc.toFixed(3)}) in ${r.seconds.toFixed(0)} s\nreport: ${r.report} (source: ${r.markdown})\n\n${DISCLAIMER}\n`);
    });
}
