/**
 * Resizing with OpenCV semantics (imgproc/resize.cpp), for 8-bit images of 1 or 3 channels.
 *  - resizeArea = cv2.resize(..., INTER_AREA): for shrinking, each output pixel is the
 *    area-weighted mean of the source pixels it covers (computeResizeAreaTab weights, float32
 *    sums; integer factors use OpenCV's fast box average); for enlarging, OpenCV's "area mode"
 *    bilinear (weights from pixel overlap, 11-bit fixed-point coefficients).
 *  - resizeNearest = cv2.resize(..., INTER_NEAREST): sx = floor(dx * src/dst).
 */
import type { RgbImage } from '../core/index.ts';
import { channel as extractChannel } from './mask.ts';
import { roundHalfEven, saturateU8 } from './rounding.ts';

const f32 = Math.fround;

export function resizeArea(img: RgbImage, dstW: number, dstH: number): RgbImage {
  const { width: sw, height: sh } = img;
  if (dstW === sw && dstH === sh) return { ...img, data: img.data.slice() };
  const scaleX = sw / dstW;
  const scaleY = sh / dstH;
  if (scaleX >= 1 && scaleY >= 1) {
    if (Number.isInteger(scaleX) && Number.isInteger(scaleY)) return areaFast(img, dstW, dstH, scaleX, scaleY);
    return areaShrink(img, dstW, dstH, scaleX, scaleY);
  }
  return areaEnlarge(img, dstW, dstH);
}

/**
 * resizeArea of channel `c` of an interleaved image, as a 1-channel image: the same values as
 * resizing the extracted plane, read in place when shrinking by a non-integer factor (the
 * quality report's case) instead of copying the plane first.
 */
export function resizeAreaChannel(img: RgbImage, c: number, dstW: number, dstH: number): RgbImage {
  const scaleX = img.width / dstW;
  const scaleY = img.height / dstH;
  if (img.channels === 1 || scaleX < 1 || scaleY < 1 || (Number.isInteger(scaleX) && Number.isInteger(scaleY))) {
    return resizeArea({ width: img.width, height: img.height, channels: 1, data: extractChannel(img, c) }, dstW, dstH);
  }
  return areaShrink(img, dstW, dstH, scaleX, scaleY, c);
}

/** Integer factors: box mean; 2x2 as OpenCV's SIMD path ((sum + 2) >> 2), others sum * (1/area) in float32. */
function areaFast(img: RgbImage, dstW: number, dstH: number, fx: number, fy: number): RgbImage {
  const cn = img.channels;
  const src = img.data;
  const out = new Uint8Array(dstW * dstH * cn);
  const area = fx * fy;
  const inv = f32(1 / area);
  const rowStride = img.width * cn;
  for (let dy = 0; dy < dstH; dy++) {
    for (let dx = 0; dx < dstW; dx++) {
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let y = dy * fy; y < (dy + 1) * fy; y++) {
          const base = y * rowStride + c;
          for (let x = dx * fx; x < (dx + 1) * fx; x++) sum += src[base + x * cn];
        }
        out[(dy * dstW + dx) * cn + c] = area === 4 ? (sum + 2) >> 2 : saturateU8(f32(sum * inv));
      }
    }
  }
  return { width: dstW, height: dstH, channels: cn, data: out };
}

interface AreaTab {
  di: Int32Array;
  si: Int32Array;
  alpha: Float32Array;
  n: number;
}

/** OpenCV computeResizeAreaTab: (destination index, source index, weight) triples along one axis. */
function areaTab(ssize: number, dsize: number, scale: number): AreaTab {
  const di: number[] = [];
  const si: number[] = [];
  const alpha: number[] = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) {
      di.push(dx), si.push(sx1 - 1), alpha.push((sx1 - fsx1) / cellWidth);
    }
    for (let sx = sx1; sx < sx2; sx++) di.push(dx), si.push(sx), alpha.push(1 / cellWidth);
    if (fsx2 - sx2 > 1e-3) di.push(dx), si.push(sx2), alpha.push(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth);
  }
  return { di: Int32Array.from(di), si: Int32Array.from(si), alpha: Float32Array.from(alpha), n: di.length };
}

/** With `channel`, only that channel of the interleaved source, as a 1-channel result. */
function areaShrink(img: RgbImage, dstW: number, dstH: number, scaleX: number, scaleY: number, channel?: number): RgbImage {
  const stride = img.channels; // source bytes per pixel
  const cn = channel === undefined ? stride : 1; // channels summed and written
  const src = img.data;
  const xt = areaTab(img.width, dstW, scaleX);
  const yt = areaTab(img.height, dstH, scaleY);
  const out = new Uint8Array(dstW * dstH * cn);
  const rowLen = dstW * cn;
  const buf = new Float32Array(rowLen);
  const sum = new Float32Array(rowLen);
  const flush = (dy: number) => {
    const base = dy * rowLen;
    for (let i = 0; i < rowLen; i++) out[base + i] = saturateU8(sum[i]);
  };
  // per-tab-entry destination/source offsets in bytes, so the inner loop is plain indexing
  const dOfs = new Int32Array(xt.n);
  const sOfs = new Int32Array(xt.n);
  for (let k = 0; k < xt.n; k++) (dOfs[k] = xt.di[k] * cn), (sOfs[k] = xt.si[k] * stride + (channel ?? 0));
  const alpha = xt.alpha;
  const groupEnd = new Int32Array(dstW); // xt entries of destination d end at groupEnd[d]
  for (let k = 0; k < xt.n; k++) groupEnd[xt.di[k]] = k + 1;
  for (let d = 1; d < dstW; d++) if (groupEnd[d] < groupEnd[d - 1]) groupEnd[d] = groupEnd[d - 1];
  // firstDst[x]: the first destination that any source column >= x contributes to;
  // lastDst[x]: the last destination that any source column <= x contributes to
  const firstDst = new Int32Array(img.width).fill(dstW);
  const lastDst = new Int32Array(img.width).fill(-1);
  for (let k = 0; k < xt.n; k++) {
    const x = xt.si[k], d = xt.di[k];
    if (d < firstDst[x]) firstDst[x] = d;
    if (d > lastDst[x]) lastDst[x] = d;
  }
  for (let x = img.width - 2; x >= 0; x--) firstDst[x] = Math.min(firstDst[x], firstDst[x + 1]);
  for (let x = 1; x < img.width; x++) lastDst[x] = Math.max(lastDst[x], lastDst[x - 1]);
  let prevDy = yt.di[0];
  let bufRow = -1; // source row currently in buf (a row shared by two output rows is summed once)
  for (let j = 0; j < yt.n; j++) {
    const dy = yt.di[j];
    const beta = yt.alpha[j];
    const sy = yt.si[j];
    if (sy !== bufRow) {
      bufRow = sy;
      const srow = sy * img.width * stride;
      if (cn !== 1) buf.fill(0);
      if (cn === 3) {
        for (let k = 0; k < xt.n; k++) {
          const a = alpha[k];
          const d = dOfs[k];
          const s = srow + sOfs[k];
          buf[d] += src[s] * a;
          buf[d + 1] += src[s + 1] * a;
          buf[d + 2] += src[s + 2] * a;
        }
      } else if (cn === 1) {
        // entries come grouped by destination: sum each group in a register, rounding to
        // float32 after every addition exactly as the Float32Array accumulation would; a zero
        // source value adds exactly 0 (the black outside the retina, the padding), so skip it,
        // and the destinations wholly left or right of the row's non-zero span are 0 unread
        let lo = 0, hi = img.width - 1;
        const c0 = channel ?? 0;
        while (lo <= hi && src[srow + lo * stride + c0] === 0) lo++;
        while (hi >= lo && src[srow + hi * stride + c0] === 0) hi--;
        const dLo = lo <= hi ? firstDst[lo] : dstW;
        const dHi = lo <= hi ? lastDst[hi] : -1;
        buf.fill(0, 0, dLo);
        for (let d = dLo, k = d > 0 ? groupEnd[d - 1] : 0; d <= dHi; d++) {
          let acc = 0;
          for (const end = groupEnd[d]; k < end; k++) {
            const v = src[srow + sOfs[k]];
            if (v !== 0) acc = f32(acc + v * alpha[k]);
          }
          buf[d] = acc;
        }
        buf.fill(0, dHi + 1);
      } else {
        for (let k = 0; k < xt.n; k++) {
          const d = dOfs[k];
          const s = srow + sOfs[k];
          for (let c = 0; c < cn; c++) buf[d + c] += src[s + c] * alpha[k];
        }
      }
    }
    if (dy !== prevDy) {
      flush(prevDy);
      for (let i = 0; i < rowLen; i++) sum[i] = beta * buf[i];
      prevDy = dy;
    } else {
      for (let i = 0; i < rowLen; i++) sum[i] += beta * buf[i];
    }
  }
  flush(prevDy);
  return { width: dstW, height: dstH, channels: cn, data: out };
}

/** OpenCV's INTER_AREA when enlarging: bilinear with overlap-based weights, 11-bit fixed point. */
function areaEnlarge(img: RgbImage, dstW: number, dstH: number): RgbImage {
  const cn = img.channels;
  const src = img.data;
  const { width: sw, height: sh } = img;
  const ONE = 2048; // INTER_RESIZE_COEF_SCALE
  const axis = (ssize: number, dsize: number) => {
    const inv = dsize / ssize;
    const scale = 1 / inv;
    const ofs = new Int32Array(dsize);
    const ofs2 = new Int32Array(dsize);
    const a0 = new Int32Array(dsize);
    const a1 = new Int32Array(dsize);
    for (let d = 0; d < dsize; d++) {
      let s = Math.floor(d * scale);
      let f = f32(d + 1 - (s + 1) * inv);
      f = f <= 0 ? 0 : f32(f - Math.floor(f));
      if (s >= ssize - 1) {
        f = 0;
        s = ssize - 1;
      }
      ofs[d] = s;
      ofs2[d] = Math.min(s + 1, ssize - 1);
      a0[d] = roundHalfEven(f32(1 - f) * ONE);
      a1[d] = roundHalfEven(f * ONE);
    }
    return { ofs, ofs2, a0, a1 };
  };
  const X = axis(sw, dstW);
  const Y = axis(sh, dstH);
  const rowLen = dstW * cn;
  // horizontal pass for every source row that is used
  const hrow = (sy: number, into: Int32Array) => {
    const base = sy * sw * cn;
    for (let dx = 0; dx < dstW; dx++) {
      const s0 = base + X.ofs[dx] * cn;
      const s1 = base + X.ofs2[dx] * cn;
      for (let c = 0; c < cn; c++) into[dx * cn + c] = src[s0 + c] * X.a0[dx] + src[s1 + c] * X.a1[dx];
    }
  };
  const r0 = new Int32Array(rowLen);
  const r1 = new Int32Array(rowLen);
  const out = new Uint8Array(dstH * rowLen);
  for (let dy = 0; dy < dstH; dy++) {
    hrow(Y.ofs[dy], r0);
    hrow(Y.ofs2[dy], r1);
    const b0 = Y.a0[dy];
    const b1 = Y.a1[dy];
    const base = dy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      // VResizeLinearVec_32s8u rounding
      const v = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
      out[base + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: dstW, height: dstH, channels: cn, data: out };
}

/** cv2.resize(..., INTER_NEAREST). */
export function resizeNearest(img: RgbImage, dstW: number, dstH: number): RgbImage {
  const cn = img.channels;
  const { width: sw, height: sh } = img;
  const fx = 1 / (dstW / sw);
  const fy = 1 / (dstH / sh);
  const xofs = new Int32Array(dstW);
  for (let x = 0; x < dstW; x++) xofs[x] = Math.min(Math.floor(x * fx), sw - 1) * cn;
  const out = new Uint8Array(dstW * dstH * cn);
  for (let y = 0; y < dstH; y++) {
    const sbase = Math.min(Math.floor(y * fy), sh - 1) * sw * cn;
    const dbase = y * dstW * cn;
    for (let x = 0; x < dstW; x++) for (let c = 0; c < cn; c++) out[dbase + x * cn + c] = img.data[sbase + xofs[x] + c];
  }
  return { width: dstW, height: dstH, channels: cn, data: out };
}
