/**
 * On-the-fly training augmentation of preprocessed fundus images: flips, rotation, scale and
 * shift (one affine warp done by sharp/libvips, bilinear), then brightness, contrast and gamma
 * applied inside the retina only. Everything outside the (warped) retina stays black, as after
 * preprocessing, so the network never learns from the border.
 *
 * Each image's parameters come from its own Rng seeded by (run seed, epoch, sample index): the
 * draws do not depend on the order images are loaded in, so parallel loading and resumed runs
 * see exactly the same augmented images.
 */
import sharp from 'sharp';
import { Rng, type RgbImage } from '../core/index.ts';
import type { AugmentConfig } from './config.ts';

export interface AugmentParams {
  hflip: boolean;
  vflip: boolean;
  /** Degrees, counter-clockwise. */
  rotate: number;
  scale: number;
  /** Pixels. */
  shiftX: number;
  shiftY: number;
  brightness: number;
  contrast: number;
  gamma: number;
}

/** Mix (seed, epoch, index) into one 32-bit Rng seed (murmur3's fmix32 finaliser per word). */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  let h = seed >>> 0;
  for (const w of [epoch, index]) {
    h ^= w >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function drawAugment(rng: Rng, cfg: AugmentConfig, size: number): AugmentParams {
  return {
    hflip: rng.next() < cfg.hflip,
    vflip: rng.next() < cfg.vflip,
    rotate: rng.uniform(-cfg.rotate, cfg.rotate),
    scale: rng.uniform(1 - cfg.scale, 1 + cfg.scale),
    shiftX: Math.round(rng.uniform(-cfg.shift, cfg.shift) * size),
    shiftY: Math.round(rng.uniform(-cfg.shift, cfg.shift) * size),
    brightness: rng.uniform(1 - cfg.brightness, 1 + cfg.brightness),
    contrast: rng.uniform(1 - cfg.contrast, 1 + cfg.contrast),
    gamma: rng.uniform(1 - cfg.gamma, 1 + cfg.gamma),
  };
}

/** Pixels that are not black in any channel: the retina after preprocessing (outside is 0). */
export function retinaOf(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = img.data[3 * i] | img.data[3 * i + 1] | img.data[3 * i + 2] ? 255 : 0;
  return m;
}

/**
 * Warp with the 2x2 matrix (flips, rotation, scale) about the image centre, then shift; the
 * output keeps the input size. libvips' affine writes the bounding box of the transformed image;
 * its centre is the transformed centre, so we cut the size x size window around it (moved by
 * the shift), padding with black where the window leaves the box.
 */
async function warp(data: Uint8Array, width: number, height: number, channels: 1 | 3, m: [[number, number], [number, number]], shiftX: number, shiftY: number, interpolator: 'bilinear' | 'nearest'): Promise<Uint8Array> {
  const { data: out, info } = await sharp(data, { raw: { width, height, channels } })
    .affine(m, { background: { r: 0, g: 0, b: 0 }, interpolator: interpolator === 'bilinear' ? sharp.interpolators.bilinear : sharp.interpolators.nearest })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const oc = info.channels;
  const res = new Uint8Array(width * height * channels);
  const x0 = Math.round((info.width - width) / 2) - shiftX;
  const y0 = Math.round((info.height - height) / 2) - shiftY;
  for (let y = 0; y < height; y++) {
    const sy = y + y0;
    if (sy < 0 || sy >= info.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + x0;
      if (sx < 0 || sx >= info.width) continue;
      const s = (sy * info.width + sx) * oc;
      const d = (y * width + x) * channels;
      for (let c = 0; c < channels; c++) res[d + c] = out[s + c];
    }
  }
  return res;
}

/** Apply `p` to a preprocessed image; returns a new image of the same size. */
export async function applyAugment(img: RgbImage, p: AugmentParams): Promise<RgbImage> {
  const { width, height } = img;
  const a = (p.rotate * Math.PI) / 180;
  const cos = Math.cos(a) * p.scale;
  const sin = Math.sin(a) * p.scale;
  // Rotation-scale times the flips (a flip negates a column of the matrix).
  const fx = p.hflip ? -1 : 1;
  const fy = p.vflip ? -1 : 1;
  const m: [[number, number], [number, number]] = [
    [cos * fx, -sin * fy],
    [sin * fx, cos * fy],
  ];
  const [rgb, mask] = await Promise.all([
    warp(img.data, width, height, 3, m, p.shiftX, p.shiftY, 'bilinear'),
    warp(retinaOf(img), width, height, 1, m, p.shiftX, p.shiftY, 'nearest'),
  ]);
  // Photometric changes inside the retina: contrast about the retina's mean, brightness as a
  // gain, then gamma on [0, 1] (torchvision's adjust_* order: brightness, contrast, gamma).
  let sum = 0;
  let count = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    sum += rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2];
    count += 3;
  }
  const mean = count ? (sum / count) * p.brightness : 0;
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    for (let c = 0; c < 3; c++) {
      const v = rgb[3 * i + c] * p.brightness;
      const w = Math.min(255, Math.max(0, (v - mean) * p.contrast + mean));
      out[3 * i + c] = Math.round(255 * (w / 255) ** p.gamma);
    }
  }
  return { width, height, channels: 3, data: out };
}
