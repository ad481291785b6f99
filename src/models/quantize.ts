/**
 * `dr-xai quantize`: a model package's int8 twin. The float graph is calibrated on fundus
 * photographs prepared exactly as for screening (the package's own decode and preprocessing), then
 * rewritten by src/engine/quantize.ts into standard ONNX QDQ (int8 weights per channel with bias
 * correction, uint8 activations), which onnxruntime-node and onnxruntime-web both run. The
 * sidecar keeps the float package's input, preprocessing, operating point and explanation, and
 * records how the weights were quantized.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { DrXaiError, isUserError, readFileOrFail, type RgbImage } from '../core/index.ts';
import { RangeCalibrator, fromOnnxBytes, quantizeQdq, toOnnxBytes, type QuantizationSummary } from '../engine/index.ts';
import { decodeFundus, preprocessFundus } from '../preprocess/index.ts';
import { readSidecar, toInputTensor, type ModelSidecar } from './package.ts';
import { modelPreprocessConfig } from './preprocess-config.ts';

export interface QuantizeOptions {
  /** Calibration photographs (any format the screening path reads); ~100-200 are enough. */
  calibration: readonly string[];
  /** Named in the sidecar, e.g. the data root the photographs came from. */
  calibrationSource: string;
  /** 7 (default, safe on every x86 CPU) or 8; see src/engine/quantize.ts. */
  weightBits?: 7 | 8;
  /** Images per calibration pass (default 8). */
  batchSize?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface QuantizedPackage {
  onnx: Uint8Array;
  sidecar: ModelSidecar;
  summary: QuantizationSummary;
  /** Photographs used for calibration, and those left out (no retina found, unreadable) with why. */
  calibrated: number;
  skipped: { file: string; reason: string }[];
}

export async function quantizeModel(onnxPath: string, opts: QuantizeOptions): Promise<QuantizedPackage> {
  const info = await readSidecar(onnxPath);
  if (info.quantization) throw new DrXaiError('the package is already quantized; quantize its float package instead', { file: onnxPath });
  const bytes = await readFileOrFail(onnxPath, 'model file');
  const batchSize = opts.batchSize ?? 8;
  const graph = fromOnnxBytes(bytes, { batch: batchSize, source: path.basename(onnxPath) });
  const config = modelPreprocessConfig(info);
  const calibrator = await RangeCalibrator.create(graph, { threads: opts.threads });
  const skipped: QuantizedPackage['skipped'] = [];
  let calibrated = 0;
  try {
    let pending: RgbImage[] = [];
    const flush = async () => {
      if (!pending.length) return;
      await calibrator.observe(toInputTensor(pending, info.input), pending.length);
      calibrated += pending.length;
      pending = [];
    };
    for (const [i, file] of opts.calibration.entries()) {
      try {
        const decoded = await decodeFundus(await readFileOrFail(file, 'calibration photograph'), file, info.input.size);
        const pre = preprocessFundus(decoded.image, config, { source: file, decodeFactor: decoded.decodeFactor, sourceWidth: decoded.sourceWidth, sourceHeight: decoded.sourceHeight });
        pending.push(pre.image);
      } catch (e) {
        if (!isUserError(e)) throw e;
        skipped.push({ file, reason: (e as Error).message });
      }
      if (pending.length === batchSize) await flush();
      opts.onProgress?.(i + 1, opts.calibration.length);
    }
    await flush();
  } finally {
    await calibrator.release();
  }
  if (calibrated === 0) throw new DrXaiError(`none of the ${opts.calibration.length} calibration photographs could be used (${skipped[0]?.reason ?? 'none given'})`);
  const weightBits = opts.weightBits ?? 7;
  const { graph: quantized, summary } = quantizeQdq(graph, calibrator.ranges, { weightBits, channelMeans: calibrator.channelMeans() });
  const onnx = toOnnxBytes(quantized, { dynamicBatch: true, producer: 'dr-xai quantize' });
  const sidecar: ModelSidecar = {
    ...info,
    quantization: {
      scheme: 'static QDQ: int8 weights per output channel (symmetric), uint8 activations per tensor (min-max), int32 biases',
      weightBits,
      activationBits: 8,
      biasCorrection: true,
      calibration: { images: calibrated, source: opts.calibrationSource },
      from: { file: path.basename(onnxPath), sha256: createHash('sha256').update(bytes).digest('hex') },
    },
    // The float package's figures are not this model's: evaluate it to get its own.
    metrics: undefined,
    createdAt: new Date().toISOString(),
    notes: `int8 (dr-xai quantize) of ${path.basename(onnxPath)}; operating point and explanation as the float package's`,
  };
  return { onnx, sidecar, summary, calibrated, skipped };
}
