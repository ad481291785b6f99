/**
 * From a layer's activations (and gradients) to the heat map on the model input: the part of a
 * CAM every caller shares, the CLI and API's CamExplainer and the page's in-browser heat map
 * (this file is browser-safe), so both draw a map with the same code.
 *
 *   weights = method.channelWeights(A, dS/dA)      (methods.ts: Grad-CAM, Grad-CAM++, Score-CAM)
 *   lowRes  = relu(sum_k w_k A_k)                   at the layer's resolution
 *   map     = minmax(bilinear(lowRes) to input size) in [0, 1]
 *
 * and the coloured map as RGBA, transparent outside the retina (heat on the padding or the black
 * surround is no finding), for overlays at any opacity.
 */
import { CamMethod, GradCam, GradCamPlusPlus, ScoreCam, type CamMethodName, type CamVariant, type LayerTensors, type MaskedScorer } from './methods.ts';
import { heatToRgb } from './overlay.ts';
import { normaliseMinMax, resizeBilinear } from './resample.ts';

/** The method object for a name; Score-CAM upsamples its masks to the input size. */
export function makeCamMethod(name: CamMethodName, variant: CamVariant, size: number): CamMethod {
  switch (name) {
    case 'gradcam':
      return new GradCam(variant);
    case 'gradcam++':
      return new GradCamPlusPlus(variant);
    case 'scorecam':
      return new ScoreCam(variant, (plane, w, h) => resizeBilinear(plane, w, h, size, size, true));
  }
}

/** Upsample a layer-resolution map to the input and normalise, in the method's variant. */
function camToInputMap(lowRes: Float32Array, width: number, height: number, size: number, variant: CamVariant): Float32Array {
  if (variant === 'pytorch-grad-cam') {
    // scale_cam_image at the layer's size, cv2.resize, then aggregate_multi_layers' second scale.
    return normaliseMinMax(resizeBilinear(normaliseMinMax(lowRes.slice(), 1e-7), width, height, size, size), 1e-7);
  }
  return normaliseMinMax(resizeBilinear(lowRes, width, height, size, size));
}

export interface CamFromLayer {
  weights: Float64Array;
  lowRes: Float32Array;
  /** size x size in [0, 1]. */
  map: Float32Array;
}

/** The heat map of one image from its layer tensors (gradients needed unless Score-CAM, which needs `scorer`). */
export async function camFromLayer(method: CamMethod, t: LayerTensors, size: number, scorer?: MaskedScorer): Promise<CamFromLayer> {
  const weights = await method.channelWeights(t, scorer);
  const lowRes = method.combine(t, weights);
  return { weights, lowRes, map: camToInputMap(lowRes, t.width, t.height, size, method.variant) };
}

/** The size x size map JET-coloured (overlay.ts heatToRgb) as interleaved RGBA, alpha 0 outside `retina` (0/255) and 255 inside. */
export function heatRgbaOnRetina(map: Float32Array, size: number, retina: Uint8Array): Uint8Array {
  const rgb = heatToRgb(map, size, size).data;
  const out = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    out[4 * i] = rgb[3 * i];
    out[4 * i + 1] = rgb[3 * i + 1];
    out[4 * i + 2] = rgb[3 * i + 2];
    out[4 * i + 3] = retina[i] ? 255 : 0;
  }
  return out;
}

/** The raw map as 8-bit grey (0 = 0, 255 = 1), as the API returns it. */
export function mapToGrey(map: Float32Array): Uint8Array {
  const grey = new Uint8Array(map.length);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(map[i] * 255);
  return grey;
}
