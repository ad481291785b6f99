import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { DrXaiError } from './errors.ts';
import { writeFileAtomic } from './fs.ts';
import { checkImageGeometry, DEFAULT_MAX_PIXELS } from './limits.ts';
import { sniffImageFormat, type ImageFormat } from './format.ts';

/** An 8-bit interleaved image in memory (channels = 3 for RGB, 1 for a single plane). */
export interface RgbImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export interface ImageLimits {
  /** Reject images above this many pixels before decoding (decompression bombs). */
  maxPixels?: number;
}

export { DEFAULT_MAX_PIXELS } from './limits.ts';

/**
 * The error for bytes the decoder gives up on. libvips keeps its error text in one buffer shared
 * by all threads, so under concurrent decodes its message may be another file's or "Unknown
 * error": the message names only the format, which is the same on every run.
 */
export function corruptImageError(format: ImageFormat | null, source: string): DrXaiError {
  return new DrXaiError(`corrupt or truncated ${format ? format.toUpperCase() : 'image'}`, { file: source, kind: 'corrupt' });
}

/**
 * Decode image bytes to 8-bit RGB with one clear message per kind of bad input.
 * Policy (why): the pipeline needs three 8-bit colour channels, so greyscale and 16-bit inputs
 * are refused rather than silently converted (a 16-bit scan rescaled by guesswork changes the
 * intensities CLAHE and Otsu see); an alpha channel is dropped only when it is fully opaque.
 * `source` names the file in messages.
 */
export async function decodeImage(bytes: Uint8Array, source: string, limits: ImageLimits = {}): Promise<RgbImage> {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new DrXaiError('empty file (0 bytes)', { file: source, kind: 'empty' });
  const format = sniffImageFormat(bytes);
  if (!format) throw new DrXaiError('not a recognised image (expected PNG, JPEG, TIFF or WebP)', { file: source, kind: 'not-an-image' });
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw corruptImageError(format, source);
  }
  const { width = 0, height = 0 } = meta;
  checkImageGeometry(width, height, maxPixels, source);
  if (meta.depth && meta.depth !== 'uchar' && meta.depth !== 'char') {
    throw new DrXaiError(`unsupported bit depth (${meta.depth}); an 8-bit colour photograph is needed`, { file: source, kind: 'unsupported-depth' });
  }
  const colourChannels = (meta.channels ?? 0) - (meta.hasAlpha ? 1 : 0);
  if (colourChannels < 3 || meta.space === 'b-w' || meta.space === 'grey16') {
    throw new DrXaiError('greyscale image; a colour fundus photograph is needed', { file: source, kind: 'greyscale' });
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    // autoOrient: EXIF orientation applied, so a photo from a camera held sideways reads upright.
    const pipeline = sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels, autoOrient: true });
    if (meta.hasAlpha) {
      // stats() describes every band of the input (it ignores extractChannel): alpha is the last.
      const stats = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels }).stats();
      if (stats.channels[stats.channels.length - 1].min < 255) {
        throw new DrXaiError('image has transparent pixels; a plain RGB photograph is needed', { file: source, kind: 'transparent' });
      }
    }
    raw = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (e instanceof DrXaiError) throw e;
    throw corruptImageError(format, source);
  }
  if (raw.info.channels !== 3) {
    throw new DrXaiError(`decoded to ${raw.info.channels} channels, expected 3`, { file: source });
  }
  return {
    width: raw.info.width,
    height: raw.info.height,
    channels: 3,
    data: new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.length),
  };
}

/** Encode an in-memory image as PNG bytes. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  const pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
  // sharp widens raw single-plane input to sRGB unless told otherwise; keep masks one-channel.
  return (img.channels === 1 ? pipeline.toColourspace('b-w') : pipeline).png({ compressionLevel: 6 }).toBuffer();
}

/** Write an image as PNG, atomically. */
export async function writePng(img: RgbImage, file: string): Promise<void> {
  await writeFileAtomic(file, await encodePng(img));
}
