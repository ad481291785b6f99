/**
 * OpenCV's float -> integer conversions, in one place. cvRound and saturate_cast<uchar>(float)
 * round half to even (the FPU's default mode, via lrint), which Math.round (half up) does not.
 */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * saturate_cast<uchar>(v) for a float v: round half to even, clamp to 0..255. Inside the range
 * truncating v + 0.5 is the floor (v + 0.5 is exact for a float32 v); a tie goes down to the
 * even neighbour. CLAHE's interpolation loop ran 1.4x faster with this than with Math.round.
 */
export function saturateU8(v: number): number {
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  const h = v + 0.5;
  const q = h | 0;
  return q === h && (q & 1) === 1 ? q - 1 : q;
}
