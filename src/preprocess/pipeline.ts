/**
 * The fundus preprocessing pipeline of the reference study, each step a switch:
 *  1. retina mask (mask.ts; with a convex-hull fill we added, see there), outside set to 0;
 *  2. crop to the mask's bounding box, zero-pad to a square (geometry.ts);
 *  3. CLAHE on L of Lab, clip 2.0, 8x8 tiles (clahe.ts, color.ts);
 *  4. green-channel emphasis 0.1R + 0.8G + 0.1B on all three channels (color.ts);
 *  5. optional Ben Graham contrast, sigma = radius / 30 (bengraham.ts);
 *  6. long side to `size` with INTER_AREA, zero-pad to size x size (geometry.ts, resize.ts).
 * After steps 3-5 pixels outside the retina are set to 0 again (CLAHE would lift them).
 * bench/preprocess_ref.py is the same pipeline in OpenCV-Python.
 */
import { z } from 'zod';
import { DrXaiError, type RgbImage } from '../core/index.ts';
import { benGraham } from './bengraham.ts';
import { clahe } from './clahe.ts';
import { greenEmphasisPlane, greyToRgb, labPlanesToRgb, rgbToLabPlanes } from './color.ts';
import { cropAndPad, fitSquare, padToSquare, resizeAndPad, type PreprocessGeometry } from './geometry.ts';
import { boundingBox, type Box, type Circle } from './circle.ts';
import { CIRCLE_SHRINK, retinaMask } from './mask.ts';
import { qualityScore, type QualityReport } from './quality.ts';

export const PreprocessConfigSchema = z
  .object({
    size: z.number().int().min(16).max(4096),
    /** true: the retina mask with its field-of-view check (mask.ts); 'study': the study's Otsu mask as published; false: none. */
    mask: z.union([z.boolean(), z.literal('study')]),
    crop: z.boolean(),
    clahe: z.boolean(),
    claheClipLimit: z.number().positive().max(1000),
    claheTileGrid: z.number().int().min(1).max(64),
    green: z.boolean(),
    benGraham: z.boolean(),
  })
  .strict();

export type PreprocessConfig = z.infer<typeof PreprocessConfigSchema>;

export const DEFAULT_PREPROCESS: Readonly<PreprocessConfig> = Object.freeze({
  size: 448,
  mask: true,
  crop: true,
  clahe: true,
  claheClipLimit: 2.0,
  claheTileGrid: 8,
  green: true,
  benGraham: false,
});

/** Defaults overlaid with `cfg`, validated (a bad value raises DrXaiError naming the field). */
export function resolveConfig(cfg: Partial<PreprocessConfig> = {}): PreprocessConfig {
  const merged = { ...DEFAULT_PREPROCESS, ...Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) };
  const parsed = PreprocessConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DrXaiError(`invalid preprocessing option ${issue.path.join('.') || '(config)'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface PreprocessSteps {
  /** Retina mask in the processed (decoded) geometry, 1 channel 0/255. */
  mask: RgbImage;
  /** After steps 1-2: masked, cropped, padded. */
  cropped: RgbImage;
  clahe?: RgbImage;
  green?: RgbImage;
  benGraham?: RgbImage;
}

export interface PreprocessResult {
  /** size x size, 3 channels. */
  image: RgbImage;
  /** size*size, 0/255: the retina mask in output geometry (nearest-neighbour resize). */
  mask: Uint8Array;
  geometry: PreprocessGeometry;
  quality: QualityReport;
  config: PreprocessConfig;
  steps?: PreprocessSteps;
}

export interface PreprocessOptions {
  keepSteps?: boolean;
  /** File name for error messages. */
  source?: string;
  /** The image was decoded at 1/decodeFactor of the file's size (see decodeFundus); geometry is reported in file pixels. */
  decodeFactor?: number;
  sourceWidth?: number;
  sourceHeight?: number;
  /**
   * When given, milliseconds spent in each step are added to it under the step's name
   * (profiling): median (of the mask step), mask (the rest of it), crop, quality, clahe, green,
   * benGraham, resize.
   */
  timings?: Record<string, number>;
}

function zeroOutside(img: RgbImage, mask: Uint8Array): RgbImage {
  const d = img.data;
  for (let i = 0, j = 0; i < mask.length; i++, j += 3) if (mask[i] === 0) d[j] = d[j + 1] = d[j + 2] = 0;
  return img;
}

/**
 * Run the pipeline on one decoded RGB image. Synchronous and CPU-bound (run it in worker
 * threads for batches; see runPreprocess). Raises DrXaiError when no retina is found.
 */
export function preprocessFundus(img: RgbImage, cfg: Partial<PreprocessConfig> = {}, opts: PreprocessOptions = {}): PreprocessResult {
  const config = resolveConfig(cfg);
  if (img.channels !== 3) throw new DrXaiError(`expected a 3-channel RGB image, got ${img.channels}`, { file: opts.source });
  const { width, height } = img;
  const f = opts.decodeFactor ?? 1;
  const sourceWidth = opts.sourceWidth ?? width * f;
  const sourceHeight = opts.sourceHeight ?? height * f;
  const timings = opts.timings;
  let lapStart = timings ? performance.now() : 0;
  const lap = (step: string) => {
    if (!timings) return;
    const now = performance.now();
    timings[step] = (timings[step] ?? 0) + now - lapStart;
    lapStart = now;
  };

  // 1. retina mask
  let mask: Uint8Array;
  let circle: Circle | null = null;
  let solidity = 1;
  let maskBox: Box | null = null;
  let medianBefore = 0;
  let work: RgbImage = img; // the input is never written: step 2 (or a copy) makes our own buffer
  if (config.mask) {
    medianBefore = timings?.median ?? 0;
    const rm = retinaMask(img, { source: opts.source, timings, method: config.mask === 'study' ? 'study' : 'default' });
    mask = rm.mask;
    circle = { cx: rm.circle.cx, cy: rm.circle.cy, r: CIRCLE_SHRINK * rm.circle.r };
    solidity = rm.solidity;
    maskBox = rm.box;
  } else {
    mask = new Uint8Array(width * height).fill(255);
  }
  lap('mask');
  if (timings && config.mask) timings.mask -= timings.median - medianBefore; // the median is reported on its own
  // 2. crop + pad to square
  let box: Box = { x: 0, y: 0, width, height };
  let pad = { paddedWidth: width, paddedHeight: height, padLeft: 0, padTop: 0 };
  if (config.crop) {
    box = maskBox ?? boundingBox(mask, width, height) ?? box;
    pad = padToSquare(box);
    work = cropAndPad(work, box, pad.paddedWidth, pad.paddedHeight, pad.padLeft, pad.padTop);
    mask = cropAndPad({ width, height, channels: 1, data: mask }, box, pad.paddedWidth, pad.paddedHeight, pad.padLeft, pad.padTop).data;
  } else {
    work = { ...img, data: img.data.slice() };
  }
  if (config.mask) zeroOutside(work, mask); // step 1's "outside set to 0", done on the smaller crop
  const cropped = work;
  lap('crop');
  const quality = qualityScore(cropped, mask, width * height, solidity);
  lap('quality');
  const steps: PreprocessSteps | undefined = opts.keepSteps
    ? { mask: { width: pad.paddedWidth, height: pad.paddedHeight, channels: 1, data: mask }, cropped: { ...cropped, data: cropped.data.slice() } }
    : undefined;
  // 3. CLAHE on L of Lab
  // Pixels outside the mask are black from here on, so the colour steps skip them (they would
  // be zeroed after each step anyway); `work` stays zero there.
  // 4. (below) green emphasis, kept as one grey plane while nothing needs three channels
  let grey: RgbImage | null = null;
  if (config.clahe) {
    const lab = rgbToLabPlanes(work, mask);
    const Lc = clahe(lab.L, work.width, work.height, config.claheClipLimit, config.claheTileGrid, config.claheTileGrid, mask);
    // without steps to show, Lab -> RGB -> green emphasis in one pass (no RGB buffer)
    const fused = config.green && !steps;
    const converted = labPlanesToRgb(Lc, lab.a, lab.b, 1, work.width, work.height, mask, fused);
    if (fused) grey = converted;
    else work = converted;
    if (steps) steps.clahe = work;
    lap('clahe');
  }
  if (config.green && !grey) {
    grey = greenEmphasisPlane(work); // (0 + 0 + 0 + 5) / 10 = 0: still black outside
    if (steps) steps.green = greyToRgb(grey);
    lap('green');
  }
  // 5. Ben Graham (radius of the retina circle, or half the long side with the mask off)
  if (config.benGraham) {
    if (grey) work = greyToRgb(grey), (grey = null);
    work = zeroOutside(benGraham(work, circle ? circle.r : Math.max(width, height) / 2), mask);
    if (steps) steps.benGraham = work;
    lap('benGraham');
  }
  // 6. resize + pad (INTER_AREA works on each channel alone, so a grey plane resized once and
  // copied to three channels equals the three-channel resize)
  const fit = fitSquare(pad.paddedWidth, pad.paddedHeight, config.size);
  const image = grey ? greyToRgb(resizeAndPad(grey, fit, 'area')) : resizeAndPad(work, fit, 'area');
  const outMask = resizeAndPad({ width: pad.paddedWidth, height: pad.paddedHeight, channels: 1, data: mask }, fit, 'nearest').data;
  lap('resize');
  const sx = fit.resizedWidth / pad.paddedWidth;
  const sy = fit.resizedHeight / pad.paddedHeight;
  const geometry: PreprocessGeometry = {
    sourceWidth,
    sourceHeight,
    decodeFactor: f,
    crop: {
      x: box.x * f,
      y: box.y * f,
      width: Math.min(box.width * f, sourceWidth - box.x * f),
      height: Math.min(box.height * f, sourceHeight - box.y * f),
    },
    padLeft: pad.padLeft * f,
    padTop: pad.padTop * f,
    paddedWidth: pad.paddedWidth * f,
    paddedHeight: pad.paddedHeight * f,
    scale: sx / f,
    ...fit,
    circle: circle
      ? { cx: fit.offsetX + (circle.cx - box.x + pad.padLeft + 0.5) * sx - 0.5, cy: fit.offsetY + (circle.cy - box.y + pad.padTop + 0.5) * sy - 0.5, r: circle.r * sx }
      : null,
  };
  return { image, mask: outMask, geometry, quality, config, steps };
}
