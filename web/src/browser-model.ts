/**
 * In-browser screening: nothing leaves the machine. The photo is decoded by the browser, then
 * the product's own preprocessing (src/preprocess) and model input code (src/models) run here,
 * and the network runs in ONNX Runtime Web (WASM with SIMD, on up to 4 threads when the server's
 * cross-origin isolation headers give the page SharedArrayBuffer, else one; loaded from this server;
 * or on WebGPU where the browser has an adapter and the user chooses it).
 * Same .onnx file and same code as the server; only the image decoder and the ONNX Runtime
 * build differ (see test/serve/e2e.test.ts for how close the numbers are). The heat map runs the
 * server's explanation graph (GET <model>/explain.onnx) and the server's CAM code
 * (src/explain/cam-map.ts). DICOM files are unwrapped by the server's reader (src/core/dicom.ts).
 */
import * as ortWasm from 'onnxruntime-web/wasm';
import { isDicom, readDicomPhotograph, sniffImageFormat, type RgbImage, type Task } from '../../src/core/index.ts';
import { camFromLayer, heatRgbaOnRetina, makeCamMethod } from '../../src/explain/cam-map.ts';
import { REFERABLE_TARGET, targetSeed } from '../../src/explain/targets.ts';
// package.ts, not models/index.ts: the index also re-exports Node-only code (registry,
// safetensors, the training engine) that must not enter the browser bundle.
import { meanOverViews, toInputTensor, ttaBatch } from '../../src/models/package.ts';
import { decideFromLogits } from '../../src/models/decision.ts';
import { preprocessFundus, type PreprocessResult } from '../../src/preprocess/pipeline.ts';
import { shrinkDecoded, shrinkFactor } from '../../src/preprocess/shrink.ts';
import type { ModelInfo, Screening } from './types.ts';

type Ort = typeof ortWasm;
/**
 * Where the network runs in the browser: 'wasm' (CPU, the default: the server's numbers to 1e-5)
 * or 'webgpu' (the GPU through WebGPU, where the browser has an adapter; the same float32 graph,
 * other summation order, so the numbers agree to float32 rounding rather than bit for bit).
 */
export type Backend = 'wasm' | 'webgpu';

/** ONNX Runtime Web's WASM build, or (loaded only when first asked for) its WebGPU build. */
const runtimes = new Map<Backend, Promise<Ort>>();
function runtime(backend: Backend): Promise<Ort> {
  let r = runtimes.get(backend);
  if (!r) {
    r = (backend === 'webgpu' ? import('onnxruntime-web/webgpu') : Promise.resolve(ortWasm)).then((ort) => {
      ort.env.wasm.wasmPaths = '/ort/';
      // Threads need SharedArrayBuffer, which only a cross-origin isolated page has (the server sends
      // COOP/COEP); past 4 the per-op work of a 224-448 px CNN is too small to split further.
      ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
      ort.env.wasm.proxy = false;
      return ort as Ort;
    });
    runtimes.set(backend, r);
  }
  return r;
}

/** Whether this browser offers a WebGPU adapter (false where WebGPU is missing or refused). */
export async function webgpuAvailable(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

interface Loaded { ort: Ort; session: ortWasm.InferenceSession }
/** One session per backend and URL (a model, or its explanation graph), created on first use. */
const sessions = new Map<string, Promise<Loaded>>();

function getSession(url: string, backend: Backend): Promise<Loaded> {
  const key = `${backend} ${url}`;
  let s = sessions.get(key);
  if (!s) {
    s = (async () => {
      const [ort, res] = await Promise.all([runtime(backend), fetch(url)]);
      if (!res.ok) throw new Error(`could not fetch ${url} (${res.status})`);
      // 'webgpu' alone, so that a browser whose WebGPU cannot start fails here rather than running
      // on WASM under the GPU's name; operators without a WebGPU kernel still run on the CPU.
      const bytes = new Uint8Array(await res.arrayBuffer());
      try {
        return { ort, session: await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all' }) };
      } catch (e) {
        if (backend !== 'webgpu') throw e;
        throw new Error(`WebGPU could not start in this browser (${(e as Error).message.split('\n')[0]}); choose "in this browser" to run on the CPU`);
      }
    })();
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/**
 * RGB from the browser's decoder, without colour management (the server's decode applies none to
 * sRGB PNGs); DICOM unwrapped first. A JPEG is then reduced to the resolution the server's
 * shrink-on-load decodes it at for a model of `size` px (src/preprocess/shrink.ts), so the
 * pipeline runs on the same number of pixels as on the server (and ~f^2 times faster).
 */
export async function decodeInBrowser(file: Blob, size: number, maxPixels: number): Promise<{ image: RgbImage; decodeFactor: number; sourceWidth: number; sourceHeight: number }> {
  let image: Blob = file;
  // Only a DICOM file is read whole here (its pixels are unwrapped); any other is decoded by the browser from the Blob.
  const head = new Uint8Array(await file.slice(0, 132).arrayBuffer());
  let jpeg = sniffImageFormat(head) === 'jpeg';
  if (isDicom(head)) {
    const dicom = readDicomPhotograph(new Uint8Array(await file.arrayBuffer()), 'upload', { maxPixels });
    if (dicom.pixels.kind === 'raw') {
      const { width, height } = dicom.pixels.image;
      return { image: dicom.pixels.image, decodeFactor: 1, sourceWidth: width, sourceHeight: height };
    }
    image = new Blob([dicom.pixels.bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' });
    jpeg = true;
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
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
  const decodeFactor = jpeg ? shrinkFactor(width, height, size) : 1;
  return { image: shrinkDecoded({ width, height, channels: 3, data: rgb }, decodeFactor), decodeFactor, sourceWidth: width, sourceHeight: height };
}

export interface BrowserScreening extends Screening {
  pre: PreprocessResult | null;
  original: RgbImage;
  /** The heat map (size x size in [0, 1]) and its RGBA colouring, transparent off the retina. */
  heatmap: { method: string; map: Float32Array; rgba: Uint8Array; size: number } | null;
}

/** The server's heat map, computed here: explanation graph for the layer and dS/dA, then cam-map.ts. */
async function heatmapInBrowser(info: ModelInfo, pixels: Float32Array, viewLogits: number[], pre: PreprocessResult, backend: Backend): Promise<BrowserScreening['heatmap']> {
  if (!info.explain) return null;
  const { ort, session: s } = await getSession(info.explain.graphUrl, backend);
  const { size } = info.input;
  // The explanation graph's inputs are the image and the seed dS/dlogits; its outputs the logits, the layer and dS/dA.
  const imageInput = s.inputNames.find((n) => !n.endsWith('.grad_seed')) as string;
  const seedInput = s.inputNames.find((n) => n.endsWith('.grad_seed')) as string;
  const gradientOutput = s.outputNames.find((n) => n !== info.explain!.layer && n.endsWith('.grad')) as string;
  const seed = Float32Array.from(targetSeed(viewLogits, REFERABLE_TARGET, info.task as Task));
  const out = await s.run({ [imageInput]: new ort.Tensor('float32', pixels, [1, 3, size, size]), [seedInput]: new ort.Tensor('float32', seed, [1, info.numClasses]) }, [info.explain.layer, gradientOutput]);
  const act = out[info.explain.layer];
  const [, channels, height, width] = act.dims;
  const method = makeCamMethod(info.explain.method, 'paper', size);
  const { map } = await camFromLayer(method, { activations: act.data as Float32Array, gradients: out[gradientOutput].data as Float32Array, channels, height, width }, size);
  return { method: method.name, map, rgba: heatRgbaOnRetina(map, size, pre.mask), size };
}

export async function screenInBrowser(file: Blob, info: ModelInfo, opts: { explain?: boolean; backend?: Backend } = {}): Promise<BrowserScreening> {
  const t0 = performance.now();
  const backend = opts.backend ?? 'wasm';
  const sessionReady = getSession(info.onnxUrl, backend);
  const { image: original, ...decoded } = await decodeInBrowser(file, info.input.size, info.limits.maxPixels);
  const t1 = performance.now();
  let pre: PreprocessResult;
  try {
    pre = preprocessFundus(original, info.preprocess, { keepSteps: true, source: 'upload', ...decoded });
  } catch (e) {
    // No retina: ungradable, never a negative (same rule as the server).
    return {
      probability: null, referable: null, threshold: info.operatingPoint?.threshold ?? null, gradable: false,
      reasons: [(e as Error).message.replace(/^upload: /, '')], timings: { decodeMs: t1 - t0, preprocessMs: performance.now() - t1, inferMs: 0, totalMs: performance.now() - t0 },
      pre: null, original, where: 'browser', heatmap: null, gradeProbabilities: null, predictedGrade: null,
    };
  }
  const t2 = performance.now();
  const { ort, session: s } = await sessionReady;
  const { size } = info.input;
  // The same test-time augmentation as FundusModel.predict: flipped views in one batch, logits averaged.
  const views = info.tta ?? [];
  const pixels = toInputTensor([pre.image], { name: 'image', ...info.input, mean: info.input.mean as [number, number, number], std: info.input.std as [number, number, number] });
  const input = new ort.Tensor('float32', ttaBatch(pixels, 1, size, views), [1 + views.length, 3, size, size]);
  const out = await s.run({ [s.inputNames[0]]: input });
  const raw = out[s.outputNames.includes('logits') ? 'logits' : s.outputNames[0]].data as Float32Array;
  const logits = meanOverViews(raw, 1, info.numClasses, views.length);
  const gradable = pre.quality.gradable;
  // The server's decision rule, from the same module (src/models/decision.ts).
  const [{ probability, referable, threshold, classProbabilities, predictedGrade }] = decideFromLogits({ task: info.task as Task, numClasses: info.numClasses, operatingPoint: info.operatingPoint }, logits, [gradable]);
  const t3 = performance.now();
  // Heat maps explain the photograph as given: the unflipped view's logits seed the gradient.
  const heatmap = opts.explain ? await heatmapInBrowser(info, pixels, Array.from(raw.subarray(0, info.numClasses)), pre, backend) : null;
  const t4 = performance.now();
  return {
    probability,
    referable,
    threshold,
    gradable,
    reasons: pre.quality.reasons,
    gradeProbabilities: info.task === 'grade' ? classProbabilities : null,
    predictedGrade,
    timings: { decodeMs: t1 - t0, preprocessMs: t2 - t1, inferMs: t3 - t2, ...(opts.explain ? { explainMs: t4 - t3 } : {}), totalMs: t4 - t0 },
    pre,
    original,
    where: 'browser',
    heatmap,
  };
}
