/**
 * A screening worker thread (piscina): loads its own copy of the model once, single-threaded
 * (the pool runs one worker per core, so ONNX Runtime's and libvips' own thread pools would only
 * oversubscribe the cores), then screens one photograph per task with screenPhotograph.
 */
import sharp from 'sharp';
import { workerData } from 'piscina';
import { isUserError, type InputErrorKind } from '../core/index.ts';
import { loadModel } from '../models/index.ts';
import { screenPhotograph, ScreeningStopped, type ScreenOptions, type Screening } from './screen.ts';

export interface ScreenJob extends ScreenOptions {
  bytes: Uint8Array;
  source: string;
}

/** A result, or why there is none: a bad photograph (its message and kind) or a stopped screening. */
export type ScreenOutcome = { ok: true; result: Screening } | { ok: false; reason: string; kind?: InputErrorKind | 'stopped' };

sharp.concurrency(1);
// Loaded on the first task, not with top-level await (tsx's loader fails to load a worker
// module that has one).
const model = loadModel((workerData as { modelPath: string }).modelPath, { intraOpNumThreads: 1 });

export default async function screen(job: ScreenJob): Promise<ScreenOutcome> {
  const { bytes, source, ...opts } = job;
  try {
    return { ok: true, result: await screenPhotograph(await model, { bytes, source }, opts) };
  } catch (e) {
    if (e instanceof ScreeningStopped) return { ok: false, reason: e.message, kind: 'stopped' };
    if (isUserError(e)) return { ok: false, reason: e.message, ...(e.kind ? { kind: e.kind } : {}) };
    throw e;
  }
}
