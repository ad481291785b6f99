/** Small picture helpers shared by the CAM and lesion boards. */
import sharp from 'sharp';
import type { CsvValue, RgbImage } from '../core/index.ts';
import { drawContour, overlayHeat } from './overlay.ts';
import { anyLesion, type LesionPlanes } from './score.ts';

export const LESION_CONTOUR: [number, number, number] = [255, 255, 255];
export const OD_CONTOUR: [number, number, number] = [255, 0, 255];

/** Downscale (area) so the long side is at most `max`; returns the image itself when smaller. */
export async function shrink(img: RgbImage, max: number): Promise<RgbImage> {
  if (img.width <= max && img.height <= max) return img;
  const s = max / Math.max(img.width, img.height);
  const width = Math.max(1, Math.round(img.width * s));
  const height = Math.max(1, Math.round(img.height * s));
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } }).resize(width, height, { kernel: 'lanczos3' }).raw().toBuffer();
  return { width, height, channels: img.channels, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
}

/** The preprocessed image and its overlay, both with lesion (white) and optic-disc (magenta) outlines when masks are given. */
export function imageAndOverlay(image: RgbImage, map: Float32Array, retina: Uint8Array, lesions?: LesionPlanes): [RgbImage, RgbImage] {
  const plain: RgbImage = { ...image, data: image.data.slice() };
  const over = overlayHeat(image, map, { retina });
  if (lesions) {
    const union = anyLesion(lesions);
    for (const img of [plain, over]) {
      drawContour(img, union, LESION_CONTOUR);
      drawContour(img, lesions.OD, OD_CONTOUR);
    }
  }
  return [plain, over];
}

/** A CSV value with non-integers cut to six significant digits (the tables' precision). */
export function sixDigits(v: CsvValue): CsvValue {
  return typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v;
}
