/**
 * Decoding for the pipeline, with JPEG shrink-on-load: the output is only `size` px wide, so a
 * 4288x2848 photograph can be decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg's
 * scale_denom, via libvips' jpegload `shrink`), which is several times faster than a full
 * decode. The factor is the largest of 1, 2, 4, 8 that keeps the shorter side >= size, the same
 * rule as bench/preprocess_ref.py, which reads with cv2.IMREAD_REDUCED_COLOR_<f>: both use
 * libjpeg's scaled IDCT and give identical pixels (checked on IDRiD). Geometry is still reported
 * in the file's pixels. Everything that is not a JPEG worth shrinking goes through core's
 * decodeImage unchanged.
 */
import sharp, { type Metadata } from 'sharp';
import { decodeImage, DEFAULT_MAX_PIXELS, DrXaiError, sniffImageFormat, type RgbImage } from '../core/index.ts';

export interface DecodedFundus {
  image: RgbImage;
  decodeFactor: number;
  sourceWidth: number;
  sourceHeight: number;
}

/** Largest f in {1, 2, 4, 8} with ceil(min(width, height) / f) >= size. */
export function shrinkFactor(width: number, height: number, size: number): number {
  const short = Math.min(width, height);
  let f = 1;
  for (const cand of [2, 4, 8]) if (Math.ceil(short / cand) >= size) f = cand;
  return f;
}

/**
 * Decode `bytes` (read from `file`) for a pipeline of output size `size`. With `shrinkOnLoad`
 * (default) JPEGs are decoded at reduced scale when that keeps the short side >= size.
 * Bad input raises core's one-line DrXaiError naming the file.
 */
export async function decodeFundus(bytes: Uint8Array, file: string, size: number, opts: { shrinkOnLoad?: boolean; maxPixels?: number } = {}): Promise<DecodedFundus> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if ((opts.shrinkOnLoad ?? true) && sniffImageFormat(bytes) === 'jpeg' && !/[[\]]/.test(file)) {
    let meta: Metadata | null = null;
    try {
      meta = await sharp(bytes).metadata();
    } catch {
      meta = null; // let decodeImage word the error
    }
    const w = meta?.width ?? 0;
    const h = meta?.height ?? 0;
    const f = meta ? shrinkFactor(w, h, size) : 1;
    // JPEGs are 8-bit without alpha; only size and colour need checking before the fast path.
    if (f > 1 && w * h <= maxPixels && meta?.channels === 3 && meta.space === 'srgb' && (meta.orientation ?? 1) === 1) {
      try {
        const { data, info } = await sharp(`${file}[shrink=${f}]`, { failOn: 'truncated', limitInputPixels: maxPixels }).raw().toBuffer({ resolveWithObject: true });
        if (info.channels === 3) {
          return {
            image: { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) },
            decodeFactor: f,
            sourceWidth: w,
            sourceHeight: h,
          };
        }
      } catch (e) {
        throw new DrXaiError(`corrupt or truncated image (${(e as Error).message.split('\n')[0]})`, { file });
      }
    }
  }
  const image = await decodeImage(bytes, file, { maxPixels });
  return { image, decodeFactor: 1, sourceWidth: image.width, sourceHeight: image.height };
}
