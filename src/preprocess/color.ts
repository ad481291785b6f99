/**
 * 8-bit sRGB <-> CIE L*a*b* with OpenCV's 8-bit conventions (cv2.COLOR_RGB2Lab / COLOR_Lab2RGB
 * on uint8: L scaled to 0..255 as L*255/100, a and b offset by 128; D65 white; sRGB gamma),
 * and the green-channel emphasis of step 4.
 *
 * Forward: OpenCV's fixed-point path (imgproc/color_lab.cpp RGB2Lab_b): gamma table scaled
 * by 8, XYZ coefficients scaled by 2^12, cube-root table scaled by 2^15. Backward: the float
 * formula of Lab2RGB_f with the inverse gamma through a fine table. Tests hold both to within
 * one grey level of cv2 4.6 (its newer bit-exact tables differ from these in rare last bits).
 */
import type { RgbImage } from '../core/index.ts';
import { roundHalfEven, saturateU8 } from './rounding.ts';

// sRGB primaries to XYZ and the D65 white point, as OpenCV (sRGB2XYZ_D65, D65).
const SRGB_TO_XYZ = [0.412453, 0.35758, 0.180423, 0.212671, 0.71516, 0.072169, 0.019334, 0.119193, 0.950227];
const XYZ_TO_SRGB = [3.240479, -1.53715, -0.498535, -0.969256, 1.875991, 0.041556, 0.055648, -0.204043, 1.057311];
const D65 = [0.950456, 1, 1.088754];

/** sRGB transfer function (IEC 61966-2-1), gamma-encoded [0,1] -> linear [0,1]. */
function srgbToLinear(x: number): number {
  return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
}
function linearToSrgb(x: number): number {
  return x <= 0.0031308 ? x * 12.92 : 1.055 * Math.pow(x, 1 / 2.4) - 0.055;
}

const LAB_SHIFT = 12;
const GAMMA_SHIFT = 3;
const LAB_SHIFT2 = LAB_SHIFT + GAMMA_SHIFT;
const CBRT_TAB_SIZE = 256 * 3 / 2 * (1 << GAMMA_SHIFT);

let forward: { gamma: Uint16Array; cbrt: Uint16Array; c: Int32Array } | null = null;
function forwardTables() {
  if (forward) return forward;
  const gamma = new Uint16Array(256);
  for (let i = 0; i < 256; i++) gamma[i] = roundHalfEven(255 * (1 << GAMMA_SHIFT) * srgbToLinear(i / 255));
  const cbrt = new Uint16Array(CBRT_TAB_SIZE);
  for (let i = 0; i < CBRT_TAB_SIZE; i++) {
    const x = i / (255 * (1 << GAMMA_SHIFT));
    // CIE f(t): cube root above (6/29)^3, linear segment 7.787 t + 16/116 below.
    cbrt[i] = roundHalfEven((1 << LAB_SHIFT2) * (x < 0.008856 ? x * 7.787 + 16 / 116 : Math.cbrt(x)));
  }
  const c = new Int32Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) c[i * 3 + j] = roundHalfEven(((1 << LAB_SHIFT) * SRGB_TO_XYZ[i * 3 + j]) / D65[i]);
  forward = { gamma, cbrt, c };
  return forward;
}

/**
 * Conversion caches: both conversions are pure functions of a 24-bit colour, and neighbouring
 * fundus pixels repeat colours (about 90% hits on IDRiD), so each keeps a direct-mapped table
 * of recent colours (key = packed input, value = packed output, per thread: module state).
 * A hit returns exactly what the arithmetic returned for that colour.
 */
const CACHE_BITS = 16;
const HASH_MUL = 0x9e3779b1 | 0; // Fibonacci hashing
function colourCache() {
  return { keys: new Int32Array(1 << CACHE_BITS).fill(-1), values: new Int32Array(1 << CACHE_BITS) };
}
const fwdCache = colourCache();
const invCache = colourCache();

/**
 * RGB (3-channel, 8-bit) to OpenCV 8-bit Lab, interleaved L,a,b. With `blackOutside`, pixels
 * where it is 0 must be black (the masked photograph) and get black's Lab without the per-pixel
 * arithmetic.
 */
export function rgbToLab(img: RgbImage, blackOutside?: Uint8Array): RgbImage {
  const out = new Uint8Array(img.data.length);
  rgbToLabInto(img, blackOutside, out, out.subarray(1), out.subarray(2), 3);
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/** rgbToLab into three planes (what CLAHE on L needs, without interleaving and picking L out). */
export function rgbToLabPlanes(img: RgbImage, blackOutside?: Uint8Array): { L: Uint8Array; a: Uint8Array; b: Uint8Array } {
  const n = img.width * img.height;
  const L = new Uint8Array(n), a = new Uint8Array(n), b = new Uint8Array(n);
  rgbToLabInto(img, blackOutside, L, a, b, 1);
  return { L, a, b };
}

/** The conversion itself: pixel p's L, a, b go to outL/outA/outB[p * step]. */
function rgbToLabInto(img: RgbImage, blackOutside: Uint8Array | undefined, outL: Uint8Array, outA: Uint8Array, outB: Uint8Array, step: number): void {
  const { gamma, cbrt, c } = forwardTables();
  const src = img.data;
  const half = 1 << (LAB_SHIFT - 1);
  const half2 = 1 << (LAB_SHIFT2 - 1);
  const Lscale = Math.trunc((116 * 255 + 50) / 100);
  const Lshift = -Math.trunc((16 * 255 * (1 << LAB_SHIFT2) + 50) / 100);
  const ab0 = 128 * (1 << LAB_SHIFT2);
  // black's Lab through the same arithmetic, once
  const black = blackOutside ? rgbToLab({ width: 1, height: 1, channels: 3, data: new Uint8Array(3) }).data : null;
  const blackL = black ? black[0] : 0, blackA = black ? black[1] : 0, blackB = black ? black[2] : 0;
  for (let i = 0, p = 0, o = 0; i < src.length; i += 3, p++, o += step) {
    if (blackOutside && blackOutside[p] === 0) {
      outL[o] = blackL;
      outA[o] = blackA;
      outB[o] = blackB;
      continue;
    }
    const key = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
    const slot = Math.imul(key, HASH_MUL) >>> (32 - CACHE_BITS);
    if (fwdCache.keys[slot] === key) {
      const v = fwdCache.values[slot];
      outL[o] = v >>> 16;
      outA[o] = (v >>> 8) & 255;
      outB[o] = v & 255;
      continue;
    }
    const R = gamma[src[i]], G = gamma[src[i + 1]], B = gamma[src[i + 2]];
    const fX = cbrt[(R * c[0] + G * c[1] + B * c[2] + half) >> LAB_SHIFT];
    const fY = cbrt[(R * c[3] + G * c[4] + B * c[5] + half) >> LAB_SHIFT];
    const fZ = cbrt[(R * c[6] + G * c[7] + B * c[8] + half) >> LAB_SHIFT];
    const L = (Lscale * fY + Lshift + half2) >> LAB_SHIFT2;
    const a = (500 * (fX - fY) + ab0 + half2) >> LAB_SHIFT2;
    const b = (200 * (fY - fZ) + ab0 + half2) >> LAB_SHIFT2;
    const L8 = L < 0 ? 0 : L > 255 ? 255 : L;
    const a8 = a < 0 ? 0 : a > 255 ? 255 : a;
    const b8 = b < 0 ? 0 : b > 255 ? 255 : b;
    outL[o] = L8;
    outA[o] = a8;
    outB[o] = b8;
    fwdCache.keys[slot] = key;
    fwdCache.values[slot] = (L8 << 16) | (a8 << 8) | b8;
  }
}

const INV_GAMMA_TAB = 1 << 16;
let inverse: { invGamma: Uint8Array; fy: Float64Array; y: Float64Array } | null = null;
function inverseTables() {
  if (inverse) return inverse;
  // linear [0,1] -> 8-bit sRGB, sampled finely enough that rounding at the table is < 0.06 level.
  const invGamma = new Uint8Array(INV_GAMMA_TAB + 1);
  for (let i = 0; i <= INV_GAMMA_TAB; i++) invGamma[i] = saturateU8(255 * linearToSrgb(i / INV_GAMMA_TAB));
  // per 8-bit L: f(Y) and Y (CIE inverse with OpenCV's thresholds)
  const fy = new Float64Array(256);
  const y = new Float64Array(256);
  for (let l = 0; l < 256; l++) {
    const li = (l * 100) / 255;
    if (li <= 0.008856 * 903.3) {
      y[l] = li / 903.3;
      fy[l] = 7.787 * y[l] + 16 / 116;
    } else {
      fy[l] = (li + 16) / 116;
      y[l] = fy[l] ** 3;
    }
  }
  inverse = { invGamma, fy, y };
  return inverse;
}

/**
 * OpenCV 8-bit Lab (interleaved L,a,b) back to 8-bit RGB, out-of-gamut values clipped. With
 * `keep`, pixels where it is 0 are set to black instead (the pipeline's mask).
 */
export function labToRgb(lab: RgbImage, keep?: Uint8Array): RgbImage {
  const d = lab.data;
  return labPlanesToRgb(d, d.subarray(1), d.subarray(2), 3, lab.width, lab.height, keep);
}

/**
 * labToRgb from planes L, a, b, pixel p at index p * step of each. With `greenEmphasised`, the
 * result is greenEmphasisPlane of that RGB image (one grey plane), without the RGB buffer.
 */
export function labPlanesToRgb(srcL: Uint8Array, srcA: Uint8Array, srcB: Uint8Array, step: number, width: number, height: number, keep?: Uint8Array, greenEmphasised = false): RgbImage {
  const { invGamma, fy: fyTab, y: yTab } = inverseTables();
  const n = width * height;
  const out = new Uint8Array(greenEmphasised ? n : n * 3);
  for (let p = 0, i = 0, s = 0; p < n; p++, i += 3, s += step) {
    if (keep && keep[p] === 0) continue; // out is zero-filled
    const l = srcL[s];
    const key = (l << 16) | (srcA[s] << 8) | srcB[s];
    const slot = Math.imul(key, HASH_MUL) >>> (32 - CACHE_BITS);
    let rgb: number;
    if (invCache.keys[slot] === key) {
      rgb = invCache.values[slot];
    } else {
      rgb = labPixelToRgb(l, srcA[s], srcB[s], fyTab, yTab, invGamma);
      invCache.keys[slot] = key;
      invCache.values[slot] = rgb;
    }
    const R = rgb >>> 16, G = (rgb >>> 8) & 255, B = rgb & 255;
    if (greenEmphasised) {
      out[p] = greenOf(R, G, B);
    } else {
      out[i] = R;
      out[i + 1] = G;
      out[i + 2] = B;
    }
  }
  return { width, height, channels: greenEmphasised ? 1 : 3, data: out };
}

// XYZ -> linear sRGB with the D65 white folded in (X = fx^3 * Xn, Z = fz^3 * Zn), as Lab2RGB_f.
const F_THRESH = 7.787 * 0.008856 + 16 / 116;
const M0 = XYZ_TO_SRGB[0] * D65[0], M1 = XYZ_TO_SRGB[1], M2 = XYZ_TO_SRGB[2] * D65[2];
const M3 = XYZ_TO_SRGB[3] * D65[0], M4 = XYZ_TO_SRGB[4], M5 = XYZ_TO_SRGB[5] * D65[2];
const M6 = XYZ_TO_SRGB[6] * D65[0], M7 = XYZ_TO_SRGB[7], M8 = XYZ_TO_SRGB[8] * D65[2];

/** One pixel of labToRgb (Lab2RGB_f with OpenCV's 8-bit scaling), packed as R << 16 | G << 8 | B. */
function labPixelToRgb(l: number, a8: number, b8: number, fyTab: Float64Array, yTab: Float64Array, invGamma: Uint8Array): number {
  const fy = fyTab[l];
  const Y = yTab[l];
  let fx = (a8 - 128) / 500 + fy;
  let fz = fy - (b8 - 128) / 200;
  fx = fx <= F_THRESH ? (fx - 16 / 116) / 7.787 : fx * fx * fx;
  fz = fz <= F_THRESH ? (fz - 16 / 116) / 7.787 : fz * fz * fz;
  let r = M0 * fx + M1 * Y + M2 * fz;
  let g = M3 * fx + M4 * Y + M5 * fz;
  let b = M6 * fx + M7 * Y + M8 * fz;
  r = r <= 0 ? 0 : r >= 1 ? 1 : r;
  g = g <= 0 ? 0 : g >= 1 ? 1 : g;
  b = b <= 0 ? 0 : b >= 1 ? 1 : b;
  return (invGamma[(r * INV_GAMMA_TAB + 0.5) | 0] << 16) | (invGamma[(g * INV_GAMMA_TAB + 0.5) | 0] << 8) | invGamma[(b * INV_GAMMA_TAB + 0.5) | 0];
}

/**
 * Step 4: green-channel emphasis, grey = 0.1 R + 0.8 G + 0.1 B copied to all three channels
 * (green carries most of the vessel/lesion contrast in fundus photographs), computed exactly in
 * integers as (R + 8G + B + 5) / 10, i.e. rounded half up.
 */
export function greenEmphasis(img: RgbImage): RgbImage {
  return greyToRgb(greenEmphasisPlane(img));
}

/** greenEmphasis as one grey plane (1 channel): the pipeline resizes one plane, not three equal ones. */
export function greenEmphasisPlane(img: RgbImage): RgbImage {
  const src = img.data;
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0, p = 0; i < src.length; i += 3, p++) out[p] = greenOf(src[i], src[i + 1], src[i + 2]);
  return { width: img.width, height: img.height, channels: 1, data: out };
}

/** The step-4 grey value of one pixel: (R + 8G + B + 5) / 10, rounded down. */
function greenOf(r: number, g: number, b: number): number {
  return ((r + 8 * g + b + 5) / 10) | 0;
}

/** A 1-channel plane as a 3-channel image with R = G = B. */
export function greyToRgb(plane: RgbImage): RgbImage {
  const src = plane.data;
  const out = new Uint8Array(src.length * 3);
  for (let p = 0, i = 0; p < src.length; p++, i += 3) out[i] = out[i + 1] = out[i + 2] = src[p];
  return { width: plane.width, height: plane.height, channels: 3, data: out };
}
