/**
 * Loss functions as graph fragments built from primitive ONNX ops (so the autodiff handles
 * them), in numerically stable forms.
 */
import type { GraphBuilder } from './ir.ts';

export interface BceOptions {
  /** Tensor [K]: weight of positive examples per output (PyTorch pos_weight). */
  posWeight?: string;
  /** Tensor [N]: per-sample weights. */
  sampleWeights?: string;
}

/**
 * Mean binary cross-entropy with logits, PyTorch's BCEWithLogitsLoss:
 * l = (1 - t) x + (1 + (pw - 1) t) (log(1 + exp(-|x|)) + max(-x, 0)), the log-sum-exp form that
 * never exponentiates a positive number. Returns the scalar mean over all elements, each sample's
 * row multiplied by its weight when given.
 */
export function bceWithLogitsLoss(b: GraphBuilder, logits: string, targets: string, o: BceOptions = {}): string {
  const dt = b.dtype(logits) as 'float32' | 'float64';
  const one = b.scalar(1, dt);
  const softplusNegAbs = b.op('Log', [b.add(one, b.op('Exp', [b.op('Neg', [b.op('Abs', [logits])])]))]);
  const logSigmoidNeg = b.add(softplusNegAbs, b.relu(b.op('Neg', [logits]))); // -log(sigmoid(x))
  let logWeight = one;
  if (o.posWeight) logWeight = b.add(one, b.mul(b.sub(o.posWeight, one), targets));
  let l = b.add(b.mul(b.sub(one, targets), logits), b.mul(logWeight, logSigmoidNeg));
  if (o.sampleWeights) l = b.mul(l, b.reshape(o.sampleWeights, [b.shape(logits)[0], 1]));
  return b.reduceMean(l, b.shape(l).map((_, i) => i), false);
}

export interface CrossEntropyOptions {
  /**
   * Tensor [N]: per-sample weights (e.g. class weight of each sample's label); the loss is then
   * sum(w_i l_i) / sum(w_i), as PyTorch's CrossEntropyLoss with class weights.
   */
  sampleWeights?: string;
}

/**
 * Cross-entropy of logits [N, K] against target distributions [N, K] (one-hot, or smoothed):
 * l_i = -sum_k t_ik log_softmax(x)_ik, averaged over the batch.
 */
export function crossEntropyLoss(b: GraphBuilder, logits: string, targets: string, o: CrossEntropyOptions = {}): string {
  const perSample = b.op('Neg', [b.reduceSum(b.mul(targets, b.logSoftmax(logits, 1)), [1], false)]);
  if (!o.sampleWeights) return b.reduceMean(perSample, [0], false);
  const num = b.reduceSum(b.mul(perSample, o.sampleWeights), [0], false);
  return b.div(num, b.reduceSum(o.sampleWeights, [0], false));
}
