/**
 * On-the-fly training augmentation of preprocessed fundus images: flips, rotation, scale and
 * shift (one affine warp done by sharp/libvips, bilinear), then brightness, contrast and gamma
 * applied inside the retina only (the pixels that are not black). Everything outside the warped
 * retina stays black, as after preprocessing, so the network never learns from the border.
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
  const p: AugmentParams = {
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
  // Drawn last and only when asked, so the draws of runs without it are unchanged (and resume).
  if (cfg.quarter_turns) p.rotate += 90 * rng.int(4);
  return p;
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
 * output keeps the input size. libvips' affine writes the bounding box of the transformed image,
 * centred on the transformed centre, so we cut the size x size window around it (moved by the
 * shift), padding with black where the window leaves the box. libvips' pixel-corner convention
 * can leave the result up to one pixel off the exact centre (a flip lands one pixel over):
 * for augmentation that is one more pixel of shift.
 */
async function warp(img: RgbImage, m: [[number, number], [number, number]], shiftX: number, shiftY: number): Promise<Uint8Array> {
  const { width, height } = img;
  const { data: out, info } = await sharp(img.data, { raw: { width, height, channels: 3 } })
    .affine(m, { background: { r: 0, g: 0, b: 0 }, interpolator: sharp.interpolators.bilinear })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const res = new Uint8Array(width * height * 3);
  const x0 = Math.floor((info.width - width) / 2) - shiftX;
  const y0 = Math.floor((info.height - height) / 2) - shiftY;
  for (let y = 0; y < height; y++) {
    const sy = y + y0;
    if (sy < 0 || sy >= info.height) continue;
    const xFrom = Math.max(0, -x0);
    const xTo = Math.min(width, info.width - x0);
    if (xTo > xFrom) res.set(out.subarray((sy * info.width + x0 + xFrom) * 3, (sy * info.width + x0 + xTo) * 3), (y * width + xFrom) * 3);
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
  const rgb = await warp(img, m, p.shiftX, p.shiftY);
  // The background is black before and after the warp, so the warped retina is where the
  // warped image is not black.
  const mask = retinaOf({ width, height, channels: 3, data: rgb });
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
