/**
 * Weights in and out of the `.safetensors` format (Hugging Face; the format timm and torchvision
 * checkpoints are distributed in), and the import of pretrained EfficientNet weights named the
 * torchvision way into our models, which use timm's parameter names.
 *
 * safetensors layout (https://github.com/huggingface/safetensors#format): 8-byte little-endian
 * u64 N, then N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, optional
 * "__metadata__": {string: string}}, then the raw little-endian tensor bytes (offsets relative to
 * the end of the header). Writers pad the header with spaces to a multiple of 8.
 */
import { DrXaiError, readFileOrFail } from '../core/index.ts';
import type { Graph } from '../engine/index.ts';

/** A float tensor as read from (or written to) a safetensors file. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** IEEE half (binary16) to float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Every tensor converted to float32 (integer buffers such as num_batches_tracked included). */
export function parseSafetensors(bytes: Uint8Array, source = '<safetensors>'): SafetensorsContent {
  if (bytes.length < 8) throw new DrXaiError('not a safetensors file (shorter than its 8-byte header length)', { file: source });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw new DrXaiError(`not a safetensors file (header length ${headerLength} exceeds the file)`, { file: source });
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new DrXaiError(`not a safetensors file (header is not JSON: ${(e as Error).message})`, { file: source });
  }
  const base = 8 + headerLength;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = BYTES[dtype];
    if (!width) throw new DrXaiError(`tensor '${name}' has unsupported dtype ${dtype}`, { file: source });
    const count = shape.reduce((a, d) => a * d, 1);
    const [begin, end] = offsets;
    if (end - begin !== count * width || base + end > bytes.length) {
      throw new DrXaiError(`tensor '${name}' (${dtype} [${shape}]) has data_offsets [${begin}, ${end}] that do not fit its shape or the file`, { file: source });
    }
    const at = base + begin;
    const out = new Float32Array(count);
    if (dtype === 'F32') {
      // Byte copy: the data need not be 4-byte aligned inside the file.
      new Uint8Array(out.buffer).set(bytes.subarray(at, at + count * 4));
    } else {
      for (let i = 0; i < count; i++) {
        const o = at + i * width;
        switch (dtype) {
          case 'F64': out[i] = view.getFloat64(o, true); break;
          case 'F16': out[i] = halfToFloat(view.getUint16(o, true)); break;
          case 'BF16': out[i] = new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]; break;
          case 'I64': out[i] = Number(view.getBigInt64(o, true)); break;
          case 'I32': out[i] = view.getInt32(o, true); break;
          default: out[i] = view.getUint8(o);
        }
      }
    }
    tensors.set(name, { shape: [...shape], data: out });
  }
  return { tensors, metadata };
}

export async function readSafetensors(file: string): Promise<SafetensorsContent> {
  return parseSafetensors(await readFileOrFail(file, 'safetensors weights file'), file);
}

/** Serialise float32 tensors (in the given order) with optional string metadata. */
export function serializeSafetensors(tensors: Iterable<[string, NamedTensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const list = [...tensors];
  let offset = 0;
  for (const [name, t] of list) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (n !== t.data.length) throw new Error(`tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  const raw = new TextEncoder().encode(json);
  const pad = (8 - (raw.length % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of list) {
    // Float32Array bytes are little-endian on every platform Node supports (x64, arm64).
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parameter naming

/** The naming convention a checkpoint's keys follow. */
export type WeightNaming = 'timm' | 'torchvision';

export function detectNaming(keys: Iterable<string>): WeightNaming {
  for (const k of keys) if (k.startsWith('features.')) return 'torchvision';
  return 'timm';
}

/**
 * torchvision EfficientNet (v1) key -> timm key. torchvision: features.0 = stem (0 conv, 1 bn);
 * features.1..7 = stages of MBConv whose `block` is [expand conv-bn-act (absent when the expand
 * ratio is 1), depthwise conv-bn-act, SqueezeExcitation(fc1, fc2), project conv-bn];
 * features.8 = head conv-bn; classifier.1 = Linear. timm (efficientnet_builder.py,
 * _efficientnet_blocks.py): conv_stem, bn1; blocks.{stage}.{j} is a DepthwiseSeparableConv
 * (conv_dw, bn1, se.conv_reduce/conv_expand, conv_pw, bn2) when the expand ratio is 1, else an
 * InvertedResidual (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3); conv_head, bn2; classifier.
 * `expanded(stage, j)` says whether block j of torchvision stage `stage` has an expansion conv.
 * Returns undefined for keys with no counterpart.
 */
export function torchvisionToTimm(key: string, expanded: (stage: number, j: number) => boolean, lastStage: number): string | undefined {
  const p = key.split('.');
  if (p[0] === 'classifier' && p.length === 3) return `classifier.${p[2]}`;
  if (p[0] !== 'features') return undefined;
  const stage = Number(p[1]);
  // Conv2dNormActivation: child 0 is the conv, child 1 the BatchNorm.
  const convBn = (names: [string, string], which: string, param: string) => (which === '0' || which === '1' ? `${names[Number(which)]}.${param}` : undefined);
  if (stage === 0 && p.length === 4) return convBn(['conv_stem', 'bn1'], p[2], p[3]);
  if (stage === lastStage && p.length === 4) return convBn(['conv_head', 'bn2'], p[2], p[3]);
  if (p.length < 7 || p[3] !== 'block') return undefined;
  const j = Number(p[2]);
  const k = Number(p[4]);
  const prefix = `blocks.${stage - 1}.${j}.`;
  const ir = expanded(stage, j);
  const seIndex = ir ? 2 : 1;
  if (k === seIndex) {
    const se = p[5] === 'fc1' ? 'conv_reduce' : p[5] === 'fc2' ? 'conv_expand' : undefined;
    return se && `${prefix}se.${se}.${p[6]}`;
  }
  const parts: Record<number, [string, string]> = ir ? { 0: ['conv_pw', 'bn1'], 1: ['conv_dw', 'bn2'], 3: ['conv_pwl', 'bn3'] } : { 0: ['conv_dw', 'bn1'], 2: ['conv_pw', 'bn2'] };
  const names = parts[k];
  const inner = names && convBn(names, p[5], p[6]);
  return inner ? prefix + inner : undefined;
}

/** Rename a torchvision EfficientNet state dict to timm keys (structure read from the keys). */
export function renameTorchvisionEfficientNet(tensors: Map<string, NamedTensor>): Map<string, NamedTensor> {
  const withExpansion = new Set<string>();
  let lastStage = 0;
  for (const k of tensors.keys()) {
    const p = k.split('.');
    if (p[0] !== 'features') continue;
    lastStage = Math.max(lastStage, Number(p[1]));
    // An expanded (inverted-residual) block has four parts, block.0 .. block.3.
    if (p[3] === 'block' && p[4] === '3') withExpansion.add(`${p[1]}.${p[2]}`);
  }
  const out = new Map<string, NamedTensor>();
  for (const [k, t] of tensors) {
    const name = torchvisionToTimm(k, (s, j) => withExpansion.has(`${s}.${j}`), lastStage);
    if (name === undefined) throw new DrXaiError(`weight '${k}' has no counterpart in the timm EfficientNet layout`);
    out.set(name, t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading weights into a model graph

export interface ImportOptions {
  /** Names of the classifier's parameters (re-initialised when their shape differs). */
  classifier: string[];
  /** The naming the model graph uses (default 'timm'); torchvision weights are renamed to timm's for EfficientNet. */
  naming?: WeightNaming;
  /** BatchNormalization epsilon the weights were trained with (1e-5 for torchvision and timm efficientnet_*, 1e-3 for tf_efficientnet_*). */
  bnEps?: number;
  log?: (line: string) => void;
}

export interface ImportReport {
  loaded: string[];
  /** Model tensors left at their initial values (the classifier when its shape differed). */
  reinitialised: string[];
  naming: WeightNaming;
}

/**
 * Copy weights into the float initializers of `graph` (in place). Every parameter and
 * BatchNormalization buffer of the model must be present with its exact shape, except the
 * classifier, which keeps its fresh initialisation when the number of classes differs.
 * PyTorch layouts need no transposes here: our builders keep conv weights O,I,kH,kW (ONNX Conv's
 * layout too) and linear weights [out, in] with Gemm transB=1. Keys the model lacks (e.g.
 * num_batches_tracked) are ignored; a model BatchNormalization whose epsilon differs from the
 * weights' is an error, since the imported statistics would be misread.
 */
export function importWeights(graph: Graph, content: Map<string, NamedTensor>, opts: ImportOptions): ImportReport {
  const naming = detectNaming(content.keys());
  const target = opts.naming ?? 'timm';
  if (naming === 'timm' && target === 'torchvision') throw new DrXaiError('the weights use timm naming; this model reads torchvision naming (features.*, classifier.1.*)');
  const tensors = naming === 'torchvision' && target === 'timm' ? renameTorchvisionEfficientNet(content) : content;
  if (opts.bnEps !== undefined) {
    for (const n of graph.nodes) {
      if (n.op !== 'BatchNormalization') continue;
      const a = n.attrs.epsilon;
      const eps = a && 'f' in a ? a.f : 1e-5;
      if (Math.abs(eps - opts.bnEps) > 1e-9) throw new DrXaiError(`BatchNormalization '${n.name}' uses eps ${eps}, the weights were trained with ${opts.bnEps}`);
    }
  }
  const constants = graph.constants;
  const loaded: string[] = [];
  const reinitialised: string[] = [];
  const log = opts.log ?? (() => {});
  for (const [name, init] of graph.initializers) {
    if (constants.has(name) || init.dtype !== 'float32' || init.shape.length === 0) continue;
    const src = tensors.get(name);
    const isHead = opts.classifier.includes(name);
    if (!src) {
      if (isHead) {
        reinitialised.push(name);
        continue;
      }
      throw new DrXaiError(`the weights have no tensor '${name}' (naming: ${naming})`);
    }
    const same = src.shape.length === init.shape.length && src.shape.every((d, i) => d === init.shape[i]);
    if (!same) {
      if (isHead) {
        reinitialised.push(name);
        continue;
      }
      throw new DrXaiError(`weight '${name}' has shape [${src.shape}], the model expects [${init.shape}]`);
    }
    graph.initializers.set(name, { dtype: 'float32', shape: [...init.shape], data: Float32Array.from(src.data) });
    loaded.push(name);
  }
  if (reinitialised.length) log(`classifier re-initialised (${reinitialised.join(', ')}): its shape in the weights differs from the model's number of classes`);
  log(`imported ${loaded.length} tensors (${naming} naming)`);
  return { loaded, reinitialised, naming };
}
