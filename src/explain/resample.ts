/**
 * Heat map resampling and normalisation, each in one place.
 */

/**
 * Bilinear resize of a single float plane.
 * alignCorners = false: OpenCV's cv2.resize INTER_LINEAR (pixel centres aligned:
 *   src = (dst + 0.5) * in/out - 0.5, clamped to the border), which pytorch-grad-cam uses to
 *   bring maps to the input size.
 * alignCorners = true: torch.nn.UpsamplingBilinear2d (src = dst * (in - 1)/(out - 1)), which
 *   pytorch-grad-cam's Score-CAM uses for its masks.
 */
export function resizeBilinear(src: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number, alignCorners = false): Float32Array {
  const out = new Float32Array(outWidth * outHeight);
  const xs = axisTaps(width, outWidth, alignCorners);
  const ys = axisTaps(height, outHeight, alignCorners);
  // Separable: each source row interpolated along x once (in float64, the values the 2-D
  // formula's top and bottom terms take), then each output row is one blend of two such rows.
  const rows = new Float64Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const fx = xs.f[x];
      rows[y * outWidth + x] = src[y * width + xs.i0[x]] * (1 - fx) + src[y * width + xs.i1[x]] * fx;
    }
  }
  for (let y = 0; y < outHeight; y++) {
    const top = ys.i0[y] * outWidth;
    const bottom = ys.i1[y] * outWidth;
    const fy = ys.f[y];
    const o = y * outWidth;
    for (let x = 0; x < outWidth; x++) out[o + x] = rows[top + x] * (1 - fy) + rows[bottom + x] * fy;
  }
  return out;
}

function axisTaps(n: number, out: number, alignCorners: boolean): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(out);
  const i1 = new Int32Array(out);
  const f = new Float64Array(out);
  for (let d = 0; d < out; d++) {
    let s = alignCorners ? (out > 1 ? (d * (n - 1)) / (out - 1) : 0) : (d + 0.5) * (n / out) - 0.5;
    let k = Math.floor(s);
    let w = s - k;
    // cv2: a source position left of the first centre (or right of the last) takes the edge pixel.
    if (k < 0) {
      k = 0;
      w = 0;
    }
    if (k >= n - 1) {
      k = n - 1;
      w = 0;
      s = k;
    }
    i0[d] = k;
    i1[d] = Math.min(k + 1, n - 1);
    f[d] = w;
  }
  return { i0, i1, f };
}

/**
 * Min-max to [0, 1] in place.
 * eps = 0 (ours): (x - min) / (max - min), and an all-equal map becomes all zeros (it says
 *   nothing about where to look).
 * eps > 0: pytorch-grad-cam's scale_cam_image, (x - min) / (max(x - min) + eps) with eps 1e-7
 *   (a flat map becomes zeros there too).
 */
export function normaliseMinMax(map: Float32Array, eps = 0): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    if (map[i] < lo) lo = map[i];
    if (map[i] > hi) hi = map[i];
  }
  const range = hi - lo + eps;
  if (!(range > 0)) return map.fill(0);
  for (let i = 0; i < map.length; i++) map[i] = (map[i] - lo) / range;
  return map;
}
