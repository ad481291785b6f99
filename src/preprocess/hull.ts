/** The filled convex hull of a binary plane, as cv2.fillConvexPoly(cv2.convexHull(...)). */
import type { RowRuns } from './runs.ts';


/** Each row's leftmost and rightmost non-zero pixel: the only candidates for the convex hull. */
export function rowExtremes(src: Uint8Array, width: number, height: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      if (src[base + x] !== 0) {
        first = x;
        break;
      }
    }
    if (first < 0) continue;
    for (let x = width - 1; x >= first; x--) {
      if (src[base + x] !== 0) {
        last = x;
        break;
      }
    }
    xs.push(first);
    ys.push(y);
    if (last !== first) {
      xs.push(last);
      ys.push(y);
    }
  }
  return { xs, ys };
}

/**
 * The convex hull of the non-zero pixels, filled (0/255), as cv2.fillConvexPoly(cv2.convexHull
 * (contour)): per row, the pixels from round(left edge) to round(right edge) inclusive.
 * Hull by Andrew's monotone chain (Andrew 1979). Null when the plane is empty.
 */
export function convexHullFill(src: Uint8Array, width: number, height: number): Uint8Array | null {
  const { xs, ys } = rowExtremes(src, width, height);
  return xs.length === 0 ? null : hullFill(xs, ys, width, height);
}

/** Each row's first run start and last run end (rowExtremes on runs). */
export function runExtremes(r: RowRuns, height: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < height; y++) {
    if (r.off[y] === r.off[y + 1]) continue;
    const first = r.s[r.off[y]];
    const last = r.e[r.off[y + 1] - 1];
    xs.push(first);
    ys.push(y);
    if (last !== first) xs.push(last), ys.push(y);
  }
  return { xs, ys };
}

/** convexHullFill of the points (xs[i], ys[i]) (at least one). */
export function hullFill(xs: number[], ys: number[], width: number, height: number): Uint8Array {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || ys[a] - ys[b]);
  const cross = (o: number, a: number, b: number) => (xs[a] - xs[o]) * (ys[b] - ys[o]) - (ys[a] - ys[o]) * (xs[b] - xs[o]);
  const lower: number[] = [];
  for (const p of idx) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: number[] = [];
  for (let k = idx.length - 1; k >= 0; k--) {
    const p = idx[k];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  const hull = lower.slice(0, -1).concat(upper.slice(0, -1));
  const out = new Uint8Array(width * height);
  fillConvexPoly(out, width, height, hull.map((k) => xs[k]), hull.map((k) => ys[k]));
  return out;
}

/** cv::Line with LINE_8 (Bresenham through cv::LineIterator, left to right), value 255. */
function drawLine(out: Uint8Array, width: number, height: number, x1: number, y1: number, x2: number, y2: number): void {
  if (x2 < x1) [x1, y1, x2, y2] = [x2, y2, x1, y1];
  let dx = x2 - x1;
  let dy = y2 - y1;
  let ystep = 1;
  if (dy < 0) (dy = -dy), (ystep = -1);
  const steep = dy > dx;
  const major = steep ? dy : dx;
  const minor = steep ? dx : dy;
  let err = major - 2 * minor;
  let x = x1, y = y1;
  for (let n = 0; n <= major; n++) {
    if (x >= 0 && x < width && y >= 0 && y < height) out[y * width + x] = 255;
    // err < 0: a diagonal step, else a step along the major axis only (LineIterator::operator++)
    if (err < 0) {
      err += 2 * major - 2 * minor;
      x++, (y += ystep);
    } else {
      err -= 2 * minor;
      if (steep) y += ystep;
      else x++;
    }
  }
}

/**
 * cv::fillConvexPoly for integer vertices (shift 0, LINE_8), value 255: the outline drawn with
 * drawLine, then each row filled between the two edges, which are stepped down from the top
 * vertex in 16.16 fixed point with OpenCV's rounding (imgproc/drawing.cpp FillConvexPoly).
 */
function fillConvexPoly(out: Uint8Array, width: number, height: number, vx: number[], vy: number[]): void {
  const n = vx.length;
  const ONE = 65536;
  for (let i = 0, p = n - 1; i < n; p = i++) drawLine(out, width, height, vx[p], vy[p], vx[i], vy[i]);
  if (n < 3) return;
  let imin = 0;
  let ymax = vy[0];
  for (let i = 0; i < n; i++) {
    if (vy[i] < vy[imin]) imin = i;
    if (vy[i] > ymax) ymax = vy[i];
  }
  ymax = Math.min(ymax, height - 1);
  const eIdx = [imin, imin];
  const eDi = [1, n - 1];
  const eX = [-ONE, -ONE];
  const eDx = [0, 0];
  const eYe = [vy[imin], vy[imin]];
  let edges = n;
  let y = vy[imin];
  do {
    for (let e = 0; e < 2; e++) {
      if (y < eYe[e]) continue;
      let idx0 = eIdx[e];
      let idx = idx0 + eDi[e];
      if (idx >= n) idx -= n;
      for (; edges-- > 0; ) {
        const ty = vy[idx];
        if (ty > y) {
          const xs = vx[idx0] * ONE;
          const xe = vx[idx] * ONE;
          eYe[e] = ty;
          eDx[e] = Math.trunc(((xe - xs) * 2 + (ty - y)) / (2 * (ty - y)));
          eX[e] = xs;
          eIdx[e] = idx;
          break;
        }
        idx0 = idx;
        idx += eDi[e];
        if (idx >= n) idx -= n;
      }
    }
    if (edges < 0) break;
    if (y >= 0) {
      const [l, r] = eX[0] > eX[1] ? [1, 0] : [0, 1];
      let a = Math.floor((eX[l] + ONE / 2) / ONE);
      let b = Math.floor((eX[r] + ONE / 2) / ONE);
      if (b >= 0 && a < width) {
        if (a < 0) a = 0;
        if (b >= width) b = width - 1;
        if (b >= a) out.fill(255, y * width + a, y * width + b + 1);
      }
    }
    eX[0] += eDx[0];
    eX[1] += eDx[1];
  } while (++y <= ymax);
}
