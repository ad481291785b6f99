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
} from './pipeline.ts';
export { type PreprocessGeometry, applyGeometry } from './geometry.ts';
export { type QualityReport, QUALITY_THRESHOLDS, qualityScore } from './quality.ts';
export { type DecodedFundus, decodeFundus, shrinkFactor } from './decode.ts';
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
export {
  type Circle,
  type Box,
  type RetinaMask,
  retinaMask,
  otsuThreshold,
  medianBlur,
  morphologyOpen,
  largestConnectedComponent,
  minEnclosingCircle,
  convexHullFill,
} from './mask.ts';
export { clahe } from './clahe.ts';
export { rgbToLab, labToRgb, greenEmphasis } from './color.ts';
export { benGraham, gaussianBlur } from './bengraham.ts';
export { resizeArea, resizeNearest } from './resize.ts';
