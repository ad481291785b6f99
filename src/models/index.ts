// Public surface of src/models: the model package (ONNX + JSON sidecar) and, as they land, the
// architecture registry.
export {
  MODEL_FORMAT,
  ModelSidecarSchema,
  OperatingPointSchema,
  FundusModel,
  loadModel,
  saveModel,
  writeSidecar,
  readSidecar,
  sidecarPath,
  toInputTensor,
  ttaBatch,
  meanOverViews,
  type TtaView,
  type ModelSidecar,
  type OperatingPoint,
  type Prediction,
  type LoadOptions,
} from './package.ts';
export {
  createModel,
  listModels,
  modelInfo,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type CreateModelOptions,
  type RegisteredModel,
  type PretrainedConfig,
} from './registry.ts';
export {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  importWeights,
  renameTorchvisionEfficientNet,
  torchvisionToTimm,
  detectNaming,
  type NamedTensor,
  type SafetensorsContent,
  type ImportOptions,
  type ImportReport,
  type WeightNaming,
} from './weights.ts';
export { addLoss, type ModelGraph, type LossKind } from './efficientnet.ts';
export { quantizeModel, type QuantizeOptions, type QuantizedPackage } from './quantize.ts';
export { modelPreprocessConfig } from './preprocess-config.ts';
export { decideFromLogits, type Decision } from './decision.ts';
export { listPackagedModels, defaultModelPath, modelFingerprint, MODELS_DIR, type PackagedModel, type DefaultTask } from './catalog.ts';
