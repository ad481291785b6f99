/**
 * A preprocessing worker thread (piscina, PreprocessPool): one image per task through
 * processOne, which turns a bad image into a failed record; a bug rejects the task. A null task
 * only loads this module (PreprocessPool.ready).
 */
import { processOne, type BatchRecord, type TaskInput } from './batch.ts';

export default async function preprocess(task: TaskInput | null): Promise<BatchRecord | null> {
  return task ? processOne(task) : null;
}
