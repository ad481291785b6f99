/**
 * Phantom fundus photographs: deterministic synthetic images with pixel ground truth for
 * tests and the demo. Never a substitute for real data when judging a model.
 */
export { generatePhantom, PHANTOM_DIFFICULTY, DEFAULT_PHANTOM_SIZE } from './generate.ts';
export { writePhantomDataset, allocateGrades, APTOS_GRADE_DISTRIBUTION, type PhantomDatasetOptions, type PhantomDatasetRow, type PhantomDatasetSummary } from './dataset.ts';
export { gradeFromLesions, countLesions, MILD_MA_MAX, SEVERE_HE_PER_QUADRANT } from './grade.ts';
export {
  LESION_TYPES,
  MASKED_LESION_TYPES,
  type Grade,
  type Lesion,
  type LesionCounts,
  type LesionType,
  type MaskedLesionType,
  type PhantomAnatomy,
  type PhantomDifficulty,
  type PhantomImage,
  type PhantomMasks,
  type PhantomOptions,
} from './types.ts';
