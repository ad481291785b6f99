/** Geometry of a binary plane: the minimum enclosing circle and the bounding box (cv2 equivalents). */
import { Rng } from '../core/index.ts';
import { rowExtremes } from './hull.ts';


/** A circle in pixel coordinates (pixel centres at integer positions, as OpenCV). */
export interface Circle {
  cx: number;
  cy: number;
  r: number;
}

/** Axis-aligned box in pixels: columns x..x+width-1, rows y..y+height-1. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}


/**
 * Smallest circle containing all non-zero pixels (their centres), as cv2.minEnclosingCircle
 * on cv2.findNonZero(plane). Only each row's leftmost and rightmost pixel can lie on the convex
 * hull, so those are the candidates; Welzl's incremental algorithm (Welzl 1991) in a seeded
 * random order gives expected linear time. The result is rounded to float32 as OpenCV returns
 * it, radius padded by 1e-4 as OpenCV does. Null when the plane is empty.
 */
export function minEnclosingCircle(src: Uint8Array, width: number, height: number): Circle | null {
  const { xs, ys } = rowExtremes(src, width, height);
  return xs.length === 0 ? null : enclosingCircle(xs, ys);
}

/** minEnclosingCircle of the points (xs[i], ys[i]) (at least one). */
export function enclosingCircle(xs: number[], ys: number[]): Circle {
  const order = new Rng(0x5eed).shuffle(xs.map((_, i) => i));
  const px = order.map((i) => xs[i]);
  const py = order.map((i) => ys[i]);
  const n = px.length;
  let cx = px[0];
  let cy = py[0];
  let r2 = 0;
  const inside = (i: number) => (px[i] - cx) ** 2 + (py[i] - cy) ** 2 <= r2 * (1 + 1e-12) + 1e-9;
  for (let i = 1; i < n; i++) {
    if (inside(i)) continue;
    cx = px[i];
    cy = py[i];
    r2 = 0;
    for (let j = 0; j < i; j++) {
      if (inside(j)) continue;
      cx = (px[i] + px[j]) / 2;
      cy = (py[i] + py[j]) / 2;
      r2 = (px[i] - cx) ** 2 + (py[i] - cy) ** 2;
      for (let k = 0; k < j; k++) {
        if (inside(k)) continue;
        // circumcircle of i, j, k
        const ax = px[i], ay = py[i], bx = px[j], by = py[j], qx = px[k], qy = py[k];
        const d = 2 * (ax * (by - qy) + bx * (qy - ay) + qx * (ay - by));
        if (d === 0) continue; // collinear: the diameter circle of the farthest pair already holds k
        const a2 = ax * ax + ay * ay, b2 = bx * bx + by * by, c2 = qx * qx + qy * qy;
        cx = (a2 * (by - qy) + b2 * (qy - ay) + c2 * (ay - by)) / d;
        cy = (a2 * (qx - bx) + b2 * (ax - qx) + c2 * (bx - ax)) / d;
        r2 = (ax - cx) ** 2 + (ay - cy) ** 2;
      }
    }
  }
  // OpenCV pads the radius by EPS = 1e-4 (imgproc/shapedescr.cpp) so that every point is inside.
  return { cx: Math.fround(cx), cy: Math.fround(cy), r: Math.fround(Math.sqrt(r2) + 1e-4) };
}

/** Bounding box of the non-zero pixels (cv2.boundingRect on a plane); null when empty. */
export function boundingBox(src: Uint8Array, width: number, height: number): Box | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) {
      if (src[base + x] !== 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}
