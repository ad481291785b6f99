/**
 * Contrast Limited Adaptive Histogram Equalization (Zuiderveld 1994, "Contrast Limited Adaptive
 * Histogram Equalization", Graphics Gems IV) with OpenCV's exact semantics
 * (imgproc/clahe.cpp, CLAHE_CalcLut_Body + CLAHE_Interpolation_Body, 8-bit):
 *  - sizes not divisible by the grid: tile histograms are taken on the image extended at the
 *    bottom/right by BORDER_REFLECT_101 (by tiles - size % tiles on each axis); the interpolation runs on the
 *    original pixels with that tile size;
 *  - clip limit in counts = max(1, int(clipLimit * tileArea / 256)); the clipped excess is
 *    spread evenly, and its residual one count every (256 / residual) bins from bin 0;
 *  - LUT = saturate_cast<uchar>(cdf * (255 / tileArea)) in float32;
 *  - bilinear interpolation between the four nearest tile LUTs in float32, clamped at edges.
 */
import { saturateU8 } from './rounding.ts';

const f32 = Math.fround;

/**
 * CLAHE of an 8-bit plane. With `keep`, only pixels where it is non-zero are interpolated (the
 * others are left 0; the tile histograms still see every pixel, as OpenCV's do).
 */
export function clahe(src: Uint8Array, width: number, height: number, clipLimit = 2.0, tilesX = 8, tilesY = tilesX, keep?: Uint8Array): Uint8Array {
  const HIST = 256;
  // OpenCV extends BOTH axes as soon as EITHER is not divisible (by tiles - size % tiles, which
  // is a whole extra tile row/column on an axis that was divisible).
  const divisible = width % tilesX === 0 && height % tilesY === 0;
  const extW = divisible ? width : width + tilesX - (width % tilesX);
  const extH = divisible ? height : height + tilesY - (height % tilesY);
  const tileW = extW / tilesX;
  const tileH = extH / tilesY;
  // BORDER_REFLECT_101 index maps for the extended image (only ever reaches past the far edge).
  const reflect = (i: number, n: number) => (i < n ? i : n === 1 ? 0 : 2 * n - 2 - i);
  const colMap = new Int32Array(extW);
  for (let x = 0; x < extW; x++) colMap[x] = reflect(x, width);
  const area = tileW * tileH;
  const lutScale = f32((HIST - 1) / area);
  const clip = clipLimit > 0 ? Math.max(1, Math.trunc((clipLimit * area) / HIST)) : 0;
  const luts = new Uint8Array(tilesX * tilesY * HIST);
  const hist = new Int32Array(HIST);
  for (let ty = 0; ty < tilesY; ty++) {
    for (let tx = 0; tx < tilesX; tx++) {
      hist.fill(0);
      for (let y = ty * tileH; y < (ty + 1) * tileH; y++) {
        const row = reflect(y, height) * width;
        const xEnd = (tx + 1) * tileW;
        if (xEnd <= width) for (let x = tx * tileW; x < xEnd; x++) hist[src[row + x]]++;
        else for (let x = tx * tileW; x < xEnd; x++) hist[src[row + colMap[x]]]++;
      }
      if (clip > 0) {
        let clipped = 0;
        for (let i = 0; i < HIST; i++) {
          if (hist[i] > clip) {
            clipped += hist[i] - clip;
            hist[i] = clip;
          }
        }
        const batch = Math.trunc(clipped / HIST);
        let residual = clipped - batch * HIST;
        for (let i = 0; i < HIST; i++) hist[i] += batch;
        if (residual !== 0) {
          const step = Math.max(Math.trunc(HIST / residual), 1);
          for (let i = 0; i < HIST && residual > 0; i += step, residual--) hist[i]++;
        }
      }
      const lut = (ty * tilesX + tx) * HIST;
      let sum = 0;
      for (let i = 0; i < HIST; i++) {
        sum += hist[i];
        luts[lut + i] = saturateU8(f32(sum * lutScale));
      }
    }
  }
  // Per-column interpolation coordinates (float32 as OpenCV).
  const invTw = f32(1 / tileW);
  const invTh = f32(1 / tileH);
  const ind1 = new Int32Array(width);
  const ind2 = new Int32Array(width);
  const xa = new Float32Array(width);
  const xa1 = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const txf = f32(f32(x * invTw) - 0.5);
    const tx1 = Math.floor(txf);
    const a = f32(txf - tx1);
    xa[x] = a;
    xa1[x] = f32(1 - a);
    ind1[x] = Math.max(tx1, 0) * HIST;
    ind2[x] = Math.min(tx1 + 1, tilesX - 1) * HIST;
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const tyf = f32(f32(y * invTh) - 0.5);
    const ty1 = Math.floor(tyf);
    const ya = f32(tyf - ty1);
    const ya1 = f32(1 - ya);
    const plane1 = Math.max(ty1, 0) * tilesX * HIST;
    const plane2 = Math.min(ty1 + 1, tilesY - 1) * tilesX * HIST;
    const row = y * width;
    // The two tile rows' LUTs as views, so the inner loop indexes them with per-column offsets only.
    const lut1 = luts.subarray(plane1, plane1 + tilesX * HIST);
    const lut2 = luts.subarray(plane2, plane2 + tilesX * HIST);
    for (let x = 0; x < width; x++) {
      if (keep !== undefined && keep[row + x] === 0) continue;
      const v = src[row + x];
      const i1 = ind1[x] + v;
      const i2 = ind2[x] + v;
      const a = xa[x];
      const a1 = xa1[x];
      const top = f32(f32(lut1[i1] * a1) + f32(lut1[i2] * a));
      const bottom = f32(f32(lut2[i1] * a1) + f32(lut2[i2] * a));
      out[row + x] = saturateU8(f32(f32(top * ya1) + f32(bottom * ya)));
    }
  }
  return out;
}
