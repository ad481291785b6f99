// Public surface of src/screening: the one path from a photograph's bytes to a screening
// decision (and heat map); the worker pool that runs it on every core; `dr-xai screen`'s batch
// (inputs, resume, results and report.html) on the pool or on BullMQ workers; and the profile
// of a model's latency and memory; and the rules of `dr-xai evaluate` above the metrics (which splits,
// which threshold, how a labelled split is scored).
export { screenPhotograph, screenPhotographs, ScreeningStopped, type PhotographInput, type ScreenOptions, type Screening } from './screen.ts';
export type { HeatmapImages } from './heatmap.ts';
export { ScreeningPool, QueueFullError, ScreeningTimeoutError, type PoolOptions } from './pool.ts';
export type { ScreenJob, ScreenOutcome } from './worker.ts';
export { screenFiles, type FileToScreen, type FileScreening, type ScreenFilesOptions } from './files.ts';
export { expandInputs, type PhotographPath, type ExpandedInputs } from './inputs.ts';
export { screenBatch, localBackend, type ScreenBatchOptions, type ScreenBatchResult, type ScreenRecord, type ScreeningBackend, type BackendJob } from './batch.ts';
export { queueBackend, startQueueWorker, queueName, type QueueJobData, type QueueWorker, type QueueWorkerOptions } from './queue.ts';
export { planEvaluation, scoreLabelledSplit, type EvaluationPlan, type EvaluationPlanOptions, type LabelledPhotograph } from './evaluation.ts';
export { profileModel, combineRounds, type ModelProfile, type LatencyFigures, type ProfileOptions } from './profile.ts';
