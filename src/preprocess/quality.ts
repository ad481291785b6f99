/**
 * Per-image quality report, so later commands can flag photographs a grader would reject.
 * Measured on the masked, cropped photograph BEFORE contrast enhancement (CLAHE would hide
 * under-exposure and blur), at an analysis resolution of at most QUALITY_SIZE px on the long
 * side (never enlarged), so that sharpness does not depend on the camera's resolution.
 *
 * Thresholds (documented here, the one place they live):
 *  - retinaFraction < 0.10 of the frame: "retina too small";
 *  - maskSolidity < 0.85: "uneven illumination". maskSolidity = share of the retina mask above
 *    the Otsu threshold (the rest was dark and filled in by the mask's convex hull). A dark
 *    periphery or half (4 of the 20 IDRiD photographs) shows up here;
 *  - mean brightness inside the retina ((R+G+B)/3/255) < 0.08: "underexposed", > 0.85: "overexposed";
 *  - more than 30% of retina pixels with max(R,G,B) <= 10: "large dark area";
 *  - more than 10% of retina pixels with green >= 250: "saturated" (green carries the lesion
 *    contrast; a clipped red channel is common in well-exposed photographs and is not counted);
 *  - sharpness < 0.025: "blurred". Sharpness is the standard deviation of the 3x3 Laplacian
 *    (cv2.Laplacian ksize=1) of the green channel over the retina (minus a 2 px rim), divided by
 *    the mean green level there: relative fine-scale contrast (cf. Pech-Pacheco et al. 2000,
 *    "Diatom autofocusing in brightfield microscopy", variance of the Laplacian).
 *    Calibrated on APTOS-224: see the report of `npm run bench:preprocess`.
 * "no retina found" is reported by preprocessFundus itself (it raises), and by the batch runner.
 */
import type { RgbImage } from '../core/index.ts';
import { resizeArea, resizeAreaChannel } from './resize.ts';

export const QUALITY_SIZE = 256;
export const QUALITY_THRESHOLDS = {
  minRetinaFraction: 0.1,
  minMaskSolidity: 0.85,
  minMeanBrightness: 0.08,
  maxMeanBrightness: 0.85,
  maxDarkFraction: 0.3,
  maxSaturatedFraction: 0.1,
  minSharpness: 0.025,
} as const;

export interface QualityReport {
  retinaFound: boolean;
  /** Retina pixels / all pixels of the source frame. */
  retinaFraction: number;
  /** Share of the retina mask above the Otsu threshold (1 with the mask off). */
  maskSolidity: number;
  exposure: { mean: number; darkFraction: number; saturatedFraction: number };
  blur: { laplacianStd: number; sharpness: number };
  gradable: boolean;
  reasons: string[];
}

/** The report for an image where no retina was found (all black, blank, ...). */
export function ungradableNoRetina(): QualityReport {
  return {
    retinaFound: false,
    retinaFraction: 0,
    maskSolidity: 0,
    exposure: { mean: 0, darkFraction: 1, saturatedFraction: 0 },
    blur: { laplacianStd: 0, sharpness: 0 },
    gradable: false,
    reasons: ['no retina found'],
  };
}

/**
 * `img` is the masked photograph (crop/pad already applied or not), `mask` its 0/255 retina
 * mask of the same geometry, `frameArea` the number of pixels of the original frame in the same
 * units (to report the retina's share of it), `maskSolidity` from retinaMask().
 */
export function qualityScore(img: RgbImage, mask: Uint8Array, frameArea: number, maskSolidity = 1): QualityReport {
  let n = 0, sum = 0, dark = 0, sat = 0;
  const d = img.data;
  for (let i = 0, j = 0; i < mask.length; i++, j += 3) {
    if (mask[i] === 0) continue;
    const r = d[j], g = d[j + 1], b = d[j + 2];
    n++;
    sum += r + g + b;
    const mx = r > g ? (r > b ? r : b) : g > b ? g : b;
    if (mx <= 10) dark++;
    if (g >= 250) sat++;
  }
  if (n === 0) return ungradableNoRetina();
  const mean = sum / (3 * 255 * n);
  // Sharpness at the analysis resolution.
  const s = Math.min(1, QUALITY_SIZE / Math.max(img.width, img.height));
  const w = Math.max(1, Math.round(img.width * s));
  const h = Math.max(1, Math.round(img.height * s));
  const green = resizeAreaChannel(img, 1, w, h).data;
  const m = resizeArea({ width: img.width, height: img.height, channels: 1, data: mask }, w, h).data;
  let ln = 0, lsum = 0, lsq = 0, gsum = 0;
  const RIM = 2;
  for (let y = RIM; y < h - RIM; y++) {
    for (let x = RIM; x < w - RIM; x++) {
      const i = y * w + x;
      // inside the retina with a rim of RIM px, so the retina's edge is not counted as detail
      if (m[i] < 255 || m[i - RIM] < 255 || m[i + RIM] < 255 || m[i - RIM * w] < 255 || m[i + RIM * w] < 255) continue;
      const lap = green[i - 1] + green[i + 1] + green[i - w] + green[i + w] - 4 * green[i];
      ln++;
      lsum += lap;
      lsq += lap * lap;
      gsum += green[i];
    }
  }
  const laplacianStd = ln > 1 ? Math.sqrt(Math.max(0, lsq / ln - (lsum / ln) ** 2)) : 0;
  const sharpness = ln > 1 ? laplacianStd / Math.max(1, gsum / ln) : 0;
  const retinaFraction = n / frameArea;
  const darkFraction = dark / n;
  const saturatedFraction = sat / n;
  const t = QUALITY_THRESHOLDS;
  const reasons: string[] = [];
  if (retinaFraction < t.minRetinaFraction) reasons.push(`retina too small (${(100 * retinaFraction).toFixed(1)}% of the frame)`);
  if (maskSolidity < t.minMaskSolidity) reasons.push(`uneven illumination (${(100 * (1 - maskSolidity)).toFixed(0)}% of the retina below the mask threshold)`);
  if (mean < t.minMeanBrightness) reasons.push(`underexposed (mean ${mean.toFixed(3)})`);
  if (mean > t.maxMeanBrightness) reasons.push(`overexposed (mean ${mean.toFixed(3)})`);
  if (darkFraction > t.maxDarkFraction) reasons.push(`large dark area (${(100 * darkFraction).toFixed(0)}% of the retina)`);
  if (saturatedFraction > t.maxSaturatedFraction) reasons.push(`saturated (${(100 * saturatedFraction).toFixed(0)}% of the retina)`);
  if (sharpness < t.minSharpness) reasons.push(`blurred (sharpness ${sharpness.toFixed(4)})`);
  return {
    retinaFound: true,
    retinaFraction,
    maskSolidity,
    exposure: { mean, darkFraction, saturatedFraction },
    blur: { laplacianStd, sharpness },
    gradable: reasons.length === 0,
    reasons,
  };
}

