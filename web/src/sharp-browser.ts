/**
 * `sharp` for the browser build: modules the page imports (src/preprocess/index.ts through
 * src/models) also export sharp-based helpers the page never calls; this stand-in lets them load.
 */
export default function sharp(): never {
  throw new Error('sharp needs Node.js; the page decodes images with createImageBitmap');
}
