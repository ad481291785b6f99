import type { Rng } from '../../core/index.ts';

/**
 * The retinal vessel tree of a phantom: grown as random walks from the optic disc, steered
 * around the macula (the temporal arcades) or away from the disc (nasal vessels), branching
 * with Murray's law for calibres (Murray C.D., PNAS 1926;12:207: r_parent^3 = r_a^3 + r_b^3),
 * tapering, and kept out of the foveal avascular zone.
 */

/** A straight piece of vessel, a capsule with linearly varying half-width (pixels). */
export interface VesselSegment {
  ax: number;
  ay: number;
  bx: number;
  by: number;
  halfWidthA: number;
  halfWidthB: number;
  /** Peak absorbance scale, 0..1 (1 for the largest vein). */
  strength: number;
}

export interface VesselTree {
  veins: VesselSegment[];
  arteries: VesselSegment[];
}

interface Point {
  x: number;
  y: number;
}

interface GrowContext {
  rng: Rng;
  /** Retina radius in pixels: all lengths scale with it. */
  R: number;
  /** Normalised distance from the retina centre (1 on the rim). */
  rho: (x: number, y: number) => number;
  fovea: Point;
  disc: Point;
  /** Largest vein half-width, for strength scaling. */
  mainHalfWidth: number;
  out: VesselSegment[];
}

/** How a vessel is pulled while it grows. */
type Steer = { kind: 'arcade'; sense: 1 | -1; drift: number } | { kind: 'radial' } | { kind: 'free' };

const STEP = 0.02; // step length, in retina radii
const MIN_HALF_WIDTH = 0.0022; // thinnest vessel drawn, in retina radii (about 0.55 px at 512)
const FOVEAL_AVASCULAR_ZONE = 0.06; // radius, in retina radii (about 0.5 mm)

function wrapAngle(a: number): number {
  while (a > Math.PI) a -= 2 * Math.PI;
  while (a < -Math.PI) a += 2 * Math.PI;
  return a;
}

function grow(c: GrowContext, start: Point, angle: number, halfWidth: number, depth: number, steer: Steer, maxSteps: number): void {
  const { rng, R } = c;
  const step = STEP * R;
  const minHalfWidth = MIN_HALF_WIDTH * R;
  let x = start.x;
  let y = start.y;
  let hw = halfWidth;
  let a = angle;
  // Branch probability per step falls with depth; the fourth generation does not branch.
  const branchChance = [0.14, 0.08, 0.05, 0][Math.min(depth, 3)];
  for (let s = 0; s < maxSteps && hw >= minHalfWidth; s++) {
    let target: number | null = null;
    let pull = 0;
    if (steer.kind === 'arcade') {
      const vx = x - c.fovea.x;
      const vy = y - c.fovea.y;
      const len = Math.sqrt(vx * vx + vy * vy) || 1;
      if ((x - c.fovea.x) * (c.disc.x - c.fovea.x) > 0) {
        // Between the disc and the fovea: follow the tangent around the fovea plus a small
        // radial drift, so the arcade arches over (or under) the macula.
        target = Math.atan2((steer.sense * vx + steer.drift * vy) / len, (-steer.sense * vy + steer.drift * vx) / len);
      } else {
        // Past the fovea: head temporally, fanning slightly away from the horizontal raphe.
        const temporal = c.disc.x > c.fovea.x ? Math.PI : 0;
        target = temporal + (vy < 0 ? 1 : -1) * (temporal === 0 ? -0.25 : 0.25);
      }
      pull = Math.min(0.25, 0.05 * s);
    } else {
      target = Math.atan2(y - c.disc.y, x - c.disc.x);
      pull = steer.kind === 'radial' ? 0.07 : 0.025;
    }
    a = wrapAngle(a + pull * wrapAngle(target - a) + rng.normal(0, depth === 0 ? 0.05 : 0.13));
    const nx = x + step * Math.cos(a);
    const ny = y + step * Math.sin(a);
    const nhw = hw * 0.994;
    c.out.push({ ax: x, ay: y, bx: nx, by: ny, halfWidthA: hw, halfWidthB: nhw, strength: strengthFor(nhw, c.mainHalfWidth) });
    x = nx;
    y = ny;
    hw = nhw;
    if (c.rho(x, y) > 1.02) return;
    if (depth > 0 && Math.hypot(x - c.fovea.x, y - c.fovea.y) < FOVEAL_AVASCULAR_ZONE * R) return;
    if (s > 1 && rng.next() < branchChance) {
      // Main trunks keep their calibre and give off thinner branches; deeper vessels split more evenly.
      const childHw = hw * (depth === 0 ? rng.uniform(0.35, 0.6) : rng.uniform(0.45, 0.8));
      const side = rng.next() < 0.5 ? -1 : 1;
      const childAngle = a + side * rng.uniform(0.55, 1.3);
      // Murray's law: the parent carries on with the calibre the child leaves it.
      hw = Math.cbrt(Math.max(hw ** 3 - childHw ** 3, 0)) || hw * 0.8;
      a -= side * 0.12; // the parent bends slightly away from its branch
      grow(c, { x, y }, childAngle, childHw, depth + 1, { kind: 'free' }, Math.round(maxSteps * rng.uniform(0.35, 0.7)));
    }
  }
}

/** Thinner vessels absorb less light: peak absorbance proportional to the path length through them, i.e. to calibre. */
function strengthFor(halfWidth: number, mainHalfWidth: number): number {
  return Math.min(1, Math.max(0.2, halfWidth / mainHalfWidth));
}

/**
 * Grow the vessel tree of one eye. `side` is +1 when the disc lies right of the fovea.
 * Each of the four main directions (superior and inferior temporal arcades, superior and inferior
 * nasal) gets a vein and a thinner artery; a few small vessels run from the disc to the macula.
 */
export function growVesselTree(rng: Rng, R: number, rho: (x: number, y: number) => number, disc: Point & { radius: number }, fovea: Point, side: 1 | -1): VesselTree {
  const mainHalfWidth = 0.011 * R * rng.uniform(0.85, 1.15);
  const veins: VesselSegment[] = [];
  const arteries: VesselSegment[] = [];
  const ctx = (out: VesselSegment[]): GrowContext => ({ rng, R, rho, fovea, disc, mainHalfWidth, out });
  const temporal = side === 1 ? Math.PI : 0; // direction from the disc towards the fovea
  const up = -Math.PI / 2;
  const down = Math.PI / 2;
  for (const [isVein, widthScale] of [[true, 1], [false, 0.72]] as const) {
    const c = ctx(isVein ? veins : arteries);
    const offset = isVein ? 0.12 : -0.12;
    const startAt = (angle: number): Point => ({ x: disc.x + 0.25 * disc.radius * Math.cos(angle), y: disc.y + 0.25 * disc.radius * Math.sin(angle) });
    // Temporal arcades: leave the disc upwards / downwards, then circle the macula.
    for (const [vertical, sense] of [[up, -side], [down, side]] as const) {
      const a0 = vertical - side * (0.15 + offset) * Math.sign(vertical) + rng.normal(0, 0.08);
      grow(c, startAt(vertical), a0, mainHalfWidth * widthScale, 0, { kind: 'arcade', sense: sense as 1 | -1, drift: rng.uniform(-0.12, 0.05) }, 85);
    }
    // Nasal vessels: leave the disc away from the fovea, up and down, and fan out radially.
    const nasal = temporal + Math.PI;
    for (const tilt of [-1, 1]) {
      const a0 = nasal + tilt * side * rng.uniform(0.5, 0.9) + offset;
      grow(c, startAt(a0), a0, mainHalfWidth * widthScale * rng.uniform(0.7, 0.85), 0, { kind: 'radial' }, 45);
    }
    // Small macular vessels straight from the disc towards the fovea.
    const macular = 1 + rng.int(2);
    for (let i = 0; i < macular; i++) {
      const a0 = temporal + rng.uniform(-0.35, 0.35);
      grow(c, startAt(a0), a0, mainHalfWidth * widthScale * rng.uniform(0.3, 0.45), 1, { kind: 'free' }, 22);
    }
  }
  return { veins, arteries };
}

/**
 * Neovascularisation tufts: fine, tortuous new vessels, as random walks with strong turning
 * that stay within `radius` of `centre` (they turn back towards it when they stray).
 */
export function growNewVessels(rng: Rng, R: number, centre: Point, radius: number): VesselSegment[] {
  const out: VesselSegment[] = [];
  const walks = 4 + rng.int(4);
  const hw = Math.max(0.0028 * R, 0.4);
  for (let w = 0; w < walks; w++) {
    let x = centre.x + rng.normal(0, radius * 0.3);
    let y = centre.y + rng.normal(0, radius * 0.3);
    let a = rng.uniform(-Math.PI, Math.PI);
    const steps = 25 + rng.int(25);
    const step = 0.007 * R;
    for (let s = 0; s < steps; s++) {
      a += rng.normal(0, 0.55);
      if (Math.hypot(x - centre.x, y - centre.y) > radius) {
        const back = Math.atan2(centre.y - y, centre.x - x);
        a += 0.5 * wrapAngle(back - a);
      }
      const nx = x + step * Math.cos(a);
      const ny = y + step * Math.sin(a);
      out.push({ ax: x, ay: y, bx: nx, by: ny, halfWidthA: hw, halfWidthB: hw, strength: 0.45 });
      x = nx;
      y = ny;
    }
  }
  return out;
}

/**
 * Rasterise vessel segments into an absorbance plane (`max` over overlapping segments, so the
 * joints of a polyline do not double up). Across a vessel the absorbance is a Gaussian of the
 * distance to the centre line, the cross-section model of the matched-filter vessel detector
 * (Chaudhuri S. et al., IEEE Trans Med Imaging 1989;8:263), with sigma = half-width / 1.2;
 * vessels thinner than a pixel are widened to sigma = 0.5 px with their absorbance scaled down
 * so the total stays the same. `reflex` adds the central light reflex of arteries.
 */
export function rasteriseVessels(segments: readonly VesselSegment[], plane: Float32Array, width: number, height: number, reflex: boolean): void {
  for (const s of segments) {
    const dx = s.bx - s.ax;
    const dy = s.by - s.ay;
    const len2 = dx * dx + dy * dy || 1e-9;
    const maxSigma = Math.max(Math.max(s.halfWidthA, s.halfWidthB) / 1.2, 0.5);
    const reach = 2.5 * maxSigma;
    const x0 = Math.max(0, Math.floor(Math.min(s.ax, s.bx) - reach));
    const x1 = Math.min(width - 1, Math.ceil(Math.max(s.ax, s.bx) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(s.ay, s.by) - reach));
    const y1 = Math.min(height - 1, Math.ceil(Math.max(s.ay, s.by) + reach));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x - s.ax;
        const py = y - s.ay;
        let t = (px * dx + py * dy) / len2;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = px - t * dx;
        const ey = py - t * dy;
        const d2 = ex * ex + ey * ey;
        const hw = s.halfWidthA + t * (s.halfWidthB - s.halfWidthA);
        const sigma = hw / 1.2;
        const sigmaDrawn = sigma > 0.5 ? sigma : 0.5;
        const q = d2 / (sigmaDrawn * sigmaDrawn);
        if (q > 6.25) continue;
        let a = s.strength * (sigma / sigmaDrawn) * Math.exp(-0.5 * q);
        if (reflex && hw > 1.5) a *= 1 - 0.3 * Math.exp(-d2 / (0.09 * hw * hw));
        const i = y * width + x;
        if (a > plane[i]) plane[i] = a;
      }
    }
  }
}
