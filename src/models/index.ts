// Public surface of src/models: the model package (ONNX + JSON sidecar) and, as they land, the
// architecture registry.
export {
  MODEL_FORMAT,
  ModelSidecarSchema,
  OperatingPointSchema,
  FundusModel,
  loadModel,
  saveModel,
  readSidecar,
  sidecarPath,
  toInputTensor,
  positiveProbability,
  type ModelSidecar,
  type OperatingPoint,
  type Prediction,
  type LoadOptions,
} from './package.ts';
