/**
 * ONNX model read/write through the `onnx-proto` package (the official onnx.proto compiled for
 * protobufjs), so no protobuf is hand-rolled here.
 */
import onnxProto from 'onnx-proto';
import { DTYPE_BY_ONNX, ONNX_DTYPE } from './dtypes.ts';
import { DrXaiError } from '../core/index.ts';
import type { AttrValue, Graph, Node, TensorData, TypedData } from './ir.ts';
import { GraphBuilder, emptyGraph } from './ir.ts';

const { onnx } = onnxProto;

function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, t: TensorData): onnxProto.onnx.ITensorProto {
  return { name, dataType: ONNX_DTYPE[t.dtype], dims: t.shape, rawData: bytesOf(t.data) };
}

function attrProto(name: string, a: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: T.TENSOR, t: tensorProto('', a.t) };
}

export interface WriteOptions {
  /** Give axis 0 of every graph input and output the symbolic size `N` (dynamic batch). */
  dynamicBatch?: boolean;
  producer?: string;
  /** Free-form metadata_props written into the model. */
  metadata?: Record<string, string>;
}

/** Serialise a graph to ONNX model bytes. */
export function toOnnxBytes(g: Graph, opts: WriteOptions = {}): Uint8Array {
  const valueInfo = (name: string) => {
    const v = g.values.get(name);
    if (!v) throw new Error(`no type for '${name}'`);
    return {
      name,
      type: {
        tensorType: {
          elemType: ONNX_DTYPE[v.dtype],
          shape: { dim: v.shape.map((d, i) => (opts.dynamicBatch && i === 0 ? { dimParam: 'N' } : { dimValue: d })) },
        },
      },
    };
  };
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    producerName: opts.producer ?? 'dr-xai',
    opsetImport: [{ domain: '', version: g.opset }],
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: [...g.initializers].map(([name, t]) => tensorProto(name, t)),
      input: g.inputs.map((v) => valueInfo(v.name)),
      output: g.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}

function readTensor(t: onnxProto.onnx.ITensorProto, where: string): TensorData {
  const dtype = DTYPE_BY_ONNX[t.dataType ?? 0];
  if (!dtype) throw new DrXaiError(`tensor '${t.name}' has unsupported data type ${t.dataType}`, { file: where });
  const shape = (t.dims ?? []).map(toNumber);
  const n = shape.reduce((a, b) => a * b, 1);
  if ((t as { dataLocation?: number }).dataLocation === 1) {
    throw new DrXaiError(`tensor '${t.name}' uses external data; save the model with weights inside`, { file: where });
  }
  let data: TypedData;
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const copy = (bytes: Uint8Array) => {
    const b = new Uint8Array(bytes.length);
    b.set(bytes);
    return b.buffer;
  };
  switch (dtype) {
    case 'float32':
      data = raw ? new Float32Array(copy(raw)) : Float32Array.from(t.floatData ?? []);
      break;
    case 'float64':
      data = raw ? new Float64Array(copy(raw)) : Float64Array.from(t.doubleData ?? []);
      break;
    case 'int64':
      data = raw ? new BigInt64Array(copy(raw)) : BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(toNumber(v))));
      break;
    case 'int32':
      data = raw ? new Int32Array(copy(raw)) : Int32Array.from(t.int32Data ?? []);
      break;
    case 'int8':
      data = raw ? new Int8Array(copy(raw)) : Int8Array.from(t.int32Data ?? []);
      break;
    default:
      data = raw ? new Uint8Array(copy(raw)) : Uint8Array.from(t.int32Data ?? []);
  }
  if (data.length !== n) throw new DrXaiError(`tensor '${t.name}' holds ${data.length} values for shape [${shape}]`, { file: where });
  return { dtype, shape, data };
}

function readAttr(a: onnxProto.onnx.IAttributeProto, where: string): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return { i: toNumber(a.i ?? 0) };
    case T.FLOAT:
      return { f: a.f ?? 0 };
    case T.INTS:
      return { ints: (a.ints ?? []).map(toNumber) };
    case T.FLOATS:
      return { floats: a.floats ?? [] };
    case T.STRING:
      return { s: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    case T.TENSOR:
      return { t: readTensor(a.t ?? {}, where) };
    default:
      throw new DrXaiError(`attribute '${a.name}' has an unsupported kind (${a.type})`, { file: where });
  }
}

export interface ReadOptions {
  /** Concrete size for symbolic (dynamic) dimensions of the graph inputs; default 1. */
  batch?: number;
  /** Shown in error messages. */
  source?: string;
}

/**
 * Parse ONNX model bytes into a Graph (static shapes inferred with `batch` for symbolic dims).
 * Constant nodes become initializers. Ops outside the supported set raise a DrXaiError that
 * names the op. Initializers listed as graph inputs (old exporters) are treated as weights.
 */
export function fromOnnxBytes(bytes: Uint8Array, opts: ReadOptions = {}): Graph {
  const where = opts.source ?? '<onnx>';
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DrXaiError(`not an ONNX model (${(e as Error).message})`, { file: where });
  }
  const gp = model.graph;
  if (!gp) throw new DrXaiError('ONNX model has no graph', { file: where });
  const opsetEntry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const g = emptyGraph(gp.name || 'graph');
  g.opset = opsetEntry ? toNumber(opsetEntry.version ?? 17) : 17;
  const b = new GraphBuilder(g);
  for (const t of gp.initializer ?? []) b.initializer(t.name ?? '', readTensor(t, where));
  for (const v of gp.input ?? []) {
    const name = v.name ?? '';
    if (g.initializers.has(name)) continue;
    const tt = v.type?.tensorType;
    const dtype = DTYPE_BY_ONNX[tt?.elemType ?? 0];
    if (!dtype) throw new DrXaiError(`input '${name}' has an unsupported type`, { file: where });
    const shape = (tt?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : opts.batch ?? 1));
    b.input(name, dtype, shape);
  }
  for (const np of gp.node ?? []) {
    if (np.domain && np.domain !== 'ai.onnx') throw new DrXaiError(`unsupported op '${np.domain}.${np.opType}' (node '${np.name}')`, { file: where });
    const attrs: Record<string, AttrValue> = {};
    for (const a of np.attribute ?? []) attrs[a.name ?? ''] = readAttr(a, where);
    if (np.opType === 'Constant') {
      const value = attrs.value;
      if (!value || !('t' in value)) throw new DrXaiError(`Constant node '${np.name}' without a tensor value`, { file: where });
      b.initializer(np.output![0], value.t);
      continue;
    }
    const node: Node = { op: np.opType ?? '', name: b.fresh(np.name || (np.opType ?? 'node').toLowerCase()), inputs: np.input ?? [], outputs: np.output ?? [], attrs };
    try {
      b.appendNode(node);
    } catch (e) {
      if (e instanceof DrXaiError) throw new DrXaiError(e.message, { file: where });
      throw e;
    }
  }
  g.outputs = (gp.output ?? []).map((o) => o.name ?? '');
  return g;
}
