/**
 * A screening worker thread (piscina): loads its own copy of the model once, single-threaded
 * (the pool runs one worker per core, so ONNX Runtime's and libvips' own thread pools would only
 * oversubscribe the cores), then screens one image per task.
 */
import sharp from 'sharp';
import { workerData } from 'piscina';
import { loadModel } from '../models/index.ts';
import { screenImage, type ScreenJob, type ScreenOutcome } from './screen.ts';

sharp.concurrency(1);
// Loaded on the first task, not with top-level await (tsx's loader fails to load a worker
// module that has one).
const model = loadModel((workerData as { modelPath: string }).modelPath, { intraOpNumThreads: 1 });

export default async function screen(job: ScreenJob): Promise<ScreenOutcome> {
  return screenImage(await model, job);
}
