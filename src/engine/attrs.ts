/**
 * Reading ONNX node attributes and integer tensors with the spec's defaults filled in. A module
 * of its own, depending on ir.ts for types only, so the shape rules (shape.ts) and the graph IR
 * (ir.ts, which runs shape inference) do not import each other.
 */
import type { Node, TensorData } from './ir.ts';

/** Numbers of an int64/int32 constant (for shapes, axes, pads). */
export function intValues(t: TensorData): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

export function attrInt(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && 'i' in a ? a.i : dflt;
}

export function attrFloat(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && 'f' in a ? a.f : dflt;
}

export function attrInts(n: Node, key: string, dflt: number[] | undefined): number[] | undefined {
  const a = n.attrs[key];
  return a && 'ints' in a ? a.ints : dflt;
}
