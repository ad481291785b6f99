/**
 * ONNX TensorProto element types of the dtypes the IR uses (onnx.proto, TensorProto.DataType),
 * both ways. A file of its own, with no runtime imports, so onnx.ts, shape.ts and autodiff.ts
 * share one table without touching the ir.ts <-> shape.ts import cycle.
 */
import type { DType } from './ir.ts';

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 };

export const DTYPE_BY_ONNX: Record<number, DType> = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([d, n]) => [n, d as DType]));
