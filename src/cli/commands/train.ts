import path from 'node:path';
import type { Command } from 'commander';
import { DrXaiError } from '../../core/index.ts';
import { loadDataset, parseFormat, readSplitCsv } from '../../data/index.ts';
import { listModels, modelInfo } from '../../models/index.ts';
import { readConfigFile, resolveTrainConfig, sharedCacheDir, trainOnSplit, type TrainConfig } from '../../train/index.ts';

export interface TrainCliOptions {
  config?: string;
  model?: string;
  task?: string;
  gradeHead?: string;
  imgSize?: string;
  epochs?: string;
  batchSize?: string;
  microBatchSize?: string;
  lr?: string;
  weightDecay?: string;
  patience?: string;
  keepEpoch?: string;
  emaDecay?: string;
  pretrainedLrScale?: string;
  headWarmupEpochs?: string;
  sampling?: string;
  seed?: string;
  data?: string;
  format?: string;
  split?: string;
  outDir?: string;
  runName?: string;
  pretrained?: string;
  threads?: string;
  modelOut?: string;
  resume?: boolean;
  quiet?: boolean;
}

function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new DrXaiError(`${flag} must be a number, got '${value}'`);
  return n;
}

/** CLI flags as config keys (only those given). */
function overridesOf(o: TrainCliOptions): Partial<TrainConfig> {
  return {
    model_name: o.model,
    task: o.task as TrainConfig['task'] | undefined,
    grade_head: o.gradeHead as TrainConfig['grade_head'] | undefined,
    img_size: num(o.imgSize, '--img-size'),
    epochs: num(o.epochs, '--epochs'),
    batch_size: num(o.batchSize, '--batch-size'),
    micro_batch_size: num(o.microBatchSize, '--micro-batch-size'),
    lr: num(o.lr, '--lr'),
    weight_decay: num(o.weightDecay, '--weight-decay'),
    patience: num(o.patience, '--patience'),
    keep_epoch: o.keepEpoch as TrainConfig['keep_epoch'] | undefined,
    ema_decay: num(o.emaDecay, '--ema-decay'),
    pretrained_lr_scale: num(o.pretrainedLrScale, '--pretrained-lr-scale'),
    head_warmup_epochs: num(o.headWarmupEpochs, '--head-warmup-epochs'),
    sampling: o.sampling as TrainConfig['sampling'] | undefined,
    seed: num(o.seed, '--seed'),
    data_root: o.data,
    data_format: o.format,
    split_csv: o.split,
    out_dir: o.outDir,
    run_name: o.runName,
    pretrained: o.pretrained,
    threads: num(o.threads, '--threads'),
    model_out: o.modelOut,
  };
}

/** The recipe flags `train` and `cv` share (config keys; see `dr-xai train --help`). */
export function addRecipeOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML config in the reference shape (configs/aptos.yaml); flags override it')
    .option('--model <name>', `architecture (${listModels().join(', ')})`)
    .option('--task <task>', 'referable, any-dr or grade')
    .option('--grade-head <head>', "grade task: 'softmax' (5 classes, cross-entropy; default) or 'ordinal' (4 thresholds grade > k, a binary cross-entropy each)")
    .option('--img-size <px>', 'input size (default 448)')
    .option('--epochs <n>', 'maximum epochs (default 30; early stopping may end sooner)')
    .option('--batch-size <n>', 'images per optimizer step (default 32)')
    .option('--micro-batch-size <n>', 'images per forward/backward pass; gradients are accumulated up to --batch-size')
    .option('--lr <x>', 'peak learning rate (default 3e-4)')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (default 1e-4)')
    .option('--patience <n>', 'early stopping patience in epochs (default 5)')
    .option('--keep-epoch <which>', "weights the package gets: 'best' (best validation metric; default) or 'last' (the end of the schedule, as the fold models of `dr-xai cv` that choose an operating point)")
    .option('--ema-decay <d>', 'keep an exponential moving average of the weights with this decay per step and validate and export it (default 0: off)')
    .option('--seed <n>', 'random seed (default 42)')
    .option('--data <root>', 'data set folder (config key data_root)')
    .option('--format <format>', 'data set format (default auto)')
    .option('--out-dir <dir>', 'where runs go (default runs)')
    .option('--run-name <name>', 'run folder name (default <model>-<task>-<size>)')
    .option('--pretrained <file>', '.safetensors weights to start from (EfficientNet: timm or torchvision naming; mobilenet_v2: torchvision)')
    .option('--pretrained-lr-scale <x>', 'discriminative fine-tuning: imported weights train at lr times this, the new classifier at lr (default 1)')
    .option('--head-warmup-epochs <n>', 'head-only warm-up: the first n epochs train the new classifier alone, then every trained layer (default 0)')
    .option('--sampling <order>', "'shuffle' (each image once an epoch; default) or 'balanced' (class-balanced draws with replacement)")
    .option('--threads <n>', 'ONNX Runtime threads (default all cores)')
    .option('--quiet', 'no progress bar');
}

/** Defaults <- config file <- flags; an unknown model or a missing data set fails here, before any image work. */
export async function recipeFrom(opts: TrainCliOptions): Promise<TrainConfig & { data_root: string }> {
  const fromFile = opts.config ? await readConfigFile(opts.config) : {};
  const cfg = resolveTrainConfig(fromFile, overridesOf(opts), opts.config ? `${opts.config} (with command-line overrides)` : 'command line');
  modelInfo(cfg.model_name);
  if (!cfg.data_root) throw new DrXaiError('no data set: give --data or data_root in the config');
  return cfg as TrainConfig & { data_root: string };
}

export function register(program: Command): void {
  addRecipeOptions(
    program
      .command('train')
      .description('train a model on a split data set (reference recipe: AdamW, cosine, augmentation); writes runs/<name>/ and the model package'),
  )
    .option('--split <file>', 'split CSV from `dr-xai split` (config key split_csv)')
    .option('--model-out <file.onnx>', 'where the model package goes (default <run>/model.onnx)')
    .option('--resume', 'continue the run from its last checkpoint')
    .action(async (opts: TrainCliOptions) => {
      const cfg = await recipeFrom(opts);
      if (!cfg.split_csv) throw new DrXaiError(`no split: run \`dr-xai split --data ${cfg.data_root} --fractions 0.9,0.1,0 --out split.csv\` and give --split (or split_csv in the config)`);
      const dataset = await loadDataset(cfg.data_root, parseFormat(cfg.data_format));
      const split = await readSplitCsv(path.resolve(cfg.split_csv), dataset);
      process.stdout.write(`${dataset.name}: ${split.train.length} train, ${split.val.length} val images; ${cfg.model_name}, ${cfg.img_size} px, task ${cfg.task}\n`);
      const { trained: result } = await trainOnSplit(
        cfg,
        { name: dataset.name, train: [...split.train], val: [...split.val] },
        {
          cacheDir: sharedCacheDir(cfg.out_dir),
          resume: opts.resume,
          quiet: opts.quiet,
          log: (l) => process.stdout.write(`${l}\n`),
          onPreprocessed: (images) => process.stdout.write(`preprocessed ${images.processed + images.cached} images (${images.cached} from the cache) in ${images.seconds.toFixed(0)} s\n`),
        },
      );
      const op = result.sidecar.operatingPoint;
      process.stdout.write(
        `run: ${result.runDir}\n` +
          (op ? `operating point (val, specificity >= ${op.targetSpecificity}): threshold ${op.threshold.toFixed(4)}, sensitivity ${op.sensitivity?.toFixed(3)}, specificity ${op.specificity?.toFixed(3)}\n` : ''),
      );
    });
}
