import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import { centreGaussianHeatmap, randomHeatmap, scoreHeatmap, summariseScores, type LesionPlanes } from '../../src/explain/index.ts';

const W = 10;
const H = 10;
function plane(points: [number, number][]): Uint8Array {
  const p = new Uint8Array(W * H);
  for (const [x, y] of points) p[y * W + x] = 255;
  return p;
}
// retina: every row but the first (90 px); MA one pixel; HE a 2x2 block; OD the last column.
const retina = new Uint8Array(W * H).fill(1).fill(0, 0, W);
const lesions: LesionPlanes = {
  MA: plane([[2, 2]]),
  HE: plane([[5, 5], [6, 5], [5, 6], [6, 6]]),
  EX: plane([]),
  SE: plane([]),
  OD: plane(Array.from({ length: 9 }, (_, i) => [9, i + 1] as [number, number])),
};

function mapA(): Float32Array {
  const m = new Float32Array(W * H);
  for (let i = W; i < W * H; i++) m[i] = 1;
  for (const [x, y] of [[5, 5], [6, 5], [5, 6], [6, 6]]) m[y * W + x] = 4;
  m[0] = 2; // outside the retina
  return m;
}

test('hand-made masks: pointing hit, energy ratios, OD share and heat outside the retina are exact', () => {
  const s = scoreHeatmap(mapA(), W, H, lesions, retina);
  assert.equal(s.pointingHit, true);
  assert.deepEqual(s.maxAt, { x: 5, y: 5 });
  // heat in the retina 86*1 + 4*4 = 102 over 90 px
  assert.equal(s.energyRatio.HE, (16 / 102) / (4 / 90));
  assert.equal(s.energyRatio.MA, (1 / 102) / (1 / 90));
  assert.equal(s.energyRatio.any, (17 / 102) / (5 / 90));
  assert.equal(s.energyRatio.EX, null);
  assert.equal(s.energyRatio.SE, null);
  assert.equal(s.odHeatShare, 9 / 102);
  assert.equal(s.odAreaShare, 9 / 90);
  assert.equal(s.outsideRetina, 2 / 104);
});

test('a uniform map scores 1 for every present lesion type; pointing uses the first maximum', () => {
  const s = scoreHeatmap(new Float32Array(W * H).fill(0.5), W, H, lesions, retina);
  assert.equal(s.energyRatio.HE, 1);
  assert.equal(s.energyRatio.MA, 1);
  assert.equal(s.energyRatio.any, 1);
  assert.deepEqual(s.maxAt, { x: 0, y: 1 }); // the first maximum inside the retina (row 0 is outside)
  assert.equal(s.pointingHit, false);
});

test('pointing uses the maximum inside the retina: a higher peak on the black padding does not count', () => {
  const m = mapA();
  m[0] = 10; // outside the retina, above the HE block's 4
  const s = scoreHeatmap(m, W, H, lesions, retina);
  assert.deepEqual(s.maxAt, { x: 5, y: 5 });
  assert.equal(s.pointingHit, true);
  // With no retina at all, the maximum anywhere is used.
  assert.deepEqual(scoreHeatmap(m, W, H, lesions, new Uint8Array(W * H)).maxAt, { x: 0, y: 0 });
});

test('pointing-game tolerance is a fraction of the width, measured as a Euclidean distance', () => {
  const m = new Float32Array(W * H);
  m[3 * W + 3] = 1; // sqrt(2) = 1.414 px from the MA at (2, 2)
  assert.equal(scoreHeatmap(m, W, H, lesions, retina, { tolerance: 0.1 }).pointingHit, false); // 1 px
  assert.equal(scoreHeatmap(m, W, H, lesions, retina, { tolerance: 0.14 }).pointingHit, false); // 1.4 px
  assert.equal(scoreHeatmap(m, W, H, lesions, retina, { tolerance: 0.15 }).pointingHit, true); // 1.5 px
  const none: LesionPlanes = { ...lesions, MA: plane([]), HE: plane([]) };
  const s = scoreHeatmap(m, W, H, none, retina);
  assert.equal(s.pointingHit, null);
  assert.equal(s.energyRatio.any, null);
});

test('an all-zero map has no shares; wrong-sized masks are refused', () => {
  const s = scoreHeatmap(new Float32Array(W * H), W, H, lesions, retina);
  assert.equal(s.energyRatio.HE, null);
  assert.equal(s.odHeatShare, null);
  assert.equal(s.outsideRetina, 0);
  assert.throws(() => scoreHeatmap(new Float32Array(W * H), W, H, { ...lesions, EX: new Uint8Array(5) }, retina), /EX mask has 5 values/);
});

test('baselines: centre Gaussian peaks at the centre with sigma = width/4; random noise is seeded and zero outside the retina', () => {
  const g = centreGaussianHeatmap(4, 4);
  assert.equal(g[1 * 4 + 1], Math.fround(Math.exp(-0.25)));
  assert.equal(g[0], Math.fround(Math.exp(-(1.5 ** 2 * 2) / 2)));
  const a = randomHeatmap(new Rng(3), W, H, retina);
  const b = randomHeatmap(new Rng(3), W, H, retina);
  assert.deepEqual(a, b);
  assert.ok(a.subarray(0, W).every((v) => v === 0));
  assert.ok(a.subarray(W).every((v) => v > 0 && v < 1));
});

test('summaries average over images where a lesion type is present and count pointing over images with lesions', () => {
  const none: LesionPlanes = { ...lesions, MA: plane([]), HE: plane([]) };
  const s1 = scoreHeatmap(mapA(), W, H, lesions, retina);
  const s2 = scoreHeatmap(new Float32Array(W * H).fill(0.5), W, H, lesions, retina);
  const s3 = scoreHeatmap(mapA(), W, H, none, retina);
  const sum = summariseScores([s1, s2, s3]);
  assert.equal(sum.images, 3);
  assert.equal(sum.pointingImages, 2);
  assert.equal(sum.pointingGame, 0.5);
  assert.equal(sum.energyRatio.HE, ((16 / 102) / (4 / 90) + 1) / 2);
  assert.equal(sum.energyRatio.EX, null);
  assert.equal(sum.odAreaShare, (9 / 90 + 9 / 90 + 9 / 90) / 3);
});
