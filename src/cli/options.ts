import { DrXaiError } from '../core/index.ts';

/**
 * The one parser for numeric command-line options, so every command words a bad value the same
 * way: "--n must be an integer from 1 to 1000000, got 'many'".
 */
export function numberOption(value: string, flag: string, range: { integer?: boolean; min?: number; max?: number } = {}): number {
  const { integer = false, min, max } = range;
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && (!integer || Number.isInteger(n)) && (min === undefined || n >= min) && (max === undefined || n <= max);
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    const bounds =
      min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
    throw new DrXaiError(`${flag} must be ${kind}${bounds}, got '${value}'`);
  }
  return n;
}
