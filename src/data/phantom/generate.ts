import { DrXaiError, Rng } from '../../core/index.ts';
import { gradeFromLesions, planLesions, type LesionPlan } from './grade.ts';
import { drawLesions } from './lesions.ts';
import { addValueNoise, streamSeed } from './noise.ts';
import type { Grade, LesionCounts, PhantomAnatomy, PhantomDifficulty, PhantomImage, PhantomOptions } from './types.ts';
import { growVesselTree, rasteriseVessels } from './vessels.ts';

/** Difficulty presets; `medium` is the default. */
export const PHANTOM_DIFFICULTY: Readonly<Record<'easy' | 'medium' | 'hard', PhantomDifficulty>> = {
  easy: { lesionContrast: 1.2, contrastJitter: 0.2, sizeJitter: 0.2, noise: 1.5, borderlineFraction: 0 },
  medium: { lesionContrast: 1, contrastJitter: 0.5, sizeJitter: 0.35, noise: 3, borderlineFraction: 0.3 },
  hard: { lesionContrast: 0.7, contrastJitter: 0.6, sizeJitter: 0.5, noise: 5, borderlineFraction: 0.6 },
};

export const DEFAULT_PHANTOM_SIZE = 512;
export const MIN_PHANTOM_SIZE = 32;
export const MAX_PHANTOM_SIZE = 4096;

// Independent random streams per seed (see streamSeed): the background never depends on the lesions.
const STREAM_BACKGROUND = 1;
const STREAM_PLAN = 2;
const STREAM_LESIONS = 3;
const STREAM_SENSOR = 4;

// Light absorbed by blood per unit absorbance, per channel (R, G, B): haemoglobin absorbs
// green and blue far more than red, so vessels and bleeds look dark red on an orange fundus.
const VEIN_ABSORPTION = [0.4, 1.0, 0.8] as const;
const ARTERY_ABSORPTION = [0.25, 0.6, 0.5] as const;
// Colour factors at full effect: dark red for microaneurysms and haemorrhages.
const MICROANEURYSM_TRANSMISSION = [0.6, 0.34, 0.4] as const;
const HAEMORRHAGE_TRANSMISSION = [0.66, 0.4, 0.45] as const;
// Optic disc colours (reflectance): yellow-orange neuroretinal rim, paler cup.
const DISC_RIM = [1.0, 0.64, 0.26] as const;
const DISC_CUP = [1.0, 0.84, 0.46] as const;
const DISC_OPACITY = 0.85;
// Target colours (reflectance) at full effect for hard and soft exudates.
const HARD_EXUDATE = [1.0, 0.88, 0.32] as const;
const SOFT_EXUDATE = [0.95, 0.84, 0.7] as const;

function checkDifficulty(d: PhantomDifficulty): void {
  const bad = (name: string, v: number, lo: number, hi: number): void => {
    if (!Number.isFinite(v) || v < lo || v > hi) throw new DrXaiError(`phantom difficulty ${name} must be in [${lo}, ${hi}], got ${v}`);
  };
  bad('lesionContrast', d.lesionContrast, 0, 3);
  bad('contrastJitter', d.contrastJitter, 0, 1);
  bad('sizeJitter', d.sizeJitter, 0, 0.9);
  bad('noise', d.noise, 0, 50);
  bad('borderlineFraction', d.borderlineFraction, 0, 1);
}

/** Validate options (one DrXaiError line per mistake); returns the size and full difficulty. */
export function checkPhantomOptions(opts: PhantomOptions): { size: number; difficulty: PhantomDifficulty } {
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff) {
    throw new DrXaiError(`phantom seed must be an integer in [0, 4294967295], got ${opts.seed}`);
  }
  const size = opts.size ?? DEFAULT_PHANTOM_SIZE;
  if (!Number.isInteger(size) || size < MIN_PHANTOM_SIZE || size > MAX_PHANTOM_SIZE) {
    throw new DrXaiError(`phantom size must be an integer from ${MIN_PHANTOM_SIZE} to ${MAX_PHANTOM_SIZE} pixels, got ${size}`);
  }
  if (opts.grade !== undefined && opts.counts !== undefined) throw new DrXaiError('give a phantom either a grade or lesion counts, not both');
  if (opts.grade !== undefined && ![0, 1, 2, 3, 4].includes(opts.grade)) throw new DrXaiError(`phantom grade must be 0, 1, 2, 3 or 4, got ${opts.grade}`);
  for (const [type, n] of Object.entries(opts.counts ?? {})) {
    if (!['MA', 'HE', 'EX', 'SE', 'NV'].includes(type)) throw new DrXaiError(`unknown lesion type ${type} (expected MA, HE, EX, SE or NV)`);
    if (!Number.isInteger(n) || n < 0 || n > 200) throw new DrXaiError(`lesion count ${type} must be an integer from 0 to 200, got ${n}`);
  }
  const difficulty = { ...PHANTOM_DIFFICULTY.medium, ...opts.difficulty };
  checkDifficulty(difficulty);
  return { size, difficulty };
}

/**
 * One synthetic colour fundus photograph with its ground truth. Everything random comes from
 * `seed` through separate streams (background, lesion plan, lesion shapes, sensor noise), so
 * the same options give byte-identical output, and the same seed with other lesions gives the
 * same background.
 *
 * Image model, in reflectance space then through the camera: fundus colour with choroidal
 * mottling, darker macula and fovea, bright optic disc with a paler cup, vessels by
 * Beer-Lambert absorption, lesions, then illumination (vignetting towards the rim, an
 * off-centre hot spot, slow variation), camera gain and colour cast, sensor noise, black
 * outside the retina.
 */
export function generatePhantom(opts: PhantomOptions): PhantomImage {
  const { size, difficulty } = checkPhantomOptions(opts);
  const bg = new Rng(streamSeed(opts.seed, STREAM_BACKGROUND));
  const planRng = new Rng(streamSeed(opts.seed, STREAM_PLAN));
  const lesionRng = new Rng(streamSeed(opts.seed, STREAM_LESIONS));
  const sensor = new Rng(streamSeed(opts.seed, STREAM_SENSOR));
  const n = size * size;

  // --- Anatomy -------------------------------------------------------------------------
  const radiusX = size * bg.uniform(0.44, 0.49);
  const cropped = bg.next() < 0.45;
  const radiusY = cropped ? radiusX * bg.uniform(1.05, 1.2) : radiusX;
  const retina = { x: size / 2 + size * bg.uniform(-0.02, 0.02), y: size / 2 + size * bg.uniform(-0.02, 0.02), radiusX, radiusY };
  const R = radiusX;
  const rho = (x: number, y: number): number => Math.hypot((x - retina.x) / retina.radiusX, (y - retina.y) / retina.radiusY);
  const side: 1 | -1 = bg.next() < 0.5 ? 1 : -1; // +1: disc right of the fovea
  const discRadius = R * bg.uniform(0.12, 0.15);
  const opticDisc = { x: retina.x + side * R * bg.uniform(0.36, 0.46), y: retina.y + R * bg.uniform(-0.1, 0.06), radius: discRadius };
  // The fovea lies about 2.5 disc diameters temporal to the disc, a little below it.
  const foveaDistance = 2 * discRadius * bg.uniform(2.2, 2.6);
  const fovea = { x: opticDisc.x - side * foveaDistance, y: opticDisc.y + R * bg.uniform(0, 0.08) };
  const anatomy: PhantomAnatomy = { retina, opticDisc, fovea };

  // --- Colours and illumination parameters ---------------------------------------------
  const baseR = bg.uniform(0.78, 0.95);
  const baseG = baseR * bg.uniform(0.4, 0.58);
  const baseB = baseG * bg.uniform(0.2, 0.5);
  const gain = bg.uniform(0.7, 1.12);
  const cool = bg.next() < 0.15; // some cameras give a grey-green cast
  const cast = cool ? [0.8, 1.05, 1.4] : [1, bg.uniform(0.95, 1.08), bg.uniform(0.9, 1.2)];
  const hotX = retina.x + R * bg.uniform(-0.15, 0.15);
  const hotY = retina.y + R * bg.uniform(-0.15, 0.15);
  const vignetteDepth = bg.uniform(0.3, 0.6);
  const vignettePower = bg.uniform(2, 3.5);
  const maculaSigma = R * bg.uniform(0.14, 0.2);
  const maculaDepth = bg.uniform(0.15, 0.3);
  const foveaSigma = R * 0.035;
  const discAspect = bg.uniform(1, 1.12);
  const cupRadius = discRadius * bg.uniform(0.3, 0.5);
  const cupX = opticDisc.x - side * discRadius * 0.15;
  const noiseStd = (difficulty.noise * bg.uniform(0.5, 1.5)) / 255;

  // Slow illumination variation and choroidal mottling (multiplicative fields around 1).
  const illumination = new Float32Array(n).fill(1);
  addValueNoise(illumination, size, size, Math.max(2, 0.5 * R), 0.06, bg);
  addValueNoise(illumination, size, size, Math.max(2, 0.2 * R), 0.03, bg);
  const texture = new Float32Array(n).fill(1);
  addValueNoise(texture, size, size, Math.max(1.5, 0.08 * R), 0.04, bg);
  addValueNoise(texture, size, size, Math.max(1, 0.025 * R), 0.03, bg);

  // --- Vessels --------------------------------------------------------------------------
  const tree = growVesselTree(bg, R, rho, opticDisc, fovea, side);
  const veins = new Float32Array(n);
  const arteries = new Float32Array(n);
  rasteriseVessels(tree.veins, veins, size, size, false);
  rasteriseVessels(tree.arteries, arteries, size, size, true);

  // --- Lesions --------------------------------------------------------------------------
  const plan = makePlan(opts, planRng, difficulty);
  const vesselPresence = new Float32Array(n);
  for (let i = 0; i < n; i++) vesselPresence[i] = veins[i] + arteries[i];
  const drawing = drawLesions(lesionRng, plan, { size, anatomy, rho, vessels: vesselPresence }, difficulty);
  rasteriseVessels(drawing.newVessels, veins, size, size, false);
  const { MA, HE, EX, SE } = drawing.layers;

  // --- Compose --------------------------------------------------------------------------
  const data = new Uint8Array(n * 3);
  const retinaMask = new Uint8Array(n);
  const discMask = new Uint8Array(n);
  // Vignetting as a table over the squared normalised distance from the hot spot (pow per pixel is slow).
  const VIGNETTE_STEPS = 1024;
  const VIGNETTE_MAX = 4; // squared distance covered by the table
  const vignette = new Float32Array(VIGNETTE_STEPS + 1);
  for (let k = 0; k <= VIGNETTE_STEPS; k++) {
    const hr = Math.sqrt((k / VIGNETTE_STEPS) * VIGNETTE_MAX);
    vignette[k] = Math.max(0.15, 1 - vignetteDepth * Math.pow(hr, vignettePower));
  }
  const invRx = 1 / retina.radiusX;
  const invRy = 1 / retina.radiusY;
  // Macular darkening as a table over the squared distance from the fovea, out to 3 sigma.
  const maculaReach2 = (3 * maculaSigma) ** 2;
  const MACULA_STEPS = 4096;
  const maculaScale = MACULA_STEPS / maculaReach2;
  const macula = new Float32Array(MACULA_STEPS + 1);
  for (let k = 0; k <= MACULA_STEPS; k++) {
    const d2 = k / maculaScale;
    macula[k] = maculaDepth * Math.exp(-d2 / (maculaSigma * maculaSigma)) + 0.12 * Math.exp(-d2 / (foveaSigma * foveaSigma));
  }
  const invDiscX = 1 / discRadius;
  const invDiscY = 1 / (discRadius * discAspect);
  const invCup = 1 / cupRadius;
  const noiseWidth = noiseStd * Math.sqrt(12); // uniform noise of width sqrt(12)*std has that std
  const bgLevel = 0.012 * gain;
  const [castR, castG, castB] = cast;
  for (let y = 0; y < size; y++) {
    const ny = (y - retina.y) * invRy;
    const hy = (y - hotY) * invRy;
    const fy = y - fovea.y;
    const fy2 = fy * fy;
    const cy = y - opticDisc.y;
    const dy = (y - opticDisc.y) * invDiscY;
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const nx = (x - retina.x) * invRx;
      const r = Math.sqrt(nx * nx + ny * ny);
      // Anti-aliased rim: about one pixel wide.
      const inside = Math.min(1, Math.max(0, (1 - r) * R + 0.5));
      let cr = 0;
      let cg = 0;
      let cb = 0;
      if (inside > 0) {
        const t = texture[i];
        cr = baseR * t;
        cg = baseG * (0.5 + 0.5 * t);
        cb = baseB * (0.5 + 0.5 * t);
        // Macula: macular pigment absorbs blue most (Snodderly et al., IOVS 1984).
        const fx = x - fovea.x;
        const fd2 = fx * fx + fy2;
        if (fd2 < maculaReach2) {
          const m = macula[Math.round(fd2 * maculaScale)];
          cr *= 1 - 0.8 * m;
          cg *= 1 - m;
          cb *= 1 - 1.2 * Math.min(m, 0.8);
        }
        // Optic disc: a soft-edged vertical oval, paler in its cup.
        const dx = (x - opticDisc.x) * invDiscX;
        const dq2 = dx * dx + dy * dy;
        if (dq2 < 1.1664) {
          const dq = Math.sqrt(dq2);
          if (dq <= 1) discMask[i] = 255;
          const a = DISC_OPACITY * Math.min(1, (1.08 - dq) / 0.16);
          const cx = x - cupX;
          const cq = Math.sqrt(cx * cx + cy * cy) * invCup;
          const cup = Math.min(1, Math.max(0, 1.3 - cq));
          cr += a * (DISC_RIM[0] + cup * (DISC_CUP[0] - DISC_RIM[0]) - cr);
          cg += a * (DISC_RIM[1] + cup * (DISC_CUP[1] - DISC_RIM[1]) - cg);
          cb += a * (DISC_RIM[2] + cup * (DISC_CUP[2] - DISC_RIM[2]) - cb);
        }
        // Vessels: Beer-Lambert transmission exp(-absorbance * channel absorption).
        const av = veins[i];
        const aa = arteries[i];
        if (av > 0 || aa > 0) {
          cr *= Math.exp(-(av * VEIN_ABSORPTION[0] + aa * ARTERY_ABSORPTION[0]));
          cg *= Math.exp(-(av * VEIN_ABSORPTION[1] + aa * ARTERY_ABSORPTION[1]));
          cb *= Math.exp(-(av * VEIN_ABSORPTION[2] + aa * ARTERY_ABSORPTION[2]));
        }
        // Lesions: bleeds darken towards dark red, exudates blend towards their colour.
        if (MA && MA.effect[i] > 0) {
          const e = Math.min(1, MA.effect[i]);
          cr *= 1 - e * (1 - MICROANEURYSM_TRANSMISSION[0]);
          cg *= 1 - e * (1 - MICROANEURYSM_TRANSMISSION[1]);
          cb *= 1 - e * (1 - MICROANEURYSM_TRANSMISSION[2]);
        }
        if (HE && HE.effect[i] > 0) {
          const e = Math.min(1, HE.effect[i]);
          cr *= 1 - e * (1 - HAEMORRHAGE_TRANSMISSION[0]);
          cg *= 1 - e * (1 - HAEMORRHAGE_TRANSMISSION[1]);
          cb *= 1 - e * (1 - HAEMORRHAGE_TRANSMISSION[2]);
        }
        if (SE && SE.effect[i] > 0) {
          const e = Math.min(1, SE.effect[i]);
          cr += e * (SOFT_EXUDATE[0] - cr);
          cg += e * (SOFT_EXUDATE[1] - cg);
          cb += e * (SOFT_EXUDATE[2] - cb);
        }
        if (EX && EX.effect[i] > 0) {
          const e = Math.min(1, EX.effect[i]);
          cr += e * (HARD_EXUDATE[0] - cr);
          cg += e * (HARD_EXUDATE[1] - cg);
          cb += e * (HARD_EXUDATE[2] - cb);
        }
        // Illumination: vignetting around an off-centre hot spot, slow variation, camera.
        const hx = (x - hotX) * invRx;
        const h2 = Math.min(VIGNETTE_MAX, hx * hx + hy * hy);
        const light = gain * illumination[i] * vignette[Math.round((h2 / VIGNETTE_MAX) * VIGNETTE_STEPS)];
        cr *= light * castR;
        cg *= light * castG;
        cb *= light * castB;
        if (r <= 1) retinaMask[i] = 255;
      }
      // Black outside the retina, then sensor noise (uniform, independent per channel).
      const outside = (1 - inside) * bgLevel;
      const o = i * 3;
      // One 32-bit draw gives three 10-bit uniforms (one random call per pixel instead of three).
      const bits = (sensor.next() * 4294967296) >>> 0;
      data[o] = to8(inside * cr + outside + noiseWidth * ((bits & 1023) / 1024 - 0.5));
      data[o + 1] = to8(inside * cg + outside + noiseWidth * (((bits >>> 10) & 1023) / 1024 - 0.5));
      data[o + 2] = to8(inside * cb + outside + noiseWidth * (((bits >>> 20) & 1023) / 1024 - 0.5));
    }
  }

  const empty = (): Uint8Array => new Uint8Array(n);
  const masks = {
    retina: retinaMask,
    MA: MA?.mask ?? empty(),
    HE: HE?.mask ?? empty(),
    EX: EX?.mask ?? empty(),
    SE: SE?.mask ?? empty(),
    OD: discMask,
  };
  // Lesion masks stop at the retina rim (they are placed well inside it; this makes it a guarantee).
  for (const key of ['MA', 'HE', 'EX', 'SE'] as const) {
    const m = masks[key];
    for (let i = 0; i < n; i++) if (m[i] && !retinaMask[i]) m[i] = 0;
  }
  const grade = gradeFromLesions(drawing.lesions, retina);
  return { image: { width: size, height: size, channels: 3, data }, masks, grade, lesions: drawing.lesions, anatomy };
}

function to8(v: number): number {
  const s = (v * 255 + 0.5) | 0;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

function makePlan(opts: PhantomOptions, rng: Rng, difficulty: PhantomDifficulty): LesionPlan {
  if (opts.counts) {
    const counts: LesionCounts = { MA: 0, HE: 0, EX: 0, SE: 0, NV: 0, ...opts.counts };
    return { counts, hePerQuadrant: 0 };
  }
  const grade: Grade = opts.grade ?? 0;
  const borderline = rng.next() < difficulty.borderlineFraction;
  return planLesions(grade, rng, borderline);
}
