// Public surface of src/preprocess: the fundus preprocessing pipeline of the reference study
// (retina mask, crop, CLAHE, green emphasis, optional Ben Graham, resize), its geometry so that
// lesion masks follow the image, a quality report, and the batch runner behind `dr-xai preprocess`.
export {
  type PreprocessConfig,
  type PreprocessResult,
  type PreprocessSteps,
  type PreprocessOptions,
  PreprocessConfigSchema,
  DEFAULT_PREPROCESS,
  resolveConfig,
  preprocessFundus,
  PreprocessingStopped,
} from './pipeline.ts';
export { type PreprocessGeometry, applyGeometry } from './geometry.ts';
export { type QualityReport, QUALITY_THRESHOLDS, qualityScore } from './quality.ts';
export { type DecodedFundus, decodeFundus } from './decode.ts';
export { shrinkFactor, shrinkDecoded } from './shrink.ts';
export {
  type BatchItem,
  type BatchOptions,
  type BatchRecord,
  type BatchSummary,
  PREPROCESS_CODE_VERSION,
  PreprocessPool,
  runPreprocess,
} from './batch.ts';
export { writeBoard } from './board.ts';
// Building blocks (OpenCV-equivalent, tested against cv2), for tests and reuse.
export { type RetinaMask, retinaMask } from './mask.ts';
export { type Circle, type Box, minEnclosingCircle } from './circle.ts';
export { otsuThreshold } from './threshold.ts';
export { medianBlur } from './median.ts';
export { morphologyOpen, largestConnectedComponent } from './runs.ts';
export { convexHullFill } from './hull.ts';
export { clahe } from './clahe.ts';
export { rgbToLab, labToRgb, greenEmphasis } from './color.ts';
export { benGraham, gaussianBlur } from './bengraham.ts';
export { resizeArea, resizeNearest } from './resize.ts';
