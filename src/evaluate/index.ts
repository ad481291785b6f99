/**
 * Evaluation of a DR screening model: discrimination (ROC/AUROC, PR/AP), an operating point
 * tuned on validation, bootstrap and Wilson confidence intervals, calibration, 5-grade
 * agreement, and the artifacts (plots, CSVs, report) written by `evaluatePredictions`.
 */
export { checkBinaryInputs } from './validate.ts';
export { rocCurve, auroc, trapezoidArea, prCurve, averagePrecision, type RocCurve, type PrCurve } from './curves.ts';
export {
  chooseOperatingPoint,
  confusionAt,
  metricsAtThreshold,
  type OperatingMode,
  OPERATING_MODES,
  parseOperatingMode,
  type OperatingPoint,
  type Confusion,
  type ThresholdMetrics,
} from './operating-point.ts';
export { wilsonInterval, type Interval } from './intervals.ts';
export { stratifiedBootstrap, type BootstrapOptions, type BootstrapResult } from './bootstrap.ts';
export { brierScore, expectedCalibrationError, reliabilityBins, CALIBRATION_BINS, type ReliabilityBin } from './calibration.ts';
export {
  quadraticWeightedKappa,
  gradeConfusionMatrix,
  referableProbability,
  predictedGrades,
  checkGradeProbs,
  referralByGrade,
  formatReferralByGrade,
  type GradeReferral,
} from './grade.ts';
export { PLOT_PIXELS, renderPlot } from './plots.ts';
export {
  evaluatePredictions,
  formatMetricsTable,
  SUMMARY_COLUMNS,
  type EvaluateOptions,
  type EvaluationResult,
  type SplitPredictions,
  type ExcludedImage,
  type SplitEvaluation,
  type MetricsRow,
} from './report.ts';
export { delongTest, type DelongResult } from './delong.ts';
