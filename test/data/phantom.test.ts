import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrXaiError, encodePng } from '../../src/core/index.ts';
import {
  generatePhantom,
  gradeFromLesions,
  countLesions,
  MASKED_LESION_TYPES,
  MILD_MA_MAX,
  SEVERE_HE_PER_QUADRANT,
  type Grade,
  type Lesion,
  type MaskedLesionType,
  type PhantomImage,
} from '../../src/data/phantom/index.ts';

const centre = { x: 100, y: 100 };
const at = (type: Lesion['type'], x: number, y: number): Lesion => ({ type, x, y, radius: 2 });
const repeat = (n: number, make: (k: number) => Lesion): Lesion[] => Array.from({ length: n }, (_, k) => make(k));
/** k haemorrhages in each quadrant around `centre`. */
const hePerQuadrant = (k: number): Lesion[] =>
  [[-1, -1], [1, -1], [-1, 1], [1, 1]].flatMap(([sx, sy]) => repeat(k, (i) => at('HE', centre.x + sx * (10 + i), centre.y + sy * 20)));

test('grading rule on hand-made lesion lists', () => {
  assert.equal(gradeFromLesions([], centre), 0);
  assert.equal(gradeFromLesions(repeat(1, () => at('MA', 10, 10)), centre), 1);
  assert.equal(gradeFromLesions(repeat(MILD_MA_MAX, () => at('MA', 10, 10)), centre), 1);
  assert.equal(gradeFromLesions(repeat(MILD_MA_MAX + 1, () => at('MA', 10, 10)), centre), 2);
  for (const type of ['HE', 'EX', 'SE'] as const) assert.equal(gradeFromLesions([at(type, 10, 10)], centre), 2, type);
  assert.equal(gradeFromLesions(hePerQuadrant(SEVERE_HE_PER_QUADRANT), centre), 3);
  // One quadrant short of the threshold: moderate, however many elsewhere.
  const short = hePerQuadrant(SEVERE_HE_PER_QUADRANT).slice(1).concat(repeat(30, () => at('HE', 150, 150)));
  assert.equal(gradeFromLesions(short, centre), 2);
  assert.equal(gradeFromLesions([at('NV', 100, 100)], centre), 4);
  assert.equal(gradeFromLesions([...hePerQuadrant(9), at('NV', 1, 1)], centre), 4);
  // A point on the dividing line belongs to the right / lower quadrant.
  const onLine = hePerQuadrant(SEVERE_HE_PER_QUADRANT).map((l) => (l.x > centre.x ? { ...l, x: centre.x } : l));
  assert.equal(gradeFromLesions(onLine, centre), 3);
  assert.deepEqual(countLesions([at('MA', 0, 0), at('MA', 1, 1), at('NV', 2, 2)]), { MA: 2, HE: 0, EX: 0, SE: 0, NV: 1 });
});

test('same seed gives byte-identical images and masks; another seed does not', async () => {
  const a = generatePhantom({ seed: 7, size: 128, grade: 3 });
  const b = generatePhantom({ seed: 7, size: 128, grade: 3 });
  assert.deepEqual(b.image.data, a.image.data);
  assert.deepEqual(b.masks, a.masks);
  assert.deepEqual(b.lesions, a.lesions);
  assert.deepEqual(await encodePng(b.image), await encodePng(a.image));
  const c = generatePhantom({ seed: 8, size: 128, grade: 3 });
  assert.notDeepEqual(c.image.data, a.image.data);
  assert.notDeepEqual(c.lesions, a.lesions);
  assert.equal(a.image.width, 128);
  assert.equal(a.image.data.length, 128 * 128 * 3);
  for (const m of Object.values(a.masks)) {
    assert.equal(m.length, 128 * 128);
    assert.ok(m.every((v: number) => v === 0 || v === 255));
  }
});

test('generating by grade draws lesions that the rule grades the same way', () => {
  for (const grade of [0, 1, 2, 3, 4] as Grade[]) {
    for (let seed = 0; seed < 12; seed++) {
      const p = generatePhantom({ seed: 1000 * grade + seed, size: 128, grade, difficulty: { borderlineFraction: 0.5 } });
      assert.equal(p.grade, grade, `seed ${seed}`);
      assert.equal(gradeFromLesions(p.lesions, p.anatomy.retina), grade, `seed ${seed}`);
      const n = countLesions(p.lesions);
      if (grade === 0) assert.equal(p.lesions.length, 0);
      if (grade === 1) assert.ok(n.MA >= 1 && n.MA <= MILD_MA_MAX && n.HE + n.EX + n.SE + n.NV === 0);
      if (grade === 4) assert.ok(n.NV >= 1);
    }
  }
});

test('explicit lesion counts are drawn exactly and graded by the rule', () => {
  const p = generatePhantom({ seed: 3, size: 256, counts: { MA: 3 } });
  assert.deepEqual(countLesions(p.lesions), { MA: 3, HE: 0, EX: 0, SE: 0, NV: 0 });
  assert.equal(p.grade, 1);
  const q = generatePhantom({ seed: 3, size: 256, counts: { MA: 2, EX: 2, SE: 1 } });
  assert.deepEqual(countLesions(q.lesions), { MA: 2, HE: 0, EX: 2, SE: 1, NV: 0 });
  assert.equal(q.grade, 2);
});

/** Mean R, G, B of `image` over the pixels where `select(i)` holds. */
function meanColour(p: PhantomImage, select: (i: number) => boolean): { r: number; g: number; b: number; n: number } {
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  const d = p.image.data;
  for (let i = 0; i < d.length / 3; i++) {
    if (!select(i)) continue;
    r += d[3 * i];
    g += d[3 * i + 1];
    b += d[3 * i + 2];
    n++;
  }
  return { r: r / n, g: g / n, b: b / n, n };
}
const luma = (c: { r: number; g: number; b: number }): number => 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
const redness = (c: { r: number; g: number; b: number }): number => c.r / (c.r + c.g + c.b);
// Towards yellow from the orange-red fundus: the hue angle grows with G/R while blue stays lowest.
const yellowness = (c: { r: number; g: number; b: number }): number => (c.b < c.g ? c.g / c.r : 0);
const saturation = (c: { r: number; g: number; b: number }): number => (Math.max(c.r, c.g, c.b) - Math.min(c.r, c.g, c.b)) / Math.max(c.r, c.g, c.b);

test('lesions are visible where their masks say, compared with the same fundus without lesions', () => {
  const seen = new Set<MaskedLesionType>();
  for (const seed of [11, 12, 13, 14]) {
    const withLesions = generatePhantom({ seed, size: 256, grade: seed % 2 ? 3 : 4 });
    const clean = generatePhantom({ seed, size: 256, counts: {} });
    assert.equal(clean.lesions.length, 0);
    for (const type of MASKED_LESION_TYPES) {
      const mask = withLesions.masks[type];
      if (!mask.some((v) => v)) continue;
      seen.add(type);
      const inside = (i: number): boolean => mask[i] === 255;
      const lesion = meanColour(withLesions, inside);
      const before = meanColour(clean, inside);
      const what = `${type} seed ${seed}`;
      if (type === 'MA' || type === 'HE') {
        assert.ok(luma(lesion) < luma(before) - 5, `${what} darker: ${luma(lesion)} vs ${luma(before)}`);
        assert.ok(redness(lesion) > redness(before), `${what} redder`);
      } else if (type === 'EX') {
        assert.ok(luma(lesion) > luma(before) + 10, `${what} brighter`);
        assert.ok(yellowness(lesion) > yellowness(before), `${what} yellower`);
      } else {
        assert.ok(luma(lesion) > luma(before) + 5, `${what} brighter`);
        assert.ok(saturation(lesion) < saturation(before), `${what} paler`);
      }
    }
    // Away from every lesion the two images are the same pixels: lesions do not move the background.
    const far = (i: number): boolean => {
      const x = i % 256;
      const y = Math.floor(i / 256);
      return withLesions.lesions.every((l) => Math.hypot(x - l.x, y - l.y) > 2.5 * l.radius + 4);
    };
    let compared = 0;
    for (let i = 0; i < 256 * 256; i++) {
      if (!far(i)) continue;
      compared++;
      for (let c = 0; c < 3; c++) assert.equal(withLesions.image.data[3 * i + c], clean.image.data[3 * i + c]);
    }
    assert.ok(compared > 256 * 256 * 0.5);
  }
  assert.deepEqual([...seen].sort(), ['EX', 'HE', 'MA', 'SE']);
});

test('lesions stand out from their own local background; masks sit inside the retina; the disc is bright', () => {
  const diffs: Record<MaskedLesionType, number[]> = { MA: [], HE: [], EX: [], SE: [] };
  for (const seed of [21, 22, 23]) {
    const p = generatePhantom({ seed, size: 256, grade: 3 });
    const size = 256;
    const anyMask = (i: number): boolean => MASKED_LESION_TYPES.some((t) => p.masks[t][i] === 255) || p.masks.OD[i] === 255;
    for (const l of p.lesions) {
      if (l.type === 'NV') continue;
      const mask = p.masks[l.type];
      const near = (i: number, lo: number, hi: number): boolean => {
        const d = Math.hypot((i % size) - l.x, Math.floor(i / size) - l.y);
        return d >= lo && d <= hi;
      };
      const inside = meanColour(p, (i) => mask[i] === 255 && near(i, 0, l.radius * 1.5 + 1));
      const ring = meanColour(p, (i) => near(i, 1.8 * l.radius + 3, 2.8 * l.radius + 6) && !anyMask(i) && p.masks.retina[i] === 255);
      // Every lesion has mask pixels, its centre among them.
      assert.equal(mask[l.y * size + l.x], 255, `${l.type} at ${l.x},${l.y}`);
      diffs[l.type].push(luma(inside) - luma(ring));
    }
    for (const type of [...MASKED_LESION_TYPES, 'OD'] as const) {
      const m = p.masks[type];
      for (let i = 0; i < m.length; i++) if (m[i]) assert.equal(p.masks.retina[i], 255, `${type} outside the retina`);
    }
    const disc = meanColour(p, (i) => p.masks.OD[i] === 255);
    const retina = meanColour(p, (i) => p.masks.retina[i] === 255);
    assert.ok(luma(disc) > 1.25 * luma(retina), `disc ${luma(disc)} vs retina ${luma(retina)}`);
    const outside = meanColour(p, (i) => p.masks.retina[i] === 0);
    assert.ok(luma(outside) < 10, 'black outside the retina');
  }
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(mean(diffs.MA) < -5, `MA ${mean(diffs.MA)}`);
  assert.ok(mean(diffs.HE) < -10, `HE ${mean(diffs.HE)}`);
  assert.ok(mean(diffs.EX) > 10, `EX ${mean(diffs.EX)}`);
  assert.ok(mean(diffs.SE) > 5, `SE ${mean(diffs.SE)}`);
  // Darker bleeds and brighter exudates, lesion by lesion, not just on average.
  assert.ok(diffs.HE.filter((d) => d < 0).length >= 0.9 * diffs.HE.length);
  assert.ok(diffs.EX.filter((d) => d > 0).length >= 0.9 * diffs.EX.length);
});

test('difficulty changes lesion contrast, and bad options are one clear error', () => {
  const contrastOf = (lesionContrast: number): number => {
    const p = generatePhantom({ seed: 5, size: 256, grade: 3, difficulty: { lesionContrast, contrastJitter: 0 } });
    const clean = generatePhantom({ seed: 5, size: 256, counts: {} });
    const inHe = (i: number): boolean => p.masks.HE[i] === 255;
    return luma(meanColour(clean, inHe)) - luma(meanColour(p, inHe));
  };
  const faint = contrastOf(0.4);
  const strong = contrastOf(1.2);
  assert.ok(faint > 0 && strong > 2 * faint, `faint ${faint}, strong ${strong}`);
  const bad: Array<[Parameters<typeof generatePhantom>[0], RegExp]> = [
    [{ seed: -1 }, /seed must be an integer/],
    [{ seed: 1.5 }, /seed must be an integer/],
    [{ seed: 1, size: 16 }, /size must be an integer from 32/],
    [{ seed: 1, grade: 5 as Grade }, /grade must be 0, 1, 2, 3 or 4/],
    [{ seed: 1, grade: 1, counts: { MA: 1 } }, /either a grade or lesion counts/],
    [{ seed: 1, counts: { MA: -2 } }, /lesion count MA/],
    [{ seed: 1, counts: { XX: 1 } as never }, /unknown lesion type XX/],
    [{ seed: 1, difficulty: { noise: -1 } }, /difficulty noise/],
  ];
  for (const [opts, message] of bad) assert.throws(() => generatePhantom(opts), (e: unknown) => e instanceof DrXaiError && message.test(e.message));
});

test('a 256 px phantom takes a few milliseconds', () => {
  for (let k = 0; k < 5; k++) generatePhantom({ seed: k, size: 256, grade: 3 }); // warm up the JIT
  const t0 = performance.now();
  const runs = 10;
  for (let k = 0; k < runs; k++) generatePhantom({ seed: 100 + k, size: 256, grade: (k % 5) as Grade });
  const ms = (performance.now() - t0) / runs;
  // Typically 5-10 ms on an idle core; the bound is loose because the test machine is shared,
  // and still catches an order-of-magnitude slowdown.
  assert.ok(ms < 200, `${ms.toFixed(1)} ms per image`);
});
