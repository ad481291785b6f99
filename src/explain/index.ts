/**
 * Explanations of a DR screening model: Grad-CAM++, Grad-CAM and Score-CAM heat maps, overlay
 * boards, heat maps scored against pixel lesion masks, and deletion/insertion faithfulness.
 * Research decision support only: a heat map shows what the model used, not where disease is.
 */
export { CamExplainer, explanationGraph, defaultExplainLayer, type ExplanationGraph, type Attribution, type ExplainerOptions, type ForwardScores, type GradientSource } from './explainer.ts';
export { camFromLayer, makeCamMethod, heatRgbaOnRetina, mapToGrey, type CamFromLayer } from './cam-map.ts';
export { CAM_METHODS, parseMethod, type CamMethodName, type CamVariant } from './methods.ts';
export { DEFAULT_CAM_METHOD } from './explainer.ts';
export { REFERABLE_TARGET, parseTarget, targetLabel, targetProbability, targetScore, targetSeed, type CamTarget } from './targets.ts';
export { resizeBilinear, normaliseMinMax } from './resample.ts';
export { JET_RGB, heatToRgb, overlayHeat, drawContour, type OverlayOptions } from './overlay.ts';
export {
  LESION_KINDS,
  DEFAULT_POINTING_TOLERANCE,
  CENTRE_SIGMA,
  anyLesion,
  scoreHeatmap,
  randomHeatmap,
  centreGaussianHeatmap,
  summariseScores,
  type LesionKind,
  type LesionPlanes,
  type HeatScore,
  type ScoreOptions,
  type ScoreSummary,
} from './score.ts';
export { faithfulnessCurves, rankPixels, BLUR_SIGMA_FRACTION, type FaithfulnessCurves, type FaithfulnessOptions } from './faithfulness.ts';
export { listLesionCases, readMaskPlane, prepareLesionCase, MASK_KINDS, type LesionCase, type PreparedLesionCase, type MaskKind } from './lesions.ts';
export { scoreLesionFolder, formatLesionTable, MAP_KINDS, type LesionReport, type LesionReportOptions, type LesionCaseScores, type MapKind } from './lesion-report.ts';
export { explainCases, pickBalanced, type CamCase, type CamReport, type CamReportOptions, type CamCaseResult } from './cam-report.ts';
