/**
 * Decoding for the pipeline, from bytes (a file's, an upload's or a DICOM frame's: one rule for
 * every entry point, so the same photograph gives the same pixels everywhere), with JPEG
 * shrink-on-load: the output is only `size` px wide, so a 4288x2848 photograph need not be
 * decoded at full size. The target is ceil(w/f) x ceil(h/f) with f the largest of 1, 2, 4, 8
 * that keeps the shorter side >= size. sharp reaches it by decoding in the DCT domain at f/2
 * (libjpeg's scaled IDCT through libvips' jpegload `shrink`; sharp keeps the last factor of two
 * for its Lanczos-3 reduce, to avoid libjpeg's rounding at exact factors) then reducing 2x: about
 * 1.5x faster than a full decode at 12 MP and far less memory. bench/preprocess_ref.py reads the
 * same way (cv2.IMREAD_REDUCED_COLOR_<f/2> + a Lanczos resize). Geometry is still reported in
 * the file's pixels. Everything that is not a JPEG worth shrinking goes through core's
 * decodeImage; DICOM files are unwrapped first (core's readDicomPhotograph).
 */
import sharp, { type Metadata } from 'sharp';
import { shrinkFactor } from './shrink.ts';
import { checkImageGeometry, corruptImageError, decodeImage, DEFAULT_MAX_PIXELS, DrXaiError, isDicom, readDicomPhotograph, sniffImageFormat, type RgbImage } from '../core/index.ts';

export interface DecodedFundus {
  image: RgbImage;
  decodeFactor: number;
  sourceWidth: number;
  sourceHeight: number;
  /** What the bytes were: 'jpeg', 'png', 'tiff', 'webp', or 'dicom' (with its pixel encoding). */
  format: string;
  /** A DICOM file's SOP Instance UID (an identifier of the image, not of the patient). */
  sopInstanceUid?: string;
}

export interface DecodeFundusOptions {
  /** Shrink JPEGs on load (default true); false decodes at full size. */
  shrinkOnLoad?: boolean;
  maxPixels?: number;
}

/**
 * Decode `bytes` (named `source` in messages) for a pipeline of output size `size`.
 * Bad input raises core's one-line DrXaiError naming the source.
 */
export async function decodeFundus(bytes: Uint8Array, source: string, size: number, opts: DecodeFundusOptions = {}): Promise<DecodedFundus> {
  if (isDicom(bytes)) {
    const dicom = readDicomPhotograph(bytes, source, { maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS });
    const uid = dicom.sopInstanceUid !== undefined ? { sopInstanceUid: dicom.sopInstanceUid } : {};
    if (dicom.pixels.kind === 'jpeg') {
      const inner = await decodeFundus(dicom.pixels.bytes, source, size, opts);
      return { ...inner, format: 'dicom/jpeg', ...uid };
    }
    const image = dicom.pixels.image;
    return { image, decodeFactor: 1, sourceWidth: image.width, sourceHeight: image.height, format: 'dicom/raw', ...uid };
  }
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const format = sniffImageFormat(bytes);
  if (bytes.length > 0 && !format) throw new DrXaiError('not a recognised image (expected PNG, JPEG, TIFF, WebP or DICOM)', { file: source, kind: 'not-an-image' });
  if ((opts.shrinkOnLoad ?? true) && format === 'jpeg') {
    let meta: Metadata | null = null;
    try {
      meta = await sharp(bytes).metadata();
    } catch {
      meta = null; // let decodeImage word the error
    }
    // EXIF orientations 5-8 turn the photograph by 90 degrees: the upright size swaps the sides.
    const turned = (meta?.orientation ?? 1) >= 5;
    const w = (turned ? meta?.height : meta?.width) ?? 0;
    const h = (turned ? meta?.width : meta?.height) ?? 0;
    const f = meta ? shrinkFactor(w, h, size) : 1;
    // JPEGs are 8-bit without alpha; only size and colour need checking before the fast path.
    if (meta) checkImageGeometry(w, h, maxPixels, source);
    if (f > 1 && meta?.channels === 3 && meta.space === 'srgb') {
      try {
        // autoOrient: upright first (as decodeImage does), then the reduce to the upright size.
        const { data, info } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels, autoOrient: true })
          .resize(Math.ceil(w / f), Math.ceil(h / f), { fit: 'fill', fastShrinkOnLoad: true })
          .raw()
          .toBuffer({ resolveWithObject: true });
        if (info.channels === 3) {
          return {
            image: { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) },
            decodeFactor: f,
            sourceWidth: w,
            sourceHeight: h,
            format,
          };
        }
      } catch {
        throw corruptImageError(format, source);
      }
    }
  }
  const image = await decodeImage(bytes, source, { maxPixels });
  return { image, decodeFactor: 1, sourceWidth: image.width, sourceHeight: image.height, format: format ?? 'unknown' };
}
