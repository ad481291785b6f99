/**
 * The training loop of the reference recipe: AdamW with decoupled weight decay (none on norms
 * and biases), cosine schedule with linear warm-up per optimizer step, gradient accumulation over
 * micro-batches, validation every epoch (AUROC for binary tasks, quadratic weighted kappa for
 * the grade task), the best (or the last) epoch kept, early stopping with patience, and crash-safe
 * checkpoints from which `resume` ends with the same weights, bit for bit, as a run that was
 * never interrupted.
 *
 * Determinism: the data order of an epoch and each image's augmentation come from (seed, epoch,
 * index) alone; dropout / drop-path masks come from one Rng whose state is checkpointed; ONNX
 * Runtime's CPU kernels are deterministic for a fixed thread count.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError, gradeProbabilities, isOrdinal, labelFor, outputsFor, positiveProbability, Rng, progressBar, writeFileAtomic } from '../core/index.ts';
import type { Sample } from '../data/index.ts';
import { AdamW, TrainingSession, exportInference, noDecayForNormsAndBiases } from '../engine/index.ts';
import { auroc, chooseOperatingPoint, predictedGrades, quadraticWeightedKappa, referralByGrade } from '../evaluate/index.ts';
import {
  MODEL_FORMAT,
  addLoss,
  createModel,
  saveModel,
  serializeSafetensors,
  readSafetensors,
  type RegisteredModel,
  type ModelSidecar,
} from '../models/index.ts';
import { checkpointExists, loadCheckpoint, saveCheckpoint, type EpochRecord, type TrainProgress } from './checkpoint.ts';
import { defaultRunName, runDir, type TrainConfig } from './config.ts';
import { ImageStore, epochOrder, makeBatch, type Batch, type ImageLoader } from './data.ts';
import { writeLearningCurve, writeLogs, writeValidationPredictions } from './logs.ts';
import { learningRateAt } from './schedule.ts';
import { WeightEma } from './ema.ts';
import { GradientAccumulator } from './accumulate.ts';

export interface TrainData {
  /** Data set name (for the sidecar), e.g. 'aptos2019-224'. */
  name: string;
  train: Sample[];
  val: Sample[];
  /** Preprocessed image (img_size x img_size RGB) of a sample. */
  load: ImageLoader;
  /** Preprocessing config recorded in the sidecar. */
  preprocess: Record<string, unknown>;
}

export interface TrainOptions {
  resume?: boolean;
  quiet?: boolean;
  /** One line per event (epoch summaries, checkpoints); default stderr. */
  log?: (line: string) => void;
  /**
   * Called after every optimizer step, before any checkpoint of that step: progress for a caller
   * with its own display, or a stop (whatever it throws ends the run, as a crash would; the last
   * checkpoint stays for --resume).
   */
  onStep?: (step: TrainStep) => void | Promise<void>;
  /** Write learning_curve.png after each epoch (default true; vega + resvg take ~1 s). */
  learningCurve?: boolean;
}

export interface TrainStep {
  /** Optimizer steps since the run began (across resumes). */
  globalStep: number;
  /** Optimizer steps in this call (since start or resume). */
  stepsThisCall: number;
  epoch: number;
  /** Mean training loss of the epoch so far. */
  epochLoss: number;
}

export interface TrainResult {
  runDir: string;
  modelPath: string;
  history: EpochRecord[];
  best: EpochRecord;
  /** The epoch whose weights the package holds (keep_epoch: the best or the last). */
  kept: EpochRecord;
  stoppedEarly: boolean;
  /** Final parameters and BatchNorm buffers (the last epoch's, not the best's). */
  finalState: Map<string, Float32Array>;
  sidecar: ModelSidecar;
  /** The exported (best) epoch's predictions on the validation split, also in <run>/val_predictions.csv. */
  validation: ValidationPredictions;
}

/** Predictions of a model on its validation split (the out-of-fold predictions of a CV fold). */
export interface ValidationPredictions {
  ids: string[];
  grades: number[];
  /** Task label (referable or positive class: 0/1) of each image. */
  labels: number[];
  /** Probability of referable DR (of the positive class; P(grade >= 2) for a grade model). */
  scores: number[];
  /** Grade models: the probabilities of the 5 grades per image (core/tasks.ts gradeProbabilities). */
  gradeProbs?: number[][];
}

/** Fields of the config that change the computation: resume refuses a run started with others. */
function configKey(cfg: TrainConfig): string {
  const { epochs: _e, patience: _p, keep_epoch: _k, checkpoint_every: _c, model_out: _m, out_dir: _o, ema_decay, pretrained_lr_scale, head_warmup_epochs, sampling, grade_head, ...rest } = cfg;
  // A run without EMA, a pretrained lr scale, a head warm-up, balanced sampling or the ordinal head keeps the key it had before those options existed, so older checkpoints resume.
  return JSON.stringify({
    ...rest,
    ...(ema_decay ? { ema_decay } : {}),
    ...(pretrained_lr_scale !== 1 ? { pretrained_lr_scale } : {}),
    ...(head_warmup_epochs ? { head_warmup_epochs } : {}),
    ...(sampling !== 'shuffle' ? { sampling } : {}),
    ...(grade_head !== 'softmax' ? { grade_head } : {}),
  });
}

/** What a run trains with: the model, its ONNX Runtime training session, the optimizer and their sizes. */
interface TrainingSetup {
  model: RegisteredModel;
  session: TrainingSession;
  optimizer: AdamW;
  /** Parameters loaded from the pretrained weights (the rest, the classifier, was initialised here). */
  imported: Set<string>;
  loss: string;
  /** Logits per image (1 for a binary task, 5 or 4 for the grade heads). */
  outputs: number;
  /** Images per forward/backward pass (the batch is accumulated over batch_size / microBatch of them). */
  microBatch: number;
  input: ModelSidecar['input'];
}

async function setUpTraining(cfg: TrainConfig, log: (l: string) => void): Promise<TrainingSetup> {
  const k = outputsFor(cfg.task, cfg.grade_head);
  const micro = cfg.micro_batch_size ?? cfg.batch_size;
  const model = await createModel(cfg.model_name, {
    numClasses: k,
    inputSize: cfg.img_size,
    batch: micro,
    regularize: true,
    dropRate: cfg.drop_rate,
    dropPathRate: cfg.drop_path_rate,
    seed: cfg.seed,
    pretrained: cfg.pretrained ?? undefined,
    log,
  });
  // One logit: BCE with pos_weight; the ordinal head: a BCE per threshold; the softmax head: cross-entropy.
  const loss = addLoss(model, k === 1 ? { kind: 'bce', posWeight: true } : isOrdinal(cfg.task, k) ? { kind: 'bce' } : { kind: 'ce' });
  // Imported weights whose BatchNorms were folded train with the running statistics frozen.
  const batchNorm = cfg.pretrained && model.pretrainedCfg.batchNorm === 'frozen' ? 'eval' : 'train';
  if (batchNorm === 'eval') log('BatchNorm statistics frozen (the imported weights have their BatchNorms folded)');
  const params = model.params.filter((name) => !cfg.freeze.some((prefix) => name.startsWith(prefix)));
  if (cfg.freeze.length) {
    const unmatched = cfg.freeze.filter((prefix) => !model.params.some((name) => name.startsWith(prefix)));
    if (unmatched.length) throw new DrXaiError(`freeze: no parameter of ${cfg.model_name} starts with '${unmatched[0]}'`);
    log(`frozen: ${model.params.length - params.length} of ${model.params.length} parameter tensors (${cfg.freeze.join(', ')})`);
  }
  const session = await TrainingSession.create(model.graph, { loss, params, threads: cfg.threads, batchNorm });
  const imported = new Set(model.importReport?.loaded ?? []);
  if (cfg.head_warmup_epochs && !imported.size) throw new DrXaiError('head_warmup_epochs needs pretrained weights (give --pretrained)');
  if (cfg.head_warmup_epochs) log(`head-only warm-up: the first ${cfg.head_warmup_epochs} epoch(s) step the re-initialised classifier alone`);
  if (cfg.pretrained_lr_scale !== 1) {
    if (!imported.size) throw new DrXaiError('pretrained_lr_scale needs pretrained weights (give --pretrained)');
    log(`imported parameters train at lr x ${cfg.pretrained_lr_scale}, the re-initialised classifier at lr`);
  }
  const optimizer = new AdamW({
    lr: cfg.lr,
    weightDecay: cfg.weight_decay,
    noDecay: noDecayForNormsAndBiases((n) => model.builder.shape(n)),
    lrScale: (name) => (imported.has(name) ? cfg.pretrained_lr_scale : 1),
  });
  const { mean, std } = model.pretrainedCfg;
  return { model, session, optimizer, imported, loss, outputs: k, microBatch: micro, input: { name: 'image', size: cfg.img_size, mean, std } };
}

/** Positive-class weight of the BCE loss: fixed, or negatives / positives of the training split. */
function posWeightOf(cfg: TrainConfig, train: Sample[]): number {
  if (cfg.pos_weight === null) return 1;
  if (typeof cfg.pos_weight === 'number') return cfg.pos_weight;
  const pos = train.filter((s) => labelFor(s.grade as number, cfg.task) === 1).length;
  if (pos === 0 || pos === train.length) throw new DrXaiError('pos_weight auto needs both classes in the training split');
  return (train.length - pos) / pos;
}

interface Validation {
  loss: number;
  logits: Float32Array;
  /** Positive / referable probability per validation image. */
  scores: number[];
  labels: number[];
  auroc: number;
  qwk?: number;
  metric: number;
}

async function validate(p: TrainingSetup, cfg: TrainConfig, store: ImageStore, posWeight: number): Promise<Validation> {
  const n = store.samples.length;
  const logits = new Float32Array(n * p.outputs);
  let lossSum = 0;
  let lossBatches = 0;
  for (let start = 0; start < n; start += p.microBatch) {
    const idx = Array.from({ length: p.microBatch }, (_, j) => (start + j < n ? start + j : start));
    const batch = await makeBatch(store, idx, p.input, cfg.task, p.outputs);
    const out = await p.session.evaluate(feedsOf(batch, p, posWeight), [p.model.logits, p.loss]);
    const count = Math.min(p.microBatch, n - start);
    logits.set(out[p.model.logits].subarray(0, count * p.outputs), start * p.outputs);
    // The validation loss averages whole micro-batches only: the padded last one would count
    // its repeated image several times.
    if (count === p.microBatch) {
      lossSum += out[p.loss][0];
      lossBatches++;
    }
  }
  const scores = positiveProbability(logits, cfg.task, p.outputs);
  const labels = store.samples.map((s) => labelFor(s.grade as number, cfg.task === 'grade' ? 'referable' : cfg.task));
  const hasBoth = labels.includes(0) && labels.includes(1);
  const a = hasBoth ? auroc(labels, scores) : NaN;
  let qwk: number | undefined;
  if (cfg.task === 'grade') qwk = quadraticWeightedKappa(store.samples.map((s) => s.grade as number), predictedGrades(gradeProbabilities(logits, p.outputs)));
  // A validation split with one class has no AUROC; the (negated) loss then ranks the epochs.
  const loss = lossBatches ? lossSum / lossBatches : NaN;
  const metric = cfg.task === 'grade' ? (qwk as number) : Number.isFinite(a) ? a : -loss;
  return { loss, logits, scores, labels, auroc: a, qwk, metric };
}

function feedsOf(batch: Batch, p: TrainingSetup, posWeight: number): Record<string, Float32Array> {
  const feeds: Record<string, Float32Array> = { [p.model.input]: batch.image, targets: batch.targets };
  if (p.outputs === 1) feeds.pos_weight = Float32Array.of(posWeight);
  return feeds;
}

/** The training images' order in an epoch under the config's sampling. */
function orderOf(cfg: TrainConfig, train: readonly Sample[], epoch: number): number[] {
  const classes = cfg.sampling === 'balanced' ? train.map((s) => labelFor(s.grade as number, cfg.task)) : undefined;
  return epochOrder(train.length, cfg.seed, epoch, classes);
}

function freshProgress(cfg: TrainConfig, train: readonly Sample[]): TrainProgress {
  return {
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    order: orderOf(cfg, train, 0),
    maskRngState: new Rng(cfg.seed).getState(),
    batchesTracked: 0,
    epochLossSum: 0,
    epochLossCount: 0,
    bestMetric: -Infinity,
    bestEpoch: -1,
    epochsWithoutImprovement: 0,
    history: [],
    stopped: false,
  };
}

/**
 * The run's crash-safe state on disk, in the manner of timm's CheckpointSaver: the checkpoint a
 * run resumes from (weights, optimizer moments, progress including RNG states) and the weights
 * of the best validation epoch, each written atomically.
 */
class CheckpointSaver {
  readonly file: string;
  readonly bestFile: string;
  constructor(dir: string, private readonly key: string, private readonly p: TrainingSetup, private readonly ema?: WeightEma) {
    this.file = path.join(dir, 'checkpoint.safetensors');
    this.bestFile = path.join(dir, 'best.safetensors');
  }
  exists(): boolean {
    return checkpointExists(this.file);
  }
  private shapeOf = (n: string) => this.p.model.builder.shape(n);
  /** Weights, optimizer and BatchNorm counters back from the checkpoint; its progress. Refuses another configuration. */
  async restore(): Promise<TrainProgress> {
    const ck = await loadCheckpoint(this.file);
    if (ck.configKey !== this.key) throw new DrXaiError('the checkpoint was made with another configuration (only epochs, patience, checkpoint_every and the output paths may change on resume)', { file: this.file });
    for (const [target, tensors] of [[this.p.session.state, ck.state], [this.ema?.average, ck.ema]] as const) {
      if (!target) continue;
      if (!tensors) throw new DrXaiError('the checkpoint holds no weight EMA, but the configuration keeps one', { file: this.file });
      for (const [name, v] of tensors) {
        const cur = target.get(name);
        if (!cur || cur.length !== v.length) throw new DrXaiError(`checkpoint tensor '${name}' does not fit the model`, { file: this.file });
        cur.set(v);
      }
    }
    this.p.optimizer.setState(ck.optimizer);
    this.p.session.batchesTracked = ck.progress.batchesTracked;
    return ck.progress;
  }
  async save(progress: TrainProgress, maskRng: Rng): Promise<void> {
    progress.maskRngState = maskRng.getState();
    progress.batchesTracked = this.p.session.batchesTracked;
    await saveCheckpoint(this.file, { progress, state: this.p.session.state, optimizer: this.p.optimizer.getState(), ...(this.ema ? { ema: this.ema.average } : {}), configKey: this.key }, this.shapeOf);
  }
  async saveBest(epoch: number, metric: number): Promise<void> {
    const tensors = [...this.p.session.state].map(([n, d]) => [n, { shape: this.shapeOf(n), data: d }] as [string, { shape: number[]; data: Float32Array }]);
    await writeFileAtomic(this.bestFile, serializeSafetensors(tensors, { epoch: String(epoch + 1), metric: String(metric) }));
  }
  /** The best epoch's weights into the session. */
  async restoreBest(): Promise<void> {
    const best = await readSafetensors(this.bestFile);
    for (const [name, t] of best.tensors) this.p.session.state.get(name)?.set(t.data);
  }
}

/** What one epoch of training needs besides the model. */
interface EpochContext {
  cfg: TrainConfig;
  p: TrainingSetup;
  progress: TrainProgress;
  trainStore: ImageStore;
  posWeight: number;
  stepsPerEpoch: number;
  schedule: Parameters<typeof learningRateAt>[0];
  maskRng: Rng;
  saver: CheckpointSaver;
  ema?: WeightEma;
  opts: TrainOptions;
  log: (line: string) => void;
  /** Optimizer steps of this call so far (onStep's stepsThisCall), carried across epochs. */
  stepsThisCall: { n: number };
}

/**
 * The optimizer steps of the current epoch from progress.stepInEpoch on (gradient accumulation
 * over micro-batches, the next micro-batch loaded while this one runs), with a checkpoint every
 * checkpoint_every steps. Returns the images trained on and the seconds it took.
 */
async function trainOneEpoch(c: EpochContext): Promise<{ images: number; seconds: number }> {
  const { cfg, p, progress, stepsPerEpoch } = c;
  const epoch = progress.epoch;
  const started = Date.now();
  const accum = cfg.batch_size / p.microBatch;
  const bar = progressBar(`epoch ${epoch + 1}/${cfg.epochs}`, stepsPerEpoch, { quiet: c.opts.quiet, extra: 'loss {loss} | {ips} img/s' });
  bar.tick(progress.stepInEpoch, { loss: '-', ips: '-' });
  // Without a terminal the progress bar is silent; a line per checkpoint shows a long run's pace.
  const plainProgress = !process.stderr.isTTY || c.opts.quiet;
  const augment = { cfg: cfg.augment, seed: cfg.seed, epoch };
  const headOnly = epoch < cfg.head_warmup_epochs;
  const microBatches: number[][] = [];
  for (let s = progress.stepInEpoch; s < stepsPerEpoch; s++) {
    for (let a = 0; a < accum; a++) {
      const from = s * cfg.batch_size + a * p.microBatch;
      microBatches.push(progress.order.slice(from, from + p.microBatch));
    }
  }
  let next = microBatches.length ? makeBatch(c.trainStore, microBatches[0], p.input, cfg.task, p.outputs, augment) : undefined;
  const accumulator = new GradientAccumulator();
  let images = 0;
  try {
    for (let m = 0; m < microBatches.length; m++) {
      const batch = await (next as Promise<Batch>);
      // Load and augment the next micro-batch while ONNX Runtime computes this one.
      next = m + 1 < microBatches.length ? makeBatch(c.trainStore, microBatches[m + 1], p.input, cfg.task, p.outputs, augment) : undefined;
      const { loss, grads } = await p.session.step(feedsOf(batch, p, c.posWeight), c.maskRng);
      if (!Number.isFinite(loss)) throw new DrXaiError(`training diverged: loss is ${loss} at epoch ${epoch + 1}, step ${progress.stepInEpoch + 1}; lower lr`);
      progress.epochLossSum += loss;
      progress.epochLossCount++;
      images += p.microBatch;
      accumulator.add(grads);
      if (accumulator.size < accum) continue;
      const batchGrads = accumulator.mean();
      p.optimizer.lr = learningRateAt(c.schedule, progress.globalStep);
      const stepped = headOnly ? new Map([...batchGrads].filter(([name]) => !p.imported.has(name))) : batchGrads;
      p.optimizer.step(p.session.state, stepped);
      c.ema?.update(p.session.state, progress.globalStep);
      progress.globalStep++;
      progress.stepInEpoch++;
      c.stepsThisCall.n++;
      const secs = (Date.now() - started) / 1000;
      bar.tick(1, { loss: (progress.epochLossSum / progress.epochLossCount).toFixed(4), ips: (images / secs).toFixed(1) });
      await c.opts.onStep?.({ globalStep: progress.globalStep, stepsThisCall: c.stepsThisCall.n, epoch: progress.epoch, epochLoss: progress.epochLossSum / progress.epochLossCount });
      if (progress.globalStep % cfg.checkpoint_every === 0 && progress.stepInEpoch < stepsPerEpoch) {
        await c.saver.save(progress, c.maskRng);
        if (plainProgress) {
          const ips = images / secs;
          const eta = ((stepsPerEpoch - progress.stepInEpoch) * cfg.batch_size) / ips;
          c.log(`epoch ${epoch + 1} step ${progress.stepInEpoch}/${stepsPerEpoch}: loss ${(progress.epochLossSum / progress.epochLossCount).toFixed(4)}, lr ${p.optimizer.lr.toExponential(2)}, ${ips.toFixed(1)} img/s, epoch ETA ${Math.round(eta / 60)} min (checkpoint saved)`);
        }
      }
    }
  } finally {
    bar.stop();
  }
  return { images, seconds: (Date.now() - started) / 1000 };
}

/** Train, validate, checkpoint, export the best epoch as a model package. */
export async function train(cfg: TrainConfig, data: TrainData, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (data.train.length < cfg.batch_size) throw new DrXaiError(`the training split has ${data.train.length} images, fewer than batch_size ${cfg.batch_size}`);
  if (data.val.length === 0) throw new DrXaiError('the validation split is empty: validation picks the best epoch and the operating point');
  for (const s of [...data.train, ...data.val]) if (s.grade === null) throw new DrXaiError(`image '${s.id}' has no grade; training needs labelled images`, { file: s.path });
  const dir = runDir(cfg);

  let progress = freshProgress(cfg, data.train);
  const p = await setUpTraining(cfg, log);
  try {
    const ema = cfg.ema_decay > 0 ? new WeightEma(p.session.state, cfg.ema_decay) : undefined;
    // Validation, the best checkpoint and the export see the averaged weights when there is an EMA.
    const averaged = <T>(fn: () => Promise<T>): Promise<T> => (ema ? ema.withAverage(p.session.state, fn) : fn());
    const saver = new CheckpointSaver(dir, configKey(cfg), p, ema);
    if (opts.resume && saver.exists()) {
      progress = await saver.restore();
      log(`resumed ${defaultRunName(cfg)} at epoch ${progress.epoch + 1}, step ${progress.stepInEpoch} (${progress.globalStep} optimizer steps done)`);
    } else if (saver.exists() && !opts.resume) {
      throw new DrXaiError(`a run already exists here; pass --resume to continue it or choose another --run-name`, { file: dir });
    }
    await fsp.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');

    const posWeight = p.outputs === 1 ? posWeightOf(cfg, data.train) : 1;
    const valStore = new ImageStore(data.val, data.load);
    const stepsPerEpoch = Math.floor(data.train.length / cfg.batch_size);
    const maskRng = new Rng(0);
    maskRng.setState(progress.maskRngState);
    const ctx: EpochContext = {
      cfg, p, progress, posWeight, stepsPerEpoch, maskRng, saver, ema, opts, log,
      trainStore: new ImageStore(data.train, data.load),
      schedule: { baseLr: cfg.lr, minLr: cfg.min_lr, warmupSteps: Math.round(cfg.warmup_epochs * stepsPerEpoch), totalSteps: cfg.epochs * stepsPerEpoch },
      stepsThisCall: { n: 0 },
    };

    while (!progress.stopped && progress.epoch < cfg.epochs) {
      const epoch = progress.epoch;
      const started = Date.now();
      const { images, seconds: trainSeconds } = await trainOneEpoch(ctx);
      const { v, improved } = await averaged(async () => {
        const v = await validate(p, cfg, valStore, posWeight);
        const improved = v.metric > progress.bestMetric || progress.bestEpoch < 0;
        if (improved) {
          progress.bestMetric = v.metric;
          progress.bestEpoch = epoch + 1;
          progress.epochsWithoutImprovement = 0;
          await saver.saveBest(epoch, v.metric);
        } else {
          progress.epochsWithoutImprovement++;
        }
        return { v, improved };
      });
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: progress.epochLossSum / Math.max(1, progress.epochLossCount),
        valLoss: v.loss,
        valAuroc: v.auroc,
        ...(v.qwk !== undefined ? { valQwk: v.qwk } : {}),
        lr: p.optimizer.lr,
        imagesPerSecond: images / Math.max(trainSeconds, 1e-9),
        seconds: (Date.now() - started) / 1000,
      };
      progress.history.push(record);
      const metricText = cfg.task === 'grade' ? `val QWK ${fmt(v.qwk)} (AUROC ${fmt(v.auroc)})` : `val AUROC ${fmt(v.auroc)}`;
      log(`epoch ${epoch + 1}/${cfg.epochs}: train loss ${record.trainLoss.toFixed(4)}, val loss ${fmt(v.loss)}, ${metricText}, ${record.imagesPerSecond.toFixed(1)} img/s${improved ? ' (best)' : ''}`);
      if (progress.epochsWithoutImprovement >= cfg.patience) {
        progress.stopped = true;
        log(`early stop: no better validation metric for ${cfg.patience} epochs (best epoch ${progress.bestEpoch})`);
      }
      progress.epoch++;
      progress.stepInEpoch = 0;
      progress.epochLossSum = 0;
      progress.epochLossCount = 0;
      progress.order = orderOf(cfg, data.train, progress.epoch);
      await writeLogs(dir, progress.history);
      if (opts.learningCurve ?? true) await writeLearningCurve(dir, progress.history, cfg.task);
      await saver.save(progress, maskRng);
    }

    const finalState = new Map([...p.session.state].map(([n, d]) => [n, Float32Array.from(d)]));
    // Export the kept epoch: the best one's weights replace the current state (or the last
    // epoch's stay), then validation again gives the scores the operating point is chosen on.
    const bestRecord = progress.history[progress.bestEpoch - 1];
    const keptRecord = cfg.keep_epoch === 'last' ? progress.history[progress.history.length - 1] : bestRecord;
    const exportKept = async () => {
      const v = await validate(p, cfg, valStore, posWeight);
      return { v, sidecar: await exportPackage(cfg, data, p, v, { best: bestRecord, kept: keptRecord }, progress.history.length, dir) };
    };
    // best.safetensors already holds the averaged weights when there is an EMA; the last epoch's
    // live weights need the average put in place.
    const { v, sidecar } = cfg.keep_epoch === 'best' ? await saver.restoreBest().then(exportKept) : await averaged(exportKept);
    const validation: ValidationPredictions = {
      ids: data.val.map((s) => s.id),
      grades: data.val.map((s) => s.grade as number),
      labels: v.labels,
      scores: v.scores,
      ...(cfg.task === 'grade' ? { gradeProbs: gradeProbabilities(v.logits, p.outputs) } : {}),
    };
    await writeValidationPredictions(path.join(dir, 'val_predictions.csv'), validation);
    const modelPath = path.resolve(cfg.model_out ?? path.join(dir, 'model.onnx'));
    const which = cfg.keep_epoch === 'last' ? `last epoch ${keptRecord.epoch}; best ${progress.bestEpoch}` : `best epoch ${progress.bestEpoch}`;
    log(`model: ${modelPath} (${which}, ${cfg.task === 'grade' ? `val QWK ${fmt(keptRecord.valQwk)}` : `val AUROC ${fmt(keptRecord.valAuroc)}`})`);
    return { runDir: dir, modelPath, history: progress.history, best: bestRecord, kept: keptRecord, stoppedEarly: progress.stopped, finalState, sidecar, validation };
  } finally {
    await p.session.release();
  }
}

function fmt(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(4);
}

async function exportPackage(cfg: TrainConfig, data: TrainData, p: TrainingSetup, v: Validation, epochs: { best: EpochRecord; kept: EpochRecord }, epochsTrained: number, dir: string): Promise<ModelSidecar> {
  const exported = exportInference(p.model.graph, p.session.state, {
    input: p.model.input,
    logits: p.model.logits,
    features: p.model.features,
    metadata: { 'dr-xai.model': cfg.model_name, 'dr-xai.task': cfg.task },
  });
  const hasBoth = v.labels.includes(0) && v.labels.includes(1);
  const op = hasBoth ? chooseOperatingPoint(v.labels, v.scores, { targetSpecificity: cfg.fix_specificity, mode: 'constrained' }) : undefined;
  const sidecar: ModelSidecar = {
    format: MODEL_FORMAT,
    name: cfg.model_name,
    version: '1',
    task: cfg.task,
    numClasses: p.outputs,
    input: p.input,
    outputs: { logits: 'logits', features: 'features' },
    preprocess: data.preprocess,
    ...(op && Number.isFinite(op.threshold)
      ? {
          operatingPoint: {
            threshold: op.threshold,
            targetSpecificity: op.targetSpecificity,
            mode: op.mode,
            chosenOn: `${data.name} validation split`,
            sensitivity: op.sensitivity,
            specificity: op.specificity,
            referralByGrade: referralByGrade(data.val.map((s) => s.grade as number), v.scores, op.threshold),
          },
        }
      : {}),
    metrics: {
      bestEpoch: epochs.best.epoch,
      ...(epochs.kept !== epochs.best ? { keptEpoch: epochs.kept.epoch } : {}),
      valAuroc: v.auroc,
      ...(v.qwk !== undefined ? { valQwk: v.qwk } : {}),
      valLoss: v.loss,
      epochsTrained: epochsTrained,
    },
    data: { name: data.name, nTrain: data.train.length, nVal: data.val.length },
    createdAt: new Date().toISOString(),
    notes: `trained by dr-xai train (${cfg.model_name}, ${cfg.img_size} px, ${cfg.pretrained ? `from ${path.basename(cfg.pretrained)}` : 'from scratch'}); run ${path.basename(dir)}`,
  };
  await saveModel(path.resolve(cfg.model_out ?? path.join(dir, 'model.onnx')), exported.bytes, sidecar);
  return sidecar;
}
