/**
 * dr-xai engine: ONNX graphs as the one model format, ONNX Runtime as the one executor, training
 * included (reverse-mode autodiff to standard ONNX ops, optimizers in TypeScript).
 *
 * Typical use:
 *   const b = new GraphBuilder('net'); ... build forward + loss ...
 *   const session = await TrainingSession.create(b.graph, { loss });
 *   const opt = new AdamW({ lr: 1e-3, noDecay: noDecayForNormsAndBiases(n => b.shape(n)) });
 *   const { loss, grads } = await session.step({ image, targets }, rng);
 *   opt.step(session.state, grads);
 *   const onnxBytes = exportInference(b.graph, session.state, { input, logits, features });
 */
export {
  GraphBuilder,
  OPSET,
  cloneGraph,
  emptyGraph,
  float32,
  int64,
  sizeOf,
  type AttrValue,
  type ConvOptions,
  type DType,
  type Graph,
  type MaskInput,
  type Node,
  type Shape,
  type TensorData,
  type TypedData,
  type ValueInfo,
} from './ir.ts';
export { toOnnxBytes, fromOnnxBytes, type ReadOptions, type WriteOptions } from './onnx.ts';
export { backprop } from './autodiff.ts';
export {
  buildTrainingGraph,
  gradientsWrt,
  prune,
  type ActivationGradientGraph,
  type BatchNormStats,
  type TrainingGraph,
  type TrainingGraphOptions,
} from './training-graph.ts';
export { bceWithLogitsLoss, crossEntropyLoss, type BceOptions, type CrossEntropyOptions } from './losses.ts';
export { AdamW, SGD, noDecayForNormsAndBiases, type AdamWOptions, type Optimizer, type OptimizerState, type SgdOptions } from './optim.ts';
export {
  TrainingSession,
  createSession,
  defaultParams,
  drawMask,
  runGraph,
  sessionOptions,
  toTensor,
  type RuntimeOptions,
  type StepResult,
  type TrainingSessionOptions,
} from './runtime.ts';
export {
  RangeCalibrator,
  activationQuantParams,
  dequantizeQdq,
  quantizationTargets,
  quantizeQdq,
  quantizeWeightsPerChannel,
  type QdqOptions,
  type QuantizationSummary,
  type TensorRange,
} from './quantize.ts';
export { exportInference, foldBatchNorm, removeMasks, WEB_SAFE_OPS, type ExportOptions, type ExportedModel } from './export.ts';
