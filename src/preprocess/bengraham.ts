/**
 * Ben Graham's local-contrast normalisation (Kaggle Diabetic Retinopathy Detection 2015,
 * competition report "Kaggle Diabetic Retinopathy Detection competition report", B. Graham):
 *     out = 4 * img - 4 * GaussianBlur(img, sigma = radius / 30) + 128,
 * as cv2.addWeighted(img, 4, cv2.GaussianBlur(img, (0, 0), sigma), -4, 128). The caller
 * zeroes everything outside the retina afterwards.
 */
import type { RgbImage } from '../core/index.ts';
import { saturateU8 } from './rounding.ts';

/**
 * cv2.GaussianBlur(img, (0, 0), sigma) on 8-bit data: kernel size round(sigma * 3 * 2 + 1) | 1
 * (OpenCV's choice for 8-bit), normalised sampled Gaussian, separable, BORDER_REFLECT_101.
 * Computed in float and rounded once (OpenCV's 8-bit fixed-point path can differ by 1 level).
 */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  const { width: w, height: h, channels: cn } = img;
  const ksize = Math.max(1, (Math.round(sigma * 3 * 2 + 1) | 1));
  const r = ksize >> 1;
  const kernel = new Float64Array(ksize);
  let ksum = 0;
  for (let i = 0; i < ksize; i++) {
    const x = i - r;
    kernel[i] = Math.exp((-0.5 * x * x) / (sigma * sigma));
    ksum += kernel[i];
  }
  for (let i = 0; i < ksize; i++) kernel[i] /= ksum;
  const reflect = (i: number, n: number): number => {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
  };
  const tmp = new Float32Array(w * h * cn);
  const xIdx = new Int32Array(w + 2 * r);
  for (let i = 0; i < xIdx.length; i++) xIdx[i] = reflect(i - r, w) * cn;
  for (let y = 0; y < h; y++) {
    const base = y * w * cn;
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < cn; c++) {
        let s = 0;
        for (let k = 0; k < ksize; k++) s += kernel[k] * img.data[base + xIdx[x + k] + c];
        tmp[base + x * cn + c] = s;
      }
    }
  }
  const out = new Uint8Array(w * h * cn);
  const yIdx = new Int32Array(h + 2 * r);
  for (let i = 0; i < yIdx.length; i++) yIdx[i] = reflect(i - r, h) * w * cn;
  const rowLen = w * cn;
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < rowLen; i++) {
      let s = 0;
      for (let k = 0; k < ksize; k++) s += kernel[k] * tmp[yIdx[y + k] + i];
      out[y * rowLen + i] = saturateU8(s);
    }
  }
  return { width: w, height: h, channels: cn, data: out };
}

/** Step 5 (optional): 4 * img - 4 * blur + 128 with sigma = radius / 30, saturated to 0..255. */
export function benGraham(img: RgbImage, radius: number): RgbImage {
  const blur = gaussianBlur(img, radius / 30);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = 4 * img.data[i] - 4 * blur.data[i] + 128;
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { ...img, data: out };
}
