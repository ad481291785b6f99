/**
 * Training checkpoints: everything a run needs to continue exactly where it stopped — weights,
 * BatchNormalization running statistics, optimizer moments and step, the dropout-mask Rng
 * state, epoch / step counters, the epoch's data order, the early-stopping state and the
 * metric history — in one .safetensors file (tensors + a JSON document in its __metadata__),
 * written with writeFileAtomic so a kill -9 at any moment leaves the previous checkpoint intact.
 */
import { existsSync } from 'node:fs';
import { DrXaiError, readFileOrFail, writeFileAtomic } from '../core/index.ts';
import type { OptimizerState } from '../engine/index.ts';
import { parseSafetensors, serializeSafetensors, type NamedTensor } from '../models/index.ts';

export const CHECKPOINT_FORMAT = 'dr-xai-checkpoint/1';

/** One epoch's line of the training log. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  /** Validation AUROC of the positive (binary) or referable (grade) probability. */
  valAuroc: number;
  /** Grade task only. */
  valQwk?: number;
  lr: number;
  imagesPerSecond: number;
  seconds: number;
}

export interface TrainProgress {
  /** Epoch in progress (0-based) and optimizer steps already done in it. */
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  /** Data order of the epoch in progress (training-split indices). */
  order: number[];
  maskRngState: number;
  batchesTracked: number;
  /** Running sum of the epoch's training loss and its micro-batch count so far. */
  epochLossSum: number;
  epochLossCount: number;
  bestMetric: number;
  bestEpoch: number;
  epochsWithoutImprovement: number;
  history: EpochRecord[];
  stopped: boolean;
}

export interface Checkpoint {
  progress: TrainProgress;
  /** Parameters and BatchNormalization buffers by name. */
  state: Map<string, Float32Array>;
  optimizer: OptimizerState;
  /** The weight EMA's average (src/train/ema.ts), when the run keeps one. */
  ema?: Map<string, Float32Array>;
  /** SHA-free fingerprint of the config a run was started with (resume refuses another). */
  configKey: string;
}

export async function saveCheckpoint(file: string, ck: Checkpoint, shapeOf: (name: string) => number[]): Promise<void> {
  const tensors: [string, NamedTensor][] = [];
  for (const [name, data] of ck.state) tensors.push([`state/${name}`, { shape: shapeOf(name), data }]);
  for (const [name, data] of ck.ema ?? []) tensors.push([`ema/${name}`, { shape: shapeOf(name), data }]);
  for (const [buffer, byParam] of Object.entries(ck.optimizer.buffers)) {
    for (const [name, data] of Object.entries(byParam)) tensors.push([`optimizer/${buffer}/${name}`, { shape: shapeOf(name), data }]);
  }
  const meta = { format: CHECKPOINT_FORMAT, configKey: ck.configKey, progress: ck.progress, optimizer: { kind: ck.optimizer.kind, step: ck.optimizer.step } };
  await writeFileAtomic(file, serializeSafetensors(tensors, { checkpoint: JSON.stringify(meta) }));
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const { tensors, metadata } = parseSafetensors(await readFileOrFail(file, 'checkpoint'), file);
  let meta: { format: string; configKey: string; progress: TrainProgress; optimizer: { kind: OptimizerState['kind']; step: number } };
  try {
    meta = JSON.parse(metadata.checkpoint ?? 'null');
  } catch {
    throw new DrXaiError('checkpoint metadata is not valid JSON', { file });
  }
  if (!meta || meta.format !== CHECKPOINT_FORMAT) throw new DrXaiError(`not a ${CHECKPOINT_FORMAT} file`, { file });
  const state = new Map<string, Float32Array>();
  const ema = new Map<string, Float32Array>();
  const buffers: Record<string, Record<string, Float32Array>> = {};
  for (const [key, t] of tensors) {
    if (key.startsWith('state/')) state.set(key.slice(6), t.data);
    else if (key.startsWith('ema/')) ema.set(key.slice(4), t.data);
    else if (key.startsWith('optimizer/')) {
      const [, buffer, ...rest] = key.split('/');
      (buffers[buffer] ??= {})[rest.join('/')] = t.data;
    }
  }
  return { progress: meta.progress, state, optimizer: { kind: meta.optimizer.kind, step: meta.optimizer.step, buffers }, ...(ema.size ? { ema } : {}), configKey: meta.configKey };
}

export function checkpointExists(file: string): boolean {
  return existsSync(file);
}
