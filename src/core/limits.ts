/**
 * What one photograph may cost, checked from its header before a pixel is decoded (browser-safe:
 * the DICOM reader and the page use it too). The pipeline pads the retina's crop to a square, so
 * the padded canvas max(w, h)^2 is what memory and time scale with, not w x h: a 49,000,000 x 1
 * PNG is 49 megapixels but a 2.4e15-pixel canvas. Fundus cameras write 4:3 to 16:9 frames; an
 * aspect ratio beyond 4:1 is not a fundus photograph and is refused rather than guessed at.
 */
import { DrXaiError } from './errors.ts';

/** 100 megapixels: well above any fundus camera (IDRiD is 12 MP), well below a bomb. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Longest side over shortest side beyond which an image is refused. */
export const MAX_ASPECT_RATIO = 4;

/** Throw the one-line reason when a width x height image would cost more than `maxPixels`. */
export function checkImageGeometry(width: number, height: number, maxPixels: number, source: string): void {
  const mp = (n: number) => (n / 1e6).toFixed(1);
  if (width * height > maxPixels) {
    throw new DrXaiError(`image too large: ${width}x${height} = ${mp(width * height)} megapixels (limit ${(maxPixels / 1e6).toFixed(0)})`, { file: source, kind: 'too-large' });
  }
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  if (short === 0 || long / short > MAX_ASPECT_RATIO) {
    throw new DrXaiError(`implausible size for a fundus photograph: ${width}x${height} (aspect ratio above ${MAX_ASPECT_RATIO}:1)`, { file: source, kind: 'too-large' });
  }
  if (long * long > maxPixels) {
    throw new DrXaiError(`image too large: ${width}x${height} pads to a ${long}x${long} square = ${mp(long * long)} megapixels (limit ${(maxPixels / 1e6).toFixed(0)})`, { file: source, kind: 'too-large' });
  }
}
