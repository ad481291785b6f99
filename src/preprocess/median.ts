/**
 * The median filter of the retina mask (cv2.medianBlur on an 8-bit plane): the reference
 * definition and the fused 9 x 9 path the mask uses. test/preprocess checks both against cv2.
 */

/**
 * Median filter with a ksize x ksize square window and replicated borders:
 * cv2.medianBlur(plane, ksize) (BORDER_REPLICATE, exact median of ksize^2 values).
 * Huang's sliding-histogram algorithm (Huang, Yang & Tang 1979), O(ksize) per pixel.
 */
export function medianBlur(src: Uint8Array, width: number, height: number, ksize = 9): Uint8Array {
  if (ksize % 2 !== 1 || ksize < 1) throw new RangeError('medianBlur: ksize must be odd');
  if (ksize === 9) return medianBlur9(src, width, height);
  const r = ksize >> 1;
  const rank = (ksize * ksize) >> 1; // 0-based rank of the median
  const out = new Uint8Array(width * height);
  const hist = new Int32Array(256);
  // colIdx[i] = clamp(i - r - 1): for output column x the leaving column is colIdx[x], the
  // entering one colIdx[x + 2r + 1]
  const colIdx = new Int32Array(width + 2 * r + 1);
  for (let i = 0; i < colIdx.length; i++) colIdx[i] = Math.min(width - 1, Math.max(0, i - r - 1));
  const rows = new Int32Array(ksize);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < ksize; k++) rows[k] = Math.min(height - 1, Math.max(0, y + k - r)) * width;
    hist.fill(0);
    for (let k = 0; k < ksize; k++) {
      const base = rows[k];
      for (let dx = -r; dx <= r; dx++) hist[src[base + Math.min(width - 1, Math.max(0, dx))]]++;
    }
    let med = 0;
    let below = 0; // number of window values < med
    while (below + hist[med] <= rank) below += hist[med++];
    const outRow = y * width;
    out[outRow] = med;
    for (let x = 1; x < width; x++) {
      const xo = colIdx[x];
      const xi = colIdx[x + 2 * r + 1];
      let changed = false;
      for (let k = 0; k < ksize; k++) {
        const base = rows[k];
        const vo = src[base + xo];
        const vi = src[base + xi];
        if (vo === vi) continue; // the common case in flat regions and the black surround
        changed = true;
        hist[vo]--;
        hist[vi]++;
        below += (vi < med ? 1 : 0) - (vo < med ? 1 : 0);
      }
      if (changed) {
        if (below > rank) {
          do below -= hist[--med];
          while (below > rank);
        } else {
          while (below + hist[med] <= rank) below += hist[med++];
        }
      }
      out[outRow + x] = med;
    }
  }
  return out;
}

/** medianBlur9's padded copy of the plane, kept between calls (one per thread: module state). */
let medianScratch = new Uint8Array(0);

/**
 * medianBlur for ksize 9 (the mask step's hot loop), of a plane or of one channel of an
 * interleaved image, Huang's algorithm for four output rows at
 * once: their windows (rows y-4 .. y+7 between them) share most rows, so one histogram of
 * 32-bit bins holds all four windows' counts, 8 bits each (a count is at most 81), and a pixel
 * leaving or entering a row is one update for all windows that contain the row: 6 histogram
 * updates per output pixel instead of 18. Rows are copied with replicated borders so the
 * sliding loop needs no clamping: padded column j holds source column clamp(j - 5), and the
 * window of output column x covers padded columns x + 1 .. x + 9.
 */
export function medianBlur9(src: Uint8Array, width: number, height: number, channels = 1, channel = 0, outHist?: Int32Array): Uint8Array {
  // histogram of the output, for Otsu: four sub-histograms (one per output row of the pass),
  // summed into outHist at the end, so that consecutive counts rarely hit the same memory
  const hist4 = new Int32Array(outHist ? 1024 : 0);
  const R = 4, K = 9, RANK = 40;
  const out = new Uint8Array(width * height);
  const hist = new Int32Array(256);
  const pw = width + K;
  if (medianScratch.length < pw * height) medianScratch = new Uint8Array(pw * height);
  const padded = medianScratch;
  for (let y = 0; y < height; y++) {
    const d = y * pw;
    if (channels === 1) {
      padded.set(src.subarray(y * width, (y + 1) * width), d + R + 1);
    } else {
      for (let x = 0, i = y * width * channels + channel; x < width; x++, i += channels) padded[d + R + 1 + x] = src[i];
    }
    padded.fill(padded[d + R + 1], d, d + R + 1);
    padded.fill(padded[d + R + width], d + R + 1 + width, d + pw);
  }
  const row = (y: number) => (y < 0 ? 0 : y >= height ? height - 1 : y) * pw;
  for (let y = 0; y < height; y += 4) {
    // q<j> = row y - 4 + j; window w (output row y + w) = rows q<w> .. q<w + 8>; i<j> = the count
    // increment of row j: 1 << 8w for every window w that contains it
    const q0 = row(y + -4);
    const q1 = row(y + -3);
    const q2 = row(y + -2);
    const q3 = row(y + -1);
    const q4 = row(y + 0);
    const q5 = row(y + 1);
    const q6 = row(y + 2);
    const q7 = row(y + 3);
    const q8 = row(y + 4);
    const q9 = row(y + 5);
    const q10 = row(y + 6);
    const q11 = row(y + 7);
    const i0 = 0x1;
    const i1 = 0x101;
    const i2 = 0x10101;
    const i3 = 0x1010101;
    const i4 = 0x1010101;
    const i5 = 0x1010101;
    const i6 = 0x1010101;
    const i7 = 0x1010101;
    const i8 = 0x1010101;
    const i9 = 0x1010100;
    const i10 = 0x1010000;
    const i11 = 0x1000000;
    hist.fill(0);
    for (let j = 1; j <= K; j++) {
      hist[padded[q0 + j]] += i0;
      hist[padded[q1 + j]] += i1;
      hist[padded[q2 + j]] += i2;
      hist[padded[q3 + j]] += i3;
      hist[padded[q4 + j]] += i4;
      hist[padded[q5 + j]] += i5;
      hist[padded[q6 + j]] += i6;
      hist[padded[q7 + j]] += i7;
      hist[padded[q8 + j]] += i8;
      hist[padded[q9 + j]] += i9;
      hist[padded[q10 + j]] += i10;
      hist[padded[q11 + j]] += i11;
    }
    let m0 = 0, b0 = 0;
    while (b0 + ((hist[m0] >>> 0) & 0xff) <= RANK) b0 += (hist[m0++] >>> 0) & 0xff;
    let m1 = 0, b1 = 0;
    while (b1 + ((hist[m1] >>> 8) & 0xff) <= RANK) b1 += (hist[m1++] >>> 8) & 0xff;
    let m2 = 0, b2 = 0;
    while (b2 + ((hist[m2] >>> 16) & 0xff) <= RANK) b2 += (hist[m2++] >>> 16) & 0xff;
    let m3 = 0, b3 = 0;
    while (b3 + ((hist[m3] >>> 24) & 0xff) <= RANK) b3 += (hist[m3++] >>> 24) & 0xff;
    const o0 = (y + 0) * width;
    const o1 = (y + 1) * width;
    const o2 = (y + 2) * width;
    const o3 = (y + 3) * width;
    const n = height - y; // windows with an output row: min(n, 4)
    out[o0 + 0] = m0;
    if (n > 1) out[o1 + 0] = m1;
    if (n > 2) out[o2 + 0] = m2;
    if (n > 3) out[o3 + 0] = m3;
    if (outHist) countMedians(hist4, n, m0, m1, m2, m3);
    for (let x = 1; x < width; x++) {
      const xi = x + K;
      let vo = 0, vi = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
      vo = padded[q0 + x]; vi = padded[q0 + xi]; hist[vo] -= i0; hist[vi] += i0; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0);
      vo = padded[q1 + x]; vi = padded[q1 + xi]; hist[vo] -= i1; hist[vi] += i1; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0);
      vo = padded[q2 + x]; vi = padded[q2 + xi]; hist[vo] -= i2; hist[vi] += i2; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0);
      vo = padded[q3 + x]; vi = padded[q3 + xi]; hist[vo] -= i3; hist[vi] += i3; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q4 + x]; vi = padded[q4 + xi]; hist[vo] -= i4; hist[vi] += i4; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q5 + x]; vi = padded[q5 + xi]; hist[vo] -= i5; hist[vi] += i5; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q6 + x]; vi = padded[q6 + xi]; hist[vo] -= i6; hist[vi] += i6; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q7 + x]; vi = padded[q7 + xi]; hist[vo] -= i7; hist[vi] += i7; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q8 + x]; vi = padded[q8 + xi]; hist[vo] -= i8; hist[vi] += i8; d0 += (vi < m0 ? 1 : 0) - (vo < m0 ? 1 : 0); d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q9 + x]; vi = padded[q9 + xi]; hist[vo] -= i9; hist[vi] += i9; d1 += (vi < m1 ? 1 : 0) - (vo < m1 ? 1 : 0); d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q10 + x]; vi = padded[q10 + xi]; hist[vo] -= i10; hist[vi] += i10; d2 += (vi < m2 ? 1 : 0) - (vo < m2 ? 1 : 0); d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      vo = padded[q11 + x]; vi = padded[q11 + xi]; hist[vo] -= i11; hist[vi] += i11; d3 += (vi < m3 ? 1 : 0) - (vo < m3 ? 1 : 0);
      b0 += d0;
      if (b0 > RANK) {
        do b0 -= (hist[--m0] >>> 0) & 0xff;
        while (b0 > RANK);
      } else {
        while (b0 + ((hist[m0] >>> 0) & 0xff) <= RANK) b0 += (hist[m0++] >>> 0) & 0xff;
      }
      b1 += d1;
      if (b1 > RANK) {
        do b1 -= (hist[--m1] >>> 8) & 0xff;
        while (b1 > RANK);
      } else {
        while (b1 + ((hist[m1] >>> 8) & 0xff) <= RANK) b1 += (hist[m1++] >>> 8) & 0xff;
      }
      b2 += d2;
      if (b2 > RANK) {
        do b2 -= (hist[--m2] >>> 16) & 0xff;
        while (b2 > RANK);
      } else {
        while (b2 + ((hist[m2] >>> 16) & 0xff) <= RANK) b2 += (hist[m2++] >>> 16) & 0xff;
      }
      b3 += d3;
      if (b3 > RANK) {
        do b3 -= (hist[--m3] >>> 24) & 0xff;
        while (b3 > RANK);
      } else {
        while (b3 + ((hist[m3] >>> 24) & 0xff) <= RANK) b3 += (hist[m3++] >>> 24) & 0xff;
      }
      out[o0 + x] = m0;
      if (n > 1) out[o1 + x] = m1;
      if (n > 2) out[o2 + x] = m2;
      if (n > 3) out[o3 + x] = m3;
      if (outHist) countMedians(hist4, n, m0, m1, m2, m3);
    }
  }
  if (outHist) for (let v = 0; v < 256; v++) outHist[v] = hist4[v] + hist4[256 + v] + hist4[512 + v] + hist4[768 + v];
  return out;
}

/** One pass-column of medianBlur9's outputs into its four sub-histograms (n: rows that exist). */
function countMedians(hist4: Int32Array, n: number, m0: number, m1: number, m2: number, m3: number): void {
  hist4[m0]++;
  if (n > 1) hist4[256 + m1]++;
  if (n > 2) hist4[512 + m2]++;
  if (n > 3) hist4[768 + m3]++;
}
