// Public surface of src/data: data set loaders, prediction tasks, duplicate detection and the
// train/val/test split shared by every later command.
export { type DatasetFormat, type Sample, type Dataset, DATASET_FORMATS } from './types.ts';
export { loadDataset, detectFormat, parseFormat } from './loaders.ts';
export { type DuplicateGroup, type DuplicateOptions, findDuplicateGroups, pixelHash } from './duplicates.ts';
export {
  type SplitName,
  type SplitAssignment,
  type SplitResult,
  type SplitOptions,
  SPLIT_NAMES,
  DEFAULT_FRACTIONS,
  DEFAULT_SEED,
  stratifiedSplit,
  stratifiedFolds,
  validateFractions,
} from './split.ts';
export { type SplitReport, type GradeConflict, summarizeSplit, formatSplitReport } from './report.ts';
export { writeSplitCsv, readSplitCsv, SPLIT_CSV_COLUMNS } from './split-csv.ts';
// Synthetic fundus phantoms (src/data/phantom, its own engineer's module).
export * from './phantom/index.ts';
