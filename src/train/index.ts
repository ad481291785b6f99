// Public surface of src/train: the training loop with crash-safe resume, its config (reference
// YAML shape), augmentation and schedule.
export { train, type TrainData, type TrainOptions, type TrainResult, type TrainStep, type ValidationPredictions } from './trainer.ts';
export { TrainConfigSchema, readConfigFile, resolveTrainConfig, defaultRunName, runDir, type TrainConfig, type AugmentConfig } from './config.ts';
export { learningRateAt, type CosineSchedule } from './schedule.ts';
export { applyAugment, drawAugment, sampleSeed, retinaOf, type AugmentParams } from './augment.ts';
export { ImageStore, epochOrder, makeBatch, targetsFor, type ImageLoader, type Batch } from './data.ts';
export { loadCheckpoint, saveCheckpoint, CHECKPOINT_FORMAT, type Checkpoint, type EpochRecord, type TrainProgress } from './checkpoint.ts';
export { writeLogs, writeLearningCurve, LOG_COLUMNS } from './logs.ts';
export { preprocessConfigOf, preparePreprocessed, sharedCacheDir, type PreparedImages } from './images.ts';
export { trainOnSplit, type SplitData, type TrainOnSplitOptions, type TrainOnSplitResult } from './train-on-split.ts';
export { crossValidate, type CrossValidationData, type CrossValidationResult, type CrossValidationOptions, type FoldResult } from './cv.ts';
