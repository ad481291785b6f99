/**
 * Post-training static quantization into ONNX's QDQ form: QuantizeLinear -> DequantizeLinear
 * pairs around float ops, which ONNX Runtime's QDQ transformer fuses into integer kernels
 * (QLinearConv, QLinearAdd, Clip folded into the quantization range) and onnxruntime-web runs too.
 * The scheme is the whitepaper's recommended one (Krishnamoorthi 2018, "Quantizing deep
 * convolutional networks for efficient inference", sections 2 and 3.1) and ORT's default:
 *   - weights: int8, symmetric (zero point 0), one scale per output channel: per-channel scales
 *     keep depthwise convolutions, whose channels' ranges differ by orders of magnitude, accurate;
 *   - activations: uint8, asymmetric, one scale per tensor from the calibrated range, which is
 *     widened to contain 0 so that zero padding is exact;
 *   - biases: int32 with scale s_x * s_w[c] and zero point 0, as QLinearConv defines them, after
 *     bias correction (Nagel et al. 2019, "Data-free quantization through weight equalization and
 *     bias correction", section 4.2): rounding the weights by e = W_q - W shifts each output channel by
 *     E[e x] = sum_k e_k E[x_k], which does not vanish after a ReLU (E[x] > 0). Without it the
 *     MobileNetV2 logits moved by -0.4 on average and sensitivity at the stored threshold fell by 0.07;
 *     E[x] per input channel comes from the calibration images.
 * Which tensors are quantized: every activation that a Conv, an Add or a GlobalAveragePool reads.
 * A ReLU6 (Clip) between a Conv and its consumer therefore sits between the Conv and the
 * QuantizeLinear, where ORT removes it: a uint8 range [0, m] with m <= 6 clips exactly as
 * Clip(0, 6) does.
 */
import { DrXaiError } from '../core/index.ts';
import { attrInt } from './attrs.ts';
import { GraphBuilder, cloneGraph, emptyGraph, type Graph, type Node, type TensorData } from './ir.ts';
import { toOnnxBytes } from './onnx.ts';
import { createSession, toTensor } from './runtime.ts';

/** Ops whose activation inputs are quantized (a GlobalAveragePool's only where convOutput holds). */
const QUANTIZED_OPS = new Set(['Conv', 'Add', 'GlobalAveragePool']);

/**
 * Whether `x` is a Conv's output, directly or through the ReLU / ReLU6 that ORT folds into the
 * quantization range. Only then does quantizing it for a GlobalAveragePool pay: the Conv gets a
 * quantized output and ORT fuses it into a QLinearConv (MobileNetV2's last, 320 -> 1280) instead
 * of running it in float on weights dequantized every run. Elsewhere (EfficientNet's
 * squeeze-excitation pools a SiLU product) the pair would only add rounding and two passes.
 */
function convOutput(x: string, producer: ReadonlyMap<string, Node>): boolean {
  let p = producer.get(x);
  if (p && (p.op === 'Clip' || p.op === 'Relu')) p = producer.get(p.inputs[0]);
  return p?.op === 'Conv';
}

/** Observed range of one tensor over the calibration images. */
export interface TensorRange {
  min: number;
  max: number;
}

export interface QuantizationSummary {
  /** Activation tensors given a QuantizeLinear/DequantizeLinear pair. */
  activations: number;
  /** Conv weights stored as int8. */
  weights: number;
  /** Parameters as float32 before and as int8/int32 after. */
  floatBytes: number;
  quantizedBytes: number;
}

export interface QdqOptions {
  /**
   * Bits of the int8 weights (default 7: [-63, 63]). On x86 CPUs without VNNI, ORT's u8 x s8
   * kernels sum pairs of products in int16 (VPMADDUBSW), which saturates for 8-bit weights
   * (255 * 127 * 2 > 32767); 7-bit weights cannot overflow. ORT's quantizer calls this reduce_range.
   */
  weightBits?: 7 | 8;
  /** Mean of each input channel of every quantized Conv (RangeCalibrator.channelMeans): enables bias correction. */
  channelMeans?: ReadonlyMap<string, Float64Array>;
}

/** The activation tensors quantizeQdq needs a range for: every float non-constant input of a QUANTIZED_OPS node. */
export function quantizationTargets(g: Graph): string[] {
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const out = new Set<string>();
  for (const n of g.nodes) {
    if (!QUANTIZED_OPS.has(n.op)) continue;
    const activations = n.op === 'Conv' ? n.inputs.slice(0, 1) : n.op === 'GlobalAveragePool' ? n.inputs.filter((x) => convOutput(x, producer)) : n.inputs;
    for (const x of activations) if (x && !g.initializers.has(x) && g.values.get(x)?.dtype === 'float32') out.add(x);
  }
  return [...out];
}

/**
 * Min-max calibration (ORT's default, and the whitepaper's for ReLU6 networks, whose ranges are
 * bounded): the float graph runs over the calibration batches with every target tensor as an
 * extra output, and each target's range is the min and max it took on any image.
 */
export class RangeCalibrator {
  readonly ranges = new Map<string, TensorRange>();
  private readonly sums = new Map<string, { sum: Float64Array; count: number }>();
  private constructor(
    private readonly graph: Graph,
    private readonly targets: string[],
    private readonly session: Awaited<ReturnType<typeof createSession>>,
  ) {}

  static async create(g: Graph, opts: { threads?: number } = {}): Promise<RangeCalibrator> {
    const targets = quantizationTargets(g);
    const inputs = new Set(g.inputs.map((v) => v.name));
    const probe = cloneGraph(g);
    probe.outputs = targets.filter((t) => !inputs.has(t));
    const session = await createSession(toOnnxBytes(probe, { dynamicBatch: true }), { threads: opts.threads });
    return new RangeCalibrator(g, targets, session);
  }

  /** Observe one batch of n images: `input` is the graph's (only) input, NCHW. */
  async observe(input: Float32Array, n: number): Promise<void> {
    const v = this.graph.inputs[0];
    const fetches = this.targets.filter((t) => t !== v.name);
    const out = fetches.length ? await this.session.run({ [v.name]: toTensor(input, [n, ...v.shape.slice(1)]) }, fetches) : {};
    for (const t of this.targets) {
      const tensor = t === v.name ? { data: input, dims: [n, ...v.shape.slice(1)] } : { data: out[t].data as Float32Array, dims: out[t].dims };
      this.widen(t, tensor.data);
      this.accumulate(t, tensor.data, tensor.dims);
    }
  }

  /** Mean of each channel (axis 1) of every observed tensor, over images and positions. */
  channelMeans(): Map<string, Float64Array> {
    return new Map([...this.sums].map(([t, { sum, count }]) => [t, sum.map((v) => v / count)]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private accumulate(name: string, data: Float32Array, dims: readonly number[]): void {
    const channels = dims[1] ?? 1;
    const inner = dims.slice(2).reduce((a, d) => a * d, 1);
    const entry = this.sums.get(name) ?? { sum: new Float64Array(channels), count: 0 };
    for (let i = 0; i < data.length; i++) entry.sum[Math.floor(i / inner) % channels] += data[i];
    entry.count += data.length / channels;
    this.sums.set(name, entry);
  }

  private widen(name: string, data: Float32Array): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (x < min) min = x;
      if (x > max) max = x;
    }
    const r = this.ranges.get(name);
    this.ranges.set(name, r ? { min: Math.min(r.min, min), max: Math.max(r.max, max) } : { min, max });
  }
}

/** uint8 affine parameters of a range (widened to contain 0): x ~ (q - zeroPoint) * scale. */
export function activationQuantParams(r: TensorRange): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new DrXaiError(`calibration range [${r.min}, ${r.max}] is not finite`);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/**
 * int8 symmetric per-output-channel weights (axis 0): q = round(w / s_c), s_c = max|w_c| / qmax,
 * qmax = 2^(bits-1) - 1.
 */
export function quantizeWeightsPerChannel(w: TensorData, bits = 8): { q: Int8Array; scales: Float32Array } {
  const qmax = 2 ** (bits - 1) - 1;
  const channels = w.shape[0];
  const per = w.data.length / channels;
  const data = w.data as Float32Array;
  const q = new Int8Array(data.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(data[i]));
    const s = m > 0 ? m / qmax : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-qmax, Math.min(qmax, Math.round(data[i] / s)));
  }
  return { q, scales };
}

const scalarF32 = (v: number): TensorData => ({ dtype: 'float32', shape: [], data: Float32Array.of(v) });
const scalarU8 = (v: number): TensorData => ({ dtype: 'uint8', shape: [], data: Uint8Array.of(v) });

/**
 * The QDQ graph of a float graph, given the calibrated range of every quantizationTargets tensor.
 * Tensor names the caller knows (graph inputs and outputs, the explain layer) keep their names:
 * a quantized activation `x` is produced as `x_float`, quantized to `x_quantized` and
 * dequantized back to `x`.
 */
export function quantizeQdq(g: Graph, ranges: ReadonlyMap<string, TensorRange>, opts: QdqOptions = {}): { graph: Graph; summary: QuantizationSummary } {
  const weightBits = opts.weightBits ?? 7;
  const targets = new Set(quantizationTargets(g));
  for (const t of targets) if (!ranges.has(t)) throw new DrXaiError(`no calibration range for tensor '${t}'`);
  const out = emptyGraph(g.name);
  out.opset = Math.max(g.opset, 13); // per-axis DequantizeLinear
  const b = new GraphBuilder(out);
  const summary: QuantizationSummary = { activations: 0, weights: 0, floatBytes: 0, quantizedBytes: 0 };
  const replaced = new Set<string>();
  for (const n of g.nodes) {
    if (n.op !== 'Conv' || !targets.has(n.inputs[0])) continue;
    for (const p of n.inputs.slice(1)) if (p && g.initializers.has(p)) replaced.add(p);
  }
  for (const [name, t] of g.initializers) {
    if (replaced.has(name)) continue;
    b.initializer(name, t);
    if (g.constants.has(name)) out.constants.add(name);
  }
  const scaleOf = new Map<string, number>();
  /** Quantize-dequantize `source` into `target` (x_float into x, or a graph input x into x_dequantized); returns target. */
  const qdq = (source: string, target: string, base: string): string => {
    const { scale, zeroPoint } = activationQuantParams(ranges.get(base) as TensorRange);
    const s = b.initializer(`${base}_scale`, scalarF32(scale));
    const z = b.initializer(`${base}_zero_point`, scalarU8(zeroPoint));
    b.appendNode({ op: 'QuantizeLinear', name: b.fresh(`${base}_QuantizeLinear`), inputs: [source, s, z], outputs: [`${base}_quantized`], attrs: {} });
    b.appendNode({ op: 'DequantizeLinear', name: b.fresh(`${base}_DequantizeLinear`), inputs: [`${base}_quantized`, s, z], outputs: [target], attrs: {} });
    scaleOf.set(target, scale);
    summary.activations++;
    return target;
  };
  const rename = new Map<string, string>();
  for (const v of g.inputs) {
    b.input(v.name, v.dtype, v.shape);
    if (targets.has(v.name)) rename.set(v.name, qdq(v.name, `${v.name}_dequantized`, v.name));
  }
  for (const n of g.nodes) {
    const inputs = n.inputs.map((x) => rename.get(x) ?? x);
    if (n.op === 'Conv' && scaleOf.has(inputs[0])) inputs.splice(1, inputs.length - 1, ...quantizeConvParams(b, g, n, scaleOf.get(inputs[0]) as number, weightBits, opts.channelMeans?.get(n.inputs[0]), summary));
    const outputs = n.outputs.map((o) => (targets.has(o) ? `${o}_float` : o));
    b.appendNode({ ...n, inputs, outputs, attrs: { ...n.attrs } });
    for (const o of n.outputs) if (targets.has(o)) qdq(`${o}_float`, o, o);
  }
  out.outputs = [...g.outputs];
  return { graph: out, summary };
}

/**
 * The DequantizeLinear nodes of a Conv's weight (int8 per channel) and bias (int32, scale
 * s_x * s_w), the bias corrected for the weights' rounding when the input's channel means are known.
 */
function quantizeConvParams(b: GraphBuilder, g: Graph, n: Node, inputScale: number, weightBits: number, inputMeans: Float64Array | undefined, summary: QuantizationSummary): string[] {
  const [, wName, biasName] = n.inputs;
  const w = g.initializers.get(wName);
  if (!w || w.dtype !== 'float32') throw new DrXaiError(`Conv '${n.name}': weight '${wName}' is not a float initializer`);
  const bias = biasName ? g.initializers.get(biasName) : undefined;
  if (biasName && (!bias || bias.dtype !== 'float32')) throw new DrXaiError(`Conv '${n.name}': bias '${biasName}' is not a float initializer`);
  const { q, scales } = quantizeWeightsPerChannel(w, weightBits);
  const channels = w.shape[0];
  const dq = (name: string, t: TensorData, scale: Float32Array, zero: TensorData): string => {
    b.initializer(`${name}_quantized`, t);
    b.initializer(`${name}_scale`, { dtype: 'float32', shape: [channels], data: scale });
    b.initializer(`${name}_zero_point`, zero);
    return b.op('DequantizeLinear', [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`], { axis: { i: 0 } }, `${name}_dequantized`);
  };
  summary.weights++;
  summary.floatBytes += w.data.length * 4 + (bias ? channels * 4 : 0);
  summary.quantizedBytes += q.length + channels * 12;
  const weight = dq(wName, { dtype: 'int8', shape: [...w.shape], data: q }, scales, { dtype: 'int8', shape: [channels], data: new Int8Array(channels) });
  const corrected = Float64Array.from(bias ? (bias.data as Float32Array) : new Float32Array(channels));
  if (inputMeans) {
    // E[e x] per output channel: sum over the channel's weights of e times the mean of the input channel it reads.
    const data = w.data as Float32Array;
    const perGroupIn = w.shape[1];
    const kernel = w.data.length / (channels * perGroupIn);
    const outPerGroup = channels / attrInt(n, 'group', 1);
    for (let c = 0; c < channels; c++) {
      const firstIn = Math.floor(c / outPerGroup) * perGroupIn;
      let shift = 0;
      for (let i = 0; i < perGroupIn; i++) {
        for (let k = 0; k < kernel; k++) {
          const at = (c * perGroupIn + i) * kernel + k;
          shift += (q[at] * scales[c] - data[at]) * inputMeans[firstIn + i];
        }
      }
      corrected[c] -= shift;
    }
  }
  const bScale = scales.map((s) => s * inputScale);
  const bq = Int32Array.from(corrected, (v, c) => Math.round(v / bScale[c]));
  const biasBase = biasName || `${wName}_bias`;
  return [weight, dq(biasBase, { dtype: 'int32', shape: [channels], data: bq }, bScale, { dtype: 'int32', shape: [channels], data: new Int32Array(channels) })];
}

/**
 * The float graph a QDQ graph stands for: activation QuantizeLinear/DequantizeLinear pairs
 * removed (`x_float` is `x` again) and quantized weights dequantized into float initializers.
 * Explanations differentiate this graph: its weights are the int8 model's, and dropping the
 * activation rounding is the straight-through estimator (Bengio et al. 2013), so its gradients
 * are the int8 model's up to rounding.
 */
export function dequantizeQdq(g: Graph): Graph {
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const out = emptyGraph(g.name);
  out.opset = g.opset;
  const b = new GraphBuilder(out);
  const constValue = (name: string) => g.initializers.get(name);
  const graphInputs = new Set(g.inputs.map((v) => v.name));
  // x_float -> Q -> DQ -> x: the producer's x_float becomes x again; for a graph input x -> Q -> DQ
  // -> x_dequantized, the readers of x_dequantized read x.
  const rename = new Map<string, string>();
  const inputRename = new Map<string, string>();
  const folded = new Map<string, TensorData>();
  const used = new Set(g.nodes.filter((n) => n.op !== 'DequantizeLinear' && n.op !== 'QuantizeLinear').flatMap((n) => n.inputs));
  for (const n of g.nodes) {
    if (n.op !== 'DequantizeLinear') continue;
    const source = producer.get(n.inputs[0]);
    if (source?.op === 'QuantizeLinear') {
      if (graphInputs.has(source.inputs[0])) inputRename.set(n.outputs[0], source.inputs[0]);
      else rename.set(source.inputs[0], n.outputs[0]);
    } else if (constValue(n.inputs[0])) {
      folded.set(n.outputs[0], dequantizeConstant(n, constValue));
    } else {
      throw new DrXaiError(`DequantizeLinear '${n.name}' reads neither a QuantizeLinear nor a constant`);
    }
  }
  for (const v of g.inputs) b.input(v.name, v.dtype, v.shape);
  for (const [name, t] of g.initializers) if (used.has(name)) b.initializer(name, t);
  for (const [name, t] of folded) b.initializer(name, t);
  for (const n of g.nodes) {
    if (n.op === 'QuantizeLinear' || n.op === 'DequantizeLinear') continue;
    const inputs = n.inputs.map((x) => inputRename.get(x) ?? x);
    b.appendNode({ ...n, inputs, outputs: n.outputs.map((o) => rename.get(o) ?? o), attrs: { ...n.attrs } });
  }
  out.outputs = [...g.outputs];
  return out;
}

/** (q - zero_point) * scale of a constant, per tensor or along `axis`. */
function dequantizeConstant(n: Node, constValue: (name: string) => TensorData | undefined): TensorData {
  const [x, s, z] = n.inputs.map((i) => (i ? constValue(i) : undefined));
  if (!x || !s) throw new DrXaiError(`DequantizeLinear '${n.name}': constant input without a constant scale`);
  const axisAttr = n.attrs.axis;
  const axis = axisAttr && 'i' in axisAttr ? axisAttr.i : 1;
  const perAxis = s.data.length > 1;
  const inner = perAxis ? x.shape.slice((axis + x.shape.length) % x.shape.length + 1).reduce((a, d) => a * d, 1) : x.data.length;
  const channels = perAxis ? s.data.length : 1;
  const data = new Float32Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    const c = perAxis ? Math.floor(i / inner) % channels : 0;
    data[i] = (Number(x.data[i]) - (z ? Number(z.data[c]) : 0)) * Number(s.data[c]);
  }
  return { dtype: 'float32', shape: [...x.shape], data };
}
