/**
 * The fundus preprocessing pipeline of the reference study, each step a switch:
 *  0. optional squash: the whole photograph resized to a square (INTER_AREA on the long axis),
 *     for models trained on images that were made that way (APTOS-224 is a plain resize of the
 *     Kaggle originals to 224 x 224, so its 4:3 retinas are ellipses of width/height 0.76);
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
import { resizeArea } from './resize.ts';
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
    /**
     * Resize the photograph to a square before step 1, as the model's training images were.
     * A network trained on squashed retinas scores a photograph with its aspect kept as a new
     * geometry: simulated on the validation split (images stretched back to 4:3), the referable
     * default lost AUROC 0.9859 -> 0.9811 and its stored operating point specificity 0.980 -> 0.949;
     * squashed first, 0.9863 and 0.980 (models/MODEL_CARD.md). Optional in sidecars (default off:
     * the study's pipeline keeps the aspect).
     */
    squash: z.boolean().default(false),
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
  squash: false,
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
   * (profiling): squash, median (of the mask step), mask (the rest of it), crop, quality, clahe, green,
   * benGraham, resize.
   */
  timings?: Record<string, number>;
  /** Asked before each step: true stops the pipeline with PreprocessingStopped (nobody waits for the result any more). */
  stop?: () => boolean;
}

/** preprocessFundus was stopped between two steps by its `stop` option. */
export class PreprocessingStopped extends Error {
  constructor(step: string) {
    super(`preprocessing stopped before the ${step} step`);
  }
}

function zeroOutside(img: RgbImage, mask: Uint8Array): RgbImage {
  const d = img.data;
  for (let i = 0, j = 0; i < mask.length; i++, j += 3) if (mask[i] === 0) d[j] = d[j + 1] = d[j + 2] = 0;
  return img;
}

/** What the steps of preprocessFundus read and write, from the decoded photograph to the model input. */
interface PipelineState {
  /** The photograph as decoded; `input` is it, or (after the squash step) its square. */
  readonly decoded: { width: number; height: number };
  input: RgbImage;
  readonly config: PreprocessConfig;
  readonly opts: PreprocessOptions;
  /** The retina mask in the geometry of `work` (0/255). */
  mask: Uint8Array;
  /** The retina circle (shrunk) in input pixels, when masked. */
  circle: Circle | null;
  solidity: number;
  maskBox: Box | null;
  /** The crop of the input and its padding to a square. */
  box: Box;
  pad: { paddedWidth: number; paddedHeight: number; padLeft: number; padTop: number };
  /** The working image (our own buffer from the crop step on; the input is never written). */
  work: RgbImage;
  /** The green-emphasis grey plane, kept single-channel while nothing needs three channels. */
  grey: RgbImage | null;
  quality?: QualityReport;
  steps?: PreprocessSteps;
  /** The model input and its mask (the resize step). */
  image?: RgbImage;
  outMask?: Uint8Array;
  fit?: ReturnType<typeof fitSquare>;
}

/** One step of the pipeline, in the manner of MONAI's Compose: a name (its timing key), when it runs, what it does. */
interface PreprocessStep {
  name: string;
  enabled(config: PreprocessConfig): boolean;
  run(s: PipelineState): void;
}

/** The reference pipeline's steps, in order (numbers as in the study's code). */
const STEPS: readonly PreprocessStep[] = [
  {
    // 0. squash to a square (the frame the model's training images had); later steps see only the square
    name: 'squash',
    enabled: (c) => c.squash,
    run(s) {
      if (s.input.width === s.input.height) return;
      const side = Math.min(s.input.width, s.input.height);
      s.input = s.work = resizeArea(s.input, side, side);
      s.box = { x: 0, y: 0, width: side, height: side };
      s.pad = { paddedWidth: side, paddedHeight: side, padLeft: 0, padTop: 0 };
    },
  },
  {
    // 1. retina mask (the median filter inside it is timed on its own, as "median")
    name: 'mask',
    enabled: () => true,
    run(s) {
      const { width, height } = s.input;
      if (!s.config.mask) {
        s.mask = new Uint8Array(width * height).fill(255);
        return;
      }
      const rm = retinaMask(s.input, { source: s.opts.source, timings: s.opts.timings, method: s.config.mask === 'study' ? 'study' : 'default' });
      s.mask = rm.mask;
      s.circle = { cx: rm.circle.cx, cy: rm.circle.cy, r: CIRCLE_SHRINK * rm.circle.r };
      s.solidity = rm.solidity;
      s.maskBox = rm.box;
    },
  },
  {
    // 2. crop to the retina + pad to square; outside the mask set to 0, done on the smaller crop
    name: 'crop',
    enabled: () => true,
    run(s) {
      const { width, height } = s.input;
      if (s.config.crop) {
        s.box = s.maskBox ?? boundingBox(s.mask, width, height) ?? s.box;
        s.pad = padToSquare(s.box);
        const { paddedWidth, paddedHeight, padLeft, padTop } = s.pad;
        s.work = cropAndPad(s.input, s.box, paddedWidth, paddedHeight, padLeft, padTop);
        s.mask = cropAndPad({ width, height, channels: 1, data: s.mask }, s.box, paddedWidth, paddedHeight, padLeft, padTop).data;
      } else {
        s.work = { ...s.input, data: s.input.data.slice() };
      }
      if (s.config.mask) zeroOutside(s.work, s.mask);
      if (s.opts.keepSteps) s.steps = { mask: { width: s.pad.paddedWidth, height: s.pad.paddedHeight, channels: 1, data: s.mask }, cropped: { ...s.work, data: s.work.data.slice() } };
    },
  },
  {
    name: 'quality',
    enabled: () => true,
    run(s) {
      s.quality = qualityScore(s.work, s.mask, s.input.width * s.input.height, s.solidity);
    },
  },
  {
    // 3. CLAHE on L of Lab. Pixels outside the mask are black from here on, so the colour steps
    // skip them (they would be zeroed after each step anyway). Without steps to show and with
    // green emphasis next, Lab -> RGB -> green runs as one pass (no RGB buffer).
    name: 'clahe',
    enabled: (c) => c.clahe,
    run(s) {
      const { work, mask, config } = s;
      const lab = rgbToLabPlanes(work, mask);
      const Lc = clahe(lab.L, work.width, work.height, config.claheClipLimit, config.claheTileGrid, config.claheTileGrid, mask);
      const fused = config.green && !s.steps;
      const converted = labPlanesToRgb(Lc, lab.a, lab.b, 1, work.width, work.height, mask, fused);
      if (fused) s.grey = converted;
      else s.work = converted;
      if (s.steps) s.steps.clahe = s.work;
    },
  },
  {
    // 4. green emphasis, as one grey plane ((0 + 0 + 0 + 5) / 10 = 0: still black outside)
    name: 'green',
    enabled: (c) => c.green,
    run(s) {
      if (s.grey) return; // done by the fused CLAHE pass
      s.grey = greenEmphasisPlane(s.work);
      if (s.steps) s.steps.green = greyToRgb(s.grey);
    },
  },
  {
    // 5. Ben Graham (radius of the retina circle, or half the long side with the mask off)
    name: 'benGraham',
    enabled: (c) => c.benGraham,
    run(s) {
      if (s.grey) {
        s.work = greyToRgb(s.grey);
        s.grey = null;
      }
      s.work = zeroOutside(benGraham(s.work, s.circle ? s.circle.r : Math.max(s.input.width, s.input.height) / 2), s.mask);
      if (s.steps) s.steps.benGraham = s.work;
    },
  },
  {
    // 6. resize + pad to the model size (INTER_AREA works on each channel alone, so a grey plane
    // resized once and copied to three channels equals the three-channel resize)
    name: 'resize',
    enabled: () => true,
    run(s) {
      s.fit = fitSquare(s.pad.paddedWidth, s.pad.paddedHeight, s.config.size);
      s.image = s.grey ? greyToRgb(resizeAndPad(s.grey, s.fit, 'area')) : resizeAndPad(s.work, s.fit, 'area');
      s.outMask = resizeAndPad({ width: s.pad.paddedWidth, height: s.pad.paddedHeight, channels: 1, data: s.mask }, s.fit, 'nearest').data;
    },
  },
];

/** Where the model input's pixels came from in the file: crop, padding, scale and the retina circle. */
function geometryOf(s: PipelineState): PreprocessGeometry {
  const f = s.opts.decodeFactor ?? 1;
  const sourceWidth = s.opts.sourceWidth ?? s.decoded.width * f;
  const sourceHeight = s.opts.sourceHeight ?? s.decoded.height * f;
  // After a squash the crop lives in the squashed file frame (the working square at file scale).
  const squashed = s.input.width !== s.decoded.width || s.input.height !== s.decoded.height;
  const frameWidth = squashed ? s.input.width * f : sourceWidth;
  const frameHeight = squashed ? s.input.height * f : sourceHeight;
  const { box, pad, circle } = s;
  const fit = s.fit as NonNullable<PipelineState['fit']>;
  const sx = fit.resizedWidth / pad.paddedWidth;
  const sy = fit.resizedHeight / pad.paddedHeight;
  return {
    sourceWidth,
    sourceHeight,
    decodeFactor: f,
    squash: squashed ? { width: frameWidth, height: frameHeight } : null,
    crop: {
      x: box.x * f,
      y: box.y * f,
      width: Math.min(box.width * f, frameWidth - box.x * f),
      height: Math.min(box.height * f, frameHeight - box.y * f),
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
}

/**
 * Run the pipeline on one decoded RGB image. Synchronous and CPU-bound (run it in worker
 * threads for batches; see runPreprocess). Raises DrXaiError when no retina is found.
 */
export function preprocessFundus(img: RgbImage, cfg: Partial<PreprocessConfig> = {}, opts: PreprocessOptions = {}): PreprocessResult {
  const config = resolveConfig(cfg);
  if (img.channels !== 3) throw new DrXaiError(`expected a 3-channel RGB image, got ${img.channels}`, { file: opts.source });
  const { width, height } = img;
  const s: PipelineState = {
    decoded: { width, height },
    input: img,
    config,
    opts,
    mask: new Uint8Array(0),
    circle: null,
    solidity: 1,
    maskBox: null,
    box: { x: 0, y: 0, width, height },
    pad: { paddedWidth: width, paddedHeight: height, padLeft: 0, padTop: 0 },
    work: img,
    grey: null,
  };
  const timings = opts.timings;
  for (const step of STEPS) {
    if (!step.enabled(config)) continue;
    if (opts.stop?.()) throw new PreprocessingStopped(step.name);
    if (!timings) {
      step.run(s);
      continue;
    }
    // One timer for every step; time a step books under another name itself (the mask's median) is not counted twice.
    const booked = () => Object.entries(timings).reduce((a, [k, v]) => (k === step.name ? a : a + v), 0);
    const before = booked();
    const t0 = performance.now();
    step.run(s);
    timings[step.name] = (timings[step.name] ?? 0) + performance.now() - t0 - (booked() - before);
  }
  return { image: s.image as RgbImage, mask: s.outMask as Uint8Array, geometry: geometryOf(s), quality: s.quality as QualityReport, config, steps: s.steps };
}
