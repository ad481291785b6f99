/**
 * In-browser screening: nothing leaves the machine. The photo is decoded by the browser, then
 * the product's own preprocessing (src/preprocess) and model input code (src/models) run here,
 * and the network runs in ONNX Runtime Web (WASM, single-threaded, loaded from this server).
 * Same .onnx file and same code as the server; only the image decoder and the ONNX Runtime
 * build differ (see test/serve/e2e.test.ts for how close the numbers are).
 */
import * as ort from 'onnxruntime-web/wasm';
import type { RgbImage } from '../../src/core/index.ts';
// package.ts, not models/index.ts: the index also re-exports Node-only code (registry,
// safetensors, the training engine) that must not enter the browser bundle.
import { meanOverViews, toInputTensor, ttaBatch } from '../../src/models/package.ts';
import { decideFromLogits } from '../../src/models/decision.ts';
import { preprocessFundus, type PreprocessResult } from '../../src/preprocess/pipeline.ts';
import type { ModelInfo, Screening } from './types.ts';

ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

let session: Promise<ort.InferenceSession> | undefined;

function getSession(info: ModelInfo): Promise<ort.InferenceSession> {
  session ??= (async () => {
    const res = await fetch(info.onnxUrl);
    if (!res.ok) throw new Error(`could not fetch the model (${res.status})`);
    return ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  })();
  return session;
}

/** RGB from the browser's decoder, without colour management (the server's decode applies none to sRGB PNGs). */
export async function decodeInBrowser(file: Blob, maxPixels: number): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error('not a recognised or a corrupt image');
  }
  const { width, height } = bitmap;
  if (width * height > maxPixels) {
    bitmap.close();
    throw new Error(`image too large: ${width}x${height} = ${((width * height) / 1e6).toFixed(1)} megapixels (limit ${(maxPixels / 1e6).toFixed(0)})`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' } as CanvasRenderingContext2DSettings);
  if (!ctx) throw new Error('this browser cannot read image pixels');
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' } as ImageDataSettings).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    if (rgba[i + 3] !== 255) throw new Error('image has transparent pixels; a plain RGB photograph is needed');
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width, height, channels: 3, data: rgb };
}

export interface BrowserScreening extends Screening {
  pre: PreprocessResult | null;
  original: RgbImage;
}

export async function screenInBrowser(file: Blob, info: ModelInfo): Promise<BrowserScreening> {
  const t0 = performance.now();
  const sessionReady = getSession(info);
  const original = await decodeInBrowser(file, info.limits.maxPixels);
  const t1 = performance.now();
  let pre: PreprocessResult;
  try {
    pre = preprocessFundus(original, info.preprocess, { keepSteps: true, source: 'upload' });
  } catch (e) {
    // No retina: ungradable, never a negative (same rule as the server).
    return {
      probability: null, referable: null, threshold: info.operatingPoint?.threshold ?? null, gradable: false,
      reasons: [(e as Error).message.replace(/^upload: /, '')], timings: { decodeMs: t1 - t0, preprocessMs: performance.now() - t1, inferMs: 0, totalMs: performance.now() - t0 },
      pre: null, original, where: 'browser',
    };
  }
  const t2 = performance.now();
  const s = await sessionReady;
  const { size } = info.input;
  // The same test-time augmentation as FundusModel.predict: flipped views in one batch, logits averaged.
  const views = info.tta ?? [];
  const pixels = toInputTensor([pre.image], { name: 'image', ...info.input, mean: info.input.mean as [number, number, number], std: info.input.std as [number, number, number] });
  const input = new ort.Tensor('float32', ttaBatch(pixels, 1, size, views), [1 + views.length, 3, size, size]);
  const out = await s.run({ [s.inputNames[0]]: input });
  const logits = meanOverViews(out[s.outputNames.includes('logits') ? 'logits' : s.outputNames[0]].data as Float32Array, 1, info.numClasses, views.length);
  const gradable = pre.quality.gradable;
  // The server's decision rule, from the same module (src/screening/decision.ts).
  const [{ probability, referable, threshold }] = decideFromLogits({ task: info.task as 'referable', numClasses: info.numClasses, operatingPoint: info.operatingPoint }, logits, [gradable]);
  const t3 = performance.now();
  return {
    probability,
    referable,
    threshold,
    gradable,
    reasons: pre.quality.reasons,
    timings: { decodeMs: t1 - t0, preprocessMs: t2 - t1, inferMs: t3 - t2, totalMs: t3 - t0 },
    pre,
    original,
    where: 'browser',
  };
}
