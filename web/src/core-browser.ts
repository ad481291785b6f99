/**
 * src/core for the browser build: the same DrXaiError and Rng (re-exported, not copied). The
 * file and image functions need Node (fs, sharp) and are never called by the code the page
 * runs; they throw if they ever are.
 */
export { DrXaiError, isUserError } from '../../src/core/errors.ts';
export { Rng } from '../../src/core/rng.ts';
export interface RgbImage { width: number; height: number; channels: 1 | 3; data: Uint8Array }

function nodeOnly(name: string): never {
  throw new Error(`${name} needs Node.js and is not available in the browser`);
}
export const writeFileAtomic = (): never => nodeOnly('writeFileAtomic');
export const readFileOrFail = (): never => nodeOnly('readFileOrFail');
export const assertDirectory = (): never => nodeOnly('assertDirectory');
export const progressBar = (): never => nodeOnly('progressBar');
export const decodeImage = (): never => nodeOnly('decodeImage (the page decodes with createImageBitmap)');
export const encodePng = (): never => nodeOnly('encodePng');
export const writePng = (): never => nodeOnly('writePng');
export const DEFAULT_MAX_PIXELS = 100_000_000;
export { isDicom, readDicomPhotograph } from '../../src/core/dicom.ts';
export { sniffImageFormat, type ImageFormat } from '../../src/core/format.ts';
export { type Task, TASKS, NUM_GRADES, REFERABLE_GRADE, labelFor, classNamesFor, parseTask, outputsFor, isOrdinal, monotoneCumulativeLogits, gradeProbabilities, referableFromGradeProbabilities, predictedGrade, type GradeRule, GRADE_HEADS, type GradeHead, firstPositiveClass, softmaxRows, positiveProbability } from '../../src/core/tasks.ts';
