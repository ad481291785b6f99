import { Rng } from '../../core/index.ts';

/**
 * A seed for an independent random stream `stream` derived from `seed`: MurmurHash3's 32-bit
 * finaliser (Appleby, public domain) over the pair. Separate streams keep the background of a
 * phantom identical whatever lesions are drawn on it, so tests can compare the two.
 */
export function streamSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Smooth value noise in [-1, 1] on a `width` x `height` plane: random values on a lattice with
 * `cell` pixels between nodes, interpolated with the smoothstep weights of Perlin's value noise
 * (Perlin K., "An image synthesizer", SIGGRAPH 1985). Adds `amplitude` times the noise into `out`.
 */
export function addValueNoise(out: Float32Array, width: number, height: number, cell: number, amplitude: number, rng: Rng): void {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const lattice = new Float32Array(gw * gh);
  for (let i = 0; i < lattice.length; i++) lattice[i] = rng.next() * 2 - 1;
  // Precompute per-column lattice index and weight: the inner loop then only blends.
  const colIndex = new Int32Array(width);
  const colWeight = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const gx = x / cell;
    const ix = Math.floor(gx);
    const t = gx - ix;
    colIndex[x] = ix;
    colWeight[x] = t * t * (3 - 2 * t);
  }
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const iy = Math.floor(gy);
    const t = gy - iy;
    const wy = t * t * (3 - 2 * t);
    const row0 = iy * gw;
    const row1 = row0 + gw;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      const ix = colIndex[x];
      const wx = colWeight[x];
      const top = lattice[row0 + ix] + (lattice[row0 + ix + 1] - lattice[row0 + ix]) * wx;
      const bottom = lattice[row1 + ix] + (lattice[row1 + ix + 1] - lattice[row1 + ix]) * wx;
      out[o + x] += amplitude * (top + (bottom - top) * wy);
    }
  }
}
