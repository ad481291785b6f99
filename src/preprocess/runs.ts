/**
 * Binary planes as row runs, and the morphology of the retina mask on them: the elliptic
 * structuring element, opening and the largest 8-connected component (cv2 equivalents named at
 * each function).
 */
import { roundHalfEven } from './rounding.ts';


/**
 * Row half-widths of cv2.getStructuringElement(MORPH_ELLIPSE, (k, k)) (imgproc/morph.cpp:
 * dx = saturate_cast<int>(c * sqrt((r^2 - dy^2) / r^2))), e.g. k = 9 -> [0,3,3,4,4,4,3,3,0].
 */
export function ellipseHalfWidths(k: number): number[] {
  const r = k >> 1;
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const dy = i - r;
    out.push(roundHalfEven(r * Math.sqrt((r * r - dy * dy) / (r * r))));
  }
  return out;
}

/**
 * A binary plane as runs: row y's foreground runs are [s[i], e[i]] (inclusive) for i in
 * off[y] .. off[y + 1] - 1, left to right. Fundus masks have a handful of runs per row, so
 * morphology on runs costs a few operations per row instead of per pixel.
 */
export interface RowRuns {
  s: number[];
  e: number[];
  off: Int32Array;
}

/** Runs of the pixels with value > threshold (cv2.THRESH_BINARY's foreground). */
export function runsAbove(src: Uint8Array, width: number, height: number, threshold: number): RowRuns {
  const s: number[] = [];
  const e: number[] = [];
  const off = new Int32Array(height + 1);
  for (let y = 0; y < height; y++) {
    off[y] = s.length;
    const base = y * width;
    for (let x = 0; x < width; ) {
      if (src[base + x] <= threshold) {
        x++;
        continue;
      }
      const start = x;
      while (x < width && src[base + x] > threshold) x++;
      s.push(start);
      e.push(x - 1);
    }
  }
  off[height] = s.length;
  return { s, e, off };
}

/** Runs of the non-zero pixels. */
function runsOf(src: Uint8Array, width: number, height: number): RowRuns {
  return runsAbove(src, width, height, 0);
}

/** The complement's runs (the gaps between runs, within 0..width-1). */
function complementRuns(r: RowRuns, width: number, height: number): RowRuns {
  const s: number[] = [];
  const e: number[] = [];
  const off = new Int32Array(height + 1);
  for (let y = 0; y < height; y++) {
    off[y] = s.length;
    let x = 0;
    for (let i = r.off[y]; i < r.off[y + 1]; i++) {
      if (r.s[i] > x) s.push(x), e.push(r.s[i] - 1);
      x = r.e[i] + 1;
    }
    if (x < width) s.push(x), e.push(width - 1);
  }
  off[height] = s.length;
  return { s, e, off };
}

/**
 * Binary erosion of a run plane with a kernel given by per-row half-widths around a centred
 * anchor; pixels outside the image are ignored (count as foreground), which is what OpenCV's
 * default border value for morphology (morphologyDefaultBorderValue) amounts to. Kernel row k
 * at image row y + k - r fits where that row's runs, shrunk by its half-width (not at the image
 * border), cover the pixel: the output row is the intersection of those shrunk run lists.
 */
function erodeRuns(r: RowRuns, width: number, height: number, halfWidths: number[]): RowRuns {
  const kr = halfWidths.length >> 1;
  const s: number[] = [];
  const e: number[] = [];
  const off = new Int32Array(height + 1);
  let curS: number[] = [];
  let curE: number[] = [];
  let nextS: number[] = [];
  let nextE: number[] = [];
  for (let y = 0; y < height; y++) {
    off[y] = s.length;
    const k0 = Math.max(0, kr - y);
    const k1 = Math.min(halfWidths.length - 1, kr + height - 1 - y);
    curS.length = curE.length = 0;
    curS.push(0), curE.push(width - 1);
    for (let k = k0; k <= k1 && curS.length > 0; k++) {
      const h = halfWidths[k];
      const row = y + k - kr;
      nextS.length = nextE.length = 0;
      let j = 0;
      for (let i = r.off[row]; i < r.off[row + 1]; i++) {
        const a = r.s[i] === 0 ? 0 : r.s[i] + h;
        const b = r.e[i] === width - 1 ? width - 1 : r.e[i] - h;
        if (a > b) continue;
        // intersect [a, b] with the current runs
        while (j < curS.length && curE[j] < a) j++;
        for (let q = j; q < curS.length && curS[q] <= b; q++) {
          const lo = curS[q] > a ? curS[q] : a;
          const hi = curE[q] < b ? curE[q] : b;
          nextS.push(lo), nextE.push(hi);
        }
      }
      [curS, nextS] = [nextS, curS];
      [curE, nextE] = [nextE, curE];
    }
    for (let q = 0; q < curS.length; q++) s.push(curS[q]), e.push(curE[q]);
  }
  off[height] = s.length;
  return { s, e, off };
}

/** A run plane drawn as 0/255. */
export function renderRuns(r: RowRuns, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let i = r.off[y]; i < r.off[y + 1]; i++) out.fill(255, y * width + r.s[i], y * width + r.e[i] + 1);
  return out;
}

/**
 * Morphological opening (erode then dilate) of a binary plane (0 / non-zero -> 0 / 255) with a
 * k x k elliptic kernel: cv2.morphologyEx(src, MORPH_OPEN, getStructuringElement(MORPH_ELLIPSE,
 * (k, k))) on a 0/255 image. Elliptic rather than rectangular because the retina is round.
 * Dilation is computed as the complement of the erosion of the complement (the kernel is
 * symmetric; pixels outside the image are ignored by both, as in OpenCV).
 */
export function morphologyOpen(src: Uint8Array, width: number, height: number, k = 9): Uint8Array {
  return renderRuns(openRuns(runsOf(src, width, height), width, height, k), width, height);
}

/** morphologyOpen on runs. */
export function openRuns(r: RowRuns, width: number, height: number, k: number): RowRuns {
  const hw = ellipseHalfWidths(k);
  const eroded = erodeRuns(r, width, height, hw);
  return complementRuns(erodeRuns(complementRuns(eroded, width, height), width, height, hw), width, height);
}

/**
 * The largest 8-connected foreground (non-zero) component as a 0/255 plane, plus its area;
 * ties go to the component met first in raster order (cv2.connectedComponentsWithStats labels
 * in that order and the reference takes argmax). Area 0 when there is no foreground.
 * Labels runs of pixels, not pixels (union-find over runs that touch 8-connectedly).
 */
export function largestConnectedComponent(src: Uint8Array, width: number, height: number): { mask: Uint8Array; area: number } {
  const { runs, area } = largestComponentRuns(runsOf(src, width, height), height);
  return { mask: renderRuns(runs, width, height), area };
}

/** largestConnectedComponent on runs: the component's runs (by row) and its area. */
export function largestComponentRuns(r: RowRuns, height: number): { runs: RowRuns; area: number } {
  const n = r.s.length;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (a: number): number => {
    while (parent[a] !== a) a = parent[a] = parent[parent[a]];
    return a;
  };
  for (let y = 1; y < height; y++) {
    let p = r.off[y - 1];
    const prevEnd = r.off[y];
    for (let id = r.off[y]; id < r.off[y + 1]; id++) {
      const s = r.s[id];
      const e = r.e[id];
      // previous-row runs touching [s-1, e+1]
      while (p < prevEnd && r.e[p] < s - 1) p++;
      for (let q = p; q < prevEnd && r.s[q] <= e + 1; q++) {
        const a = find(q);
        const b = find(id);
        if (a !== b) {
          if (a < b) parent[b] = a;
          else parent[a] = b;
        }
      }
    }
  }
  const area = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    area.set(root, (area.get(root) ?? 0) + r.e[i] - r.s[i] + 1);
  }
  let best = -1;
  let bestArea = 0;
  for (const [root, a] of area) if (a > bestArea || (a === bestArea && root < best)) (best = root), (bestArea = a);
  const s: number[] = [];
  const e: number[] = [];
  const off = new Int32Array(height + 1);
  for (let y = 0; y < height; y++) {
    off[y] = s.length;
    for (let i = r.off[y]; i < r.off[y + 1]; i++) if (find(i) === best) s.push(r.s[i]), e.push(r.e[i]);
  }
  off[height] = s.length;
  return { runs: { s, e, off }, area: bestArea };
}
