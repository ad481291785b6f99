/** Otsu's threshold and binary thresholding, as cv2.threshold computes them on 8-bit planes. */

/**
 * Otsu's threshold (Otsu 1979) exactly as cv2.threshold(..., THRESH_OTSU) computes it
 * (imgproc/thresh.cpp getThreshVal_Otsu: double arithmetic, first maximum of the
 * between-class variance, classes with probability < FLT_EPSILON skipped).
 * Pixels with value > threshold are foreground.
 */
export function otsuThreshold(src: Uint8Array): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < src.length; i++) hist[src[i]]++;
  return otsuOfHistogram(hist, src.length);
}

/** otsuThreshold from the plane's 256-bin histogram and its pixel count. */
export function otsuOfHistogram(hist: ArrayLike<number>, count: number): number {
  const FLT_EPSILON = 1.1920928955078125e-7;
  const scale = 1 / count;
  let mu = 0;
  for (let i = 0; i < 256; i++) mu += i * hist[i];
  mu *= scale;
  let mu1 = 0;
  let q1 = 0;
  let maxSigma = 0;
  let maxVal = 0;
  for (let i = 0; i < 256; i++) {
    const p = hist[i] * scale;
    mu1 *= q1;
    q1 += p;
    const q2 = 1 - q1;
    if (Math.min(q1, q2) < FLT_EPSILON || Math.max(q1, q2) > 1 - FLT_EPSILON) continue;
    mu1 = (mu1 + i * p) / q1;
    const mu2 = (mu - q1 * mu1) / q2;
    const sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (sigma > maxSigma) {
      maxSigma = sigma;
      maxVal = i;
    }
  }
  return maxVal;
}

/** Binary plane: 255 where src > threshold, else 0 (cv2.THRESH_BINARY). */
export function thresholdBinary(src: Uint8Array, threshold: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] > threshold ? 255 : 0;
  return out;
}
