/**
 * Where each output pixel comes from: steps 0 (optional squash to a square), 2 (crop to the retina's bounding box, zero-pad to a
 * square) and 6 (resize the long side to N, zero-pad to N x N). The same two functions move the
 * photograph and any plane of the source's size (lesion masks), so they stay pixel-aligned.
 */
import { DrXaiError, type RgbImage } from '../core/index.ts';
import type { Box, Circle } from './circle.ts';
import { resizeArea, resizeNearest } from './resize.ts';
import { roundHalfEven } from './rounding.ts';

export interface PreprocessGeometry {
  /** Size of the image as stored in the file. */
  sourceWidth: number;
  sourceHeight: number;
  /** The pipeline ran on the image decoded at 1/decodeFactor (JPEG DCT scaling); 1 = full size. */
  decodeFactor: number;
  /**
   * Step 0 (the `squash` option): the photograph was resized to this square frame, in file-scale
   * pixels, before anything else; crop and padding are then in the squashed frame. Null: aspect kept.
   */
  squash: { width: number; height: number } | null;
  /** Crop box in source pixels (the retina's bounding box, or the whole frame with crop off). */
  crop: Box;
  /** Zero padding added left/top of the crop to make it square, and the padded size, in source pixels. */
  padLeft: number;
  padTop: number;
  paddedWidth: number;
  paddedHeight: number;
  /** Output pixels per source pixel (of the squashed frame after a squash). */
  scale: number;
  /** The resized crop's size and its offset inside the size x size output. */
  resizedWidth: number;
  resizedHeight: number;
  offsetX: number;
  offsetY: number;
  size: number;
  /** The retina circle (after the 0.98 shrink) in output pixels; null with the mask off. */
  circle: Circle | null;
}

/** Copy `box` out of `img` and zero-pad it to padded size, the box placed at (padLeft, padTop). */
export function cropAndPad(img: RgbImage, box: Box, paddedWidth: number, paddedHeight: number, padLeft: number, padTop: number): RgbImage {
  const cn = img.channels;
  const out = new Uint8Array(paddedWidth * paddedHeight * cn);
  const rowBytes = box.width * cn;
  for (let y = 0; y < box.height; y++) {
    const s = ((box.y + y) * img.width + box.x) * cn;
    out.set(img.data.subarray(s, s + rowBytes), ((padTop + y) * paddedWidth + padLeft) * cn);
  }
  return { width: paddedWidth, height: paddedHeight, channels: cn, data: out };
}

/** Resize to resizedWidth x resizedHeight and place at (offsetX, offsetY) in a size x size zero frame. */
export function resizeAndPad(img: RgbImage, g: Pick<PreprocessGeometry, 'resizedWidth' | 'resizedHeight' | 'offsetX' | 'offsetY' | 'size'>, interpolation: 'area' | 'nearest'): RgbImage {
  const resized = interpolation === 'area' ? resizeArea(img, g.resizedWidth, g.resizedHeight) : resizeNearest(img, g.resizedWidth, g.resizedHeight);
  if (g.resizedWidth === g.size && g.resizedHeight === g.size) return resized;
  const cn = img.channels;
  const out = new Uint8Array(g.size * g.size * cn);
  const rowBytes = g.resizedWidth * cn;
  for (let y = 0; y < g.resizedHeight; y++) {
    out.set(resized.data.subarray(y * rowBytes, (y + 1) * rowBytes), ((g.offsetY + y) * g.size + g.offsetX) * cn);
  }
  return { width: g.size, height: g.size, channels: cn, data: out };
}

/**
 * Step 6 sizes: long side to `size` (Python round(), i.e. half to even, for the short side),
 * centred with zero padding.
 */
export function fitSquare(paddedWidth: number, paddedHeight: number, size: number) {
  const s = size / Math.max(paddedWidth, paddedHeight);
  const resizedWidth = Math.max(1, roundHalfEven(paddedWidth * s));
  const resizedHeight = Math.max(1, roundHalfEven(paddedHeight * s));
  return { resizedWidth, resizedHeight, offsetX: (size - resizedWidth) >> 1, offsetY: (size - resizedHeight) >> 1, size };
}

/**
 * Step 2 sizes for a crop box: square side max(w, h), the box centred (floor of half the slack
 * on the left/top, as the reference's integer division).
 */
export function padToSquare(box: Box): { paddedWidth: number; paddedHeight: number; padLeft: number; padTop: number } {
  const side = Math.max(box.width, box.height);
  return { paddedWidth: side, paddedHeight: side, padLeft: (side - box.width) >> 1, padTop: (side - box.height) >> 1 };
}

/**
 * Put a plane of the SOURCE size (e.g. a lesion mask of the original photograph) through
 * exactly the crop / pad / resize / pad that produced the output image. 'nearest' keeps binary
 * masks binary; 'area' averages (soft masks, heat maps). Returns size*size values.
 */
export function applyGeometry(plane: Uint8Array, width: number, height: number, g: PreprocessGeometry, opts: { interpolation: 'nearest' | 'area' } = { interpolation: 'nearest' }): Uint8Array {
  if (width !== g.sourceWidth || height !== g.sourceHeight || plane.length !== width * height) {
    throw new DrXaiError(`plane is ${width}x${height} (${plane.length} values) but the image was ${g.sourceWidth}x${g.sourceHeight}`);
  }
  const source: RgbImage = { width, height, channels: 1, data: plane };
  const img = !g.squash ? source : opts.interpolation === 'area' ? resizeArea(source, g.squash.width, g.squash.height) : resizeNearest(source, g.squash.width, g.squash.height);
  const padded = cropAndPad(img, g.crop, g.paddedWidth, g.paddedHeight, g.padLeft, g.padTop);
  return resizeAndPad(padded, g, opts.interpolation).data;
}
