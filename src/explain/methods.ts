/**
 * CAM methods in the manner of pytorch-grad-cam: one base (`CamMethod`) that turns channel
 * weights into a map, and each method defines only its channel weights w_k. Every map is
 *     L = relu(sum_k w_k A_k)
 * (Selvaraju et al. ICCV 2017, eq. 2; Grad-CAM++ keeps the same map and changes only w_k),
 * upsampled to the input and normalised to [0, 1] (resample.ts).
 *
 * A is one image's activation of the target layer (K, h, w) and g = dS/dA (same shape).
 */
import { DrXaiError } from '../core/index.ts';

export type CamMethodName = 'gradcam++' | 'gradcam' | 'scorecam';
export const CAM_METHODS: readonly CamMethodName[] = ['gradcam++', 'gradcam', 'scorecam'];

/**
 * 'paper': the published formulas (Grad-CAM++ with the authors' zero-denominator rule), maps
 *   min-max normalised after upsampling.
 * 'pytorch-grad-cam': jacobgil/pytorch-grad-cam's choices, to compare with maps made there
 *   (differences listed at GradCamPlusPlus and in resample.ts normaliseMinMax).
 */
export type CamVariant = 'paper' | 'pytorch-grad-cam';

/** One image's activation (and gradient) at the target layer, channel-major (K, h, w). */
export interface LayerTensors {
  activations: Float32Array;
  /** dS/dA, same layout; absent for gradient-free methods. */
  gradients?: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/**
 * Forward passes for perturbation methods: the target scores S of the input masked by each of
 * `masks` (input-size planes in [0, 1], multiplied into the normalised input tensor).
 */
export type MaskedScorer = (masks: Float32Array[]) => Promise<number[]>;

export abstract class CamMethod {
  abstract readonly name: CamMethodName;
  readonly usesGradients: boolean = true;
  constructor(readonly variant: CamVariant = 'paper') {}

  /** w_k for one image. */
  abstract channelWeights(t: LayerTensors, scorer?: MaskedScorer): Promise<Float64Array> | Float64Array;

  /** L = relu(sum_k w_k A_k) at the layer's resolution. */
  combine(t: LayerTensors, weights: Float64Array): Float32Array {
    const plane = t.height * t.width;
    const acc = new Float64Array(plane);
    for (let k = 0; k < t.channels; k++) {
      const w = weights[k];
      if (w === 0) continue;
      const a = t.activations.subarray(k * plane, (k + 1) * plane);
      for (let i = 0; i < plane; i++) acc[i] += w * a[i];
    }
    const out = new Float32Array(plane);
    for (let i = 0; i < plane; i++) out[i] = acc[i] > 0 ? acc[i] : 0;
    return out;
  }
}

function needGradients(t: LayerTensors, method: string): Float32Array {
  if (!t.gradients) throw new Error(`${method} needs the gradients of the target layer`);
  return t.gradients;
}

/** Grad-CAM (Selvaraju et al. ICCV 2017, eq. 1): w_k = mean_ij dS/dA^k_ij. */
export class GradCam extends CamMethod {
  readonly name = 'gradcam' as const;
  channelWeights(t: LayerTensors): Float64Array {
    const g = needGradients(t, this.name);
    const plane = t.height * t.width;
    const w = new Float64Array(t.channels);
    for (let k = 0; k < t.channels; k++) {
      let s = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) s += g[i];
      w[k] = s / plane;
    }
    return w;
  }
}

/**
 * Grad-CAM++ (Chattopadhay et al., WACV 2018, arXiv:1710.11063), exponential form: with
 * Y = exp(S) the higher derivatives of Y are powers of g = dS/dA (eqs. 17-18; a piecewise-linear
 * network has vanishing higher derivatives of S), and
 *     alpha^k_ij = g_ij^2 / (2 g_ij^2 + sum_ab A^k_ab g_ij^3)        (eq. 19)
 *     w_k       = sum_ij alpha^k_ij relu(g_ij)
 * (the paper's weight definition w_k = sum alpha relu(dY/dA), with the common factor exp(S) of
 * dY/dA = exp(S) g dropped: it scales every w_k alike and the map is normalised anyway).
 * A zero denominator (g = 0, or 2 + g sum A = 0) is replaced by 1, as in the authors' code
 * (adityac94/Grad_CAM_plus_plus: `np.where(alpha_denom != 0.0, alpha_denom, 1)`).
 *
 * pytorch-grad-cam (grad_cam_plusplus.py) differs: it adds eps = 1e-6 to the denominator and sets
 * alpha = 0 where g = 0. The eps is not always negligible: with a GAP head g = W/(h w), and for
 * small head weights on a large map (e.g. |W| ~ 0.05 at 14 x 14, g^2 ~ 6e-8) g^2 falls below eps,
 * alpha shrinks toward g^2/eps and the weights change relative to each other, not only in scale.
 * (On our randomly initialised B0 at 224 px, g^2 >> eps and the two maps correlate at r = 1.000.)
 * Use variant 'pytorch-grad-cam' to reproduce its maps.
 */
export class GradCamPlusPlus extends CamMethod {
  readonly name = 'gradcam++' as const;
  channelWeights(t: LayerTensors): Float64Array {
    const g = needGradients(t, this.name);
    const plane = t.height * t.width;
    const pytorchGradCamEps = this.variant === 'pytorch-grad-cam';
    const w = new Float64Array(t.channels);
    for (let k = 0; k < t.channels; k++) {
      let sumA = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) sumA += t.activations[i];
      let s = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) {
        const gi = g[i];
        if (gi <= 0) continue; // relu(g) = 0: no contribution whatever alpha is
        const g2 = gi * gi;
        let denom = 2 * g2 + sumA * g2 * gi;
        let alpha: number;
        if (pytorchGradCamEps) alpha = g2 / (denom + 1e-6);
        else {
          if (denom === 0) denom = 1;
          alpha = g2 / denom;
        }
        s += alpha * gi;
      }
      w[k] = s;
    }
    return w;
  }
}

/**
 * Score-CAM (Wang et al., CVPR Workshops 2020): forward passes only. Each channel, upsampled to
 * the input and min-max normalised, masks the input; the channel's weight is the softmax over
 * channels of the target score of its masked input (the paper's "increase of confidence" up to
 * the baseline's score, which softmax cancels). As pytorch-grad-cam's score_cam.py: bilinear
 * upsampling with aligned corners, eps 1e-8 in the normalisation, the mask multiplies the
 * normalised input tensor (0 there is the data set's mean colour), the raw target score (logit).
 * K forward passes per image: 1280 for EfficientNet-B0 — slow on a CPU; batched by the scorer.
 */
export class ScoreCam extends CamMethod {
  readonly name = 'scorecam' as const;
  override readonly usesGradients = false;
  constructor(
    variant: CamVariant,
    private readonly upsample: (plane: Float32Array, width: number, height: number) => Float32Array,
  ) {
    super(variant);
  }
  async channelWeights(t: LayerTensors, scorer?: MaskedScorer): Promise<Float64Array> {
    if (!scorer) throw new Error('scorecam needs forward passes (a MaskedScorer)');
    const plane = t.height * t.width;
    const masks: Float32Array[] = [];
    for (let k = 0; k < t.channels; k++) {
      const up = this.upsample(t.activations.subarray(k * plane, (k + 1) * plane), t.width, t.height);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of up) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const range = hi - lo + 1e-8;
      for (let i = 0; i < up.length; i++) up[i] = (up[i] - lo) / range;
      masks.push(up);
    }
    const scores = await scorer(masks);
    let m = -Infinity;
    for (const s of scores) m = Math.max(m, s);
    const w = new Float64Array(t.channels);
    let z = 0;
    for (let k = 0; k < t.channels; k++) z += w[k] = Math.exp(scores[k] - m);
    for (let k = 0; k < t.channels; k++) w[k] /= z;
    return w;
  }
}

export function parseMethod(value: string): CamMethodName {
  if ((CAM_METHODS as readonly string[]).includes(value)) return value as CamMethodName;
  throw new DrXaiError(`unknown CAM method '${value}' (expected ${CAM_METHODS.join(', ')})`);
}
