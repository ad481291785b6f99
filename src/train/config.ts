/**
 * Training configuration: YAML files in the reference study's shape (configs/aptos.yaml: img_size,
 * batch_size, epochs, lr, weight_decay, model_name, fix_specificity, seed, use_circular_mask,
 * use_clahe, use_green, data_root), validated with zod, overridden by CLI flags, and saved with
 * each run (runs/<name>/config.json) so a run can be repeated and resumed exactly.
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DrXaiError, GRADE_HEADS, readFileOrFail } from '../core/index.ts';

const AugmentSchema = z
  .object({
    /** Probability of a horizontal / vertical flip. */
    hflip: z.number().min(0).max(1).default(0.5),
    vflip: z.number().min(0).max(1).default(0.5),
    /** Rotation drawn uniformly in [-rotate, rotate] degrees. */
    rotate: z.number().min(0).max(180).default(180),
    /**
     * Also turn by a multiple of 90 degrees drawn uniformly (with the flips: the 8 symmetries of
     * the square, lossless). The augmentation of issue 10's PyTorch check; off by default.
     */
    quarter_turns: z.boolean().default(false),
    /** Scale drawn uniformly in [1 - scale, 1 + scale]. */
    scale: z.number().min(0).max(0.5).default(0.1),
    /** Shift, fraction of the image size, drawn per axis in [-shift, shift]. */
    shift: z.number().min(0).max(0.3).default(0.05),
    /** Brightness factor in [1 - b, 1 + b], contrast in [1 - c, 1 + c], gamma in [1 - g, 1 + g]. */
    brightness: z.number().min(0).max(1).default(0.2),
    contrast: z.number().min(0).max(1).default(0.2),
    gamma: z.number().min(0).max(0.9).default(0.2),
  })
  .strict();

export const TrainConfigSchema = z
  .object({
    /** Registry name (src/models listModels()). */
    model_name: z.string().min(1).default('efficientnet_b0'),
    task: z.enum(['referable', 'any-dr', 'grade']).default('referable'),
    /**
     * The grade task's head (core/tasks.ts): 'softmax' (5 classes, cross-entropy) or 'ordinal'
     * (4 thresholds "grade > k", a binary cross-entropy each). Ignored by the binary tasks.
     */
    grade_head: z.enum(GRADE_HEADS).default('softmax'),
    img_size: z.number().int().min(32).max(1024).default(448),
    /** Effective batch (one optimizer step). */
    batch_size: z.number().int().min(1).max(4096).default(32),
    /** Images per forward/backward pass; gradients of batch_size / micro_batch_size passes are averaged. Default: batch_size. */
    micro_batch_size: z.number().int().min(1).max(4096).optional(),
    epochs: z.number().int().min(1).max(10000).default(30),
    lr: z.number().positive().max(10).default(3e-4),
    /** Learning rate at the end of the cosine schedule. */
    min_lr: z.number().min(0).default(1e-6),
    warmup_epochs: z.number().min(0).default(1),
    weight_decay: z.number().min(0).max(1).default(1e-4),
    /** Weight EMA decay per optimizer step (src/train/ema.ts); 0 = off. */
    ema_decay: z.number().min(0).max(0.99999).default(0),
    /**
     * Discriminative fine-tuning (Howard & Ruder, "Universal Language Model Fine-tuning", ACL
     * 2018): parameters imported from `pretrained` train at lr x this, the re-initialised
     * classifier at lr. 1 = one rate for all.
     */
    pretrained_lr_scale: z.number().gt(0).max(1).default(1),
    /**
     * Head-only warm-up, then fine-tuning ("linear probing then fine-tuning", Kumar et al.,
     * "Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution", ICLR
     * 2022): for this many first epochs only the re-initialised classifier steps, so the
     * gradients of a random head do not disturb the imported features; then every trained
     * parameter steps. 0 = off.
     */
    head_warmup_epochs: z.number().int().min(0).default(0),
    /** Early stopping: epochs without a better validation metric before stopping. */
    patience: z.number().int().min(1).default(5),
    /**
     * Which epoch's weights the package gets: 'best' (the best validation metric) or 'last' (the
     * end of the schedule). 'last' matches a model to the out-of-fold predictions of `dr-xai cv`
     * that chose its operating point when the fold models ended their schedules too: a threshold
     * is a score, and a model taken mid-schedule scores negatives differently.
     */
    keep_epoch: z.enum(['best', 'last']).default('best'),
    /**
     * Order of the training images in an epoch: 'shuffle' (a permutation) or 'balanced'
     * (class-balanced sampling with replacement over the task's classes; src/train/data.ts).
     */
    sampling: z.enum(['shuffle', 'balanced']).default('shuffle'),
    /** Binary tasks: weight of positives in the BCE loss; 'auto' = negatives / positives of the training split. */
    pos_weight: z.union([z.number().positive(), z.literal('auto')]).nullable().default(null),
    /**
     * Parameter-name prefixes kept at their initial (imported) values, e.g. the stem and first
     * stages of a pretrained backbone: their low-level filters transfer as they are, and backprop
     * stops at the first trained layer, so a step costs less (MobileNetV2 at 224 px, 2 cores:
     * 7.6 img/s all layers, 12.8 img/s with features.0-3 frozen).
     */
    freeze: z.array(z.string().min(1)).default([]),
    drop_rate: z.number().min(0).max(0.9).optional(),
    drop_path_rate: z.number().min(0).max(0.9).optional(),
    /** Optional .safetensors weights to start from (timm or torchvision EfficientNet naming). */
    pretrained: z.string().nullable().default(null),
    /** Operating point: target specificity on validation. */
    fix_specificity: z.number().gt(0).lt(1).default(0.95),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
    /** true: retina mask with its field-of-view check; 'study': the study's Otsu mask as published. */
    use_circular_mask: z.union([z.boolean(), z.literal('study')]).default(true),
    use_crop: z.boolean().default(true),
    use_clahe: z.boolean().default(true),
    use_green: z.boolean().default(true),
    use_ben_graham: z.boolean().default(false),
    /**
     * The dataset's photographs were resized to squares without keeping their aspect (APTOS-224):
     * the package then squashes every photograph it screens the same way (preprocess `squash`).
     */
    use_squash: z.boolean().default(false),
    augment: AugmentSchema.default(AugmentSchema.parse({})),
    data_root: z.string().min(1).optional(),
    data_format: z.string().default('auto'),
    /** Split CSV from `dr-xai split` (id,split,grade,group); required for training. */
    split_csv: z.string().min(1).optional(),
    /** Where runs go; the run folder is <out_dir>/<run_name>. */
    out_dir: z.string().default('runs'),
    run_name: z.string().regex(/^[A-Za-z0-9._-]+$/).optional(),
    /** Checkpoint every this many optimizer steps (and at every epoch end). */
    checkpoint_every: z.number().int().min(1).default(20),
    /** ONNX Runtime intra-op threads; default all cores. */
    threads: z.number().int().min(1).optional(),
    /** Where the model package goes (default <run>/model.onnx). */
    model_out: z.string().optional(),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type AugmentConfig = z.infer<typeof AugmentSchema>;

function firstIssue(e: z.ZodError): string {
  const issue = e.issues[0];
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') return `unknown key '${[...(issue.path ?? []), ...issue.keys].join('.')}'`;
  return `key '${key}': ${issue.message}`;
}

/** Parse and validate a YAML (or JSON) config file; errors name the file and the key. */
export async function readConfigFile(file: string): Promise<Partial<TrainConfig>> {
  const text = (await readFileOrFail(file, 'training config')).toString('utf8');
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    const line = (e as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new DrXaiError(`not valid YAML (${(e as Error).message.split('\n')[0]})`, { file, line });
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new DrXaiError('a training config must be a mapping of keys to values', { file });
  const parsed = TrainConfigSchema.partial().safeParse(raw);
  if (!parsed.success) throw new DrXaiError(firstIssue(parsed.error), { file });
  // Relative paths in a config file are relative to the directory it is run from (as the reference's).
  return Object.fromEntries(Object.entries(parsed.data).filter(([k]) => k in (raw as object))) as Partial<TrainConfig>;
}

/**
 * Defaults <- config file <- overrides (CLI flags), validated together. `source` names where a
 * bad value came from.
 */
export function resolveTrainConfig(fromFile: Partial<TrainConfig>, overrides: Partial<TrainConfig>, source = 'command line'): TrainConfig {
  const clean = (o: Partial<TrainConfig>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const merged = { ...clean(fromFile), ...clean(overrides) };
  const parsed = TrainConfigSchema.safeParse(merged);
  if (!parsed.success) throw new DrXaiError(`${source}: ${firstIssue(parsed.error)}`);
  const cfg = parsed.data;
  const micro = cfg.micro_batch_size ?? cfg.batch_size;
  if (cfg.batch_size % micro !== 0) throw new DrXaiError(`${source}: batch_size ${cfg.batch_size} must be a multiple of micro_batch_size ${micro}`);
  return cfg;
}

/** Name of a run when none is given: model, task, size. */
export function defaultRunName(cfg: TrainConfig): string {
  return cfg.run_name ?? `${cfg.model_name}-${cfg.task}-${cfg.img_size}`;
}

export function runDir(cfg: TrainConfig): string {
  return path.resolve(cfg.out_dir, defaultRunName(cfg));
}
