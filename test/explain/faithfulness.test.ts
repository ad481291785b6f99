import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CamExplainer, faithfulnessCurves, rankPixels } from '../../src/explain/index.ts';
import { trapezoidArea } from '../../src/evaluate/index.ts';
import { FIXTURES, readJson, referenceImages, type CamReference } from './helpers.ts';

test('trapezoidal AUC and pixel ranking', () => {
  assert.equal(trapezoidArea([0, 0.5, 1], [1, 1, 0]), 0.75);
  assert.equal(trapezoidArea([0, 1], [0.2, 0.2]), 0.2);
  assert.deepEqual(rankPixels([0.1, 0.9, 0.5, 0.9], undefined), [1, 3, 2, 0]);
  assert.deepEqual(rankPixels([0.1, 0.9, 0.5, 0.9], new Uint8Array([1, 0, 1, 1])), [3, 2, 0]);
  const r = rankPixels([0, 0, 0, 0, 0], undefined, { random: 1 });
  assert.deepEqual([...r].sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(r, rankPixels([0, 0, 0, 0, 0], undefined, { random: 1 }));
});

test('deletion runs from the image to a black one, insertion from the blurred canvas back to the image', async () => {
  const ref = readJson<CamReference>('cam_reference.json');
  const [image] = referenceImages(ref);
  const explainer = await CamExplainer.create(path.join(FIXTURES, 'cam_binary.onnx'), { threads: 1 });
  const [a] = await explainer.attribute([image]);
  const c = await faithfulnessCurves(explainer, image, a.map, { steps: 4 });
  assert.deepEqual(c.fractions, [0, 0.25, 0.5, 0.75, 1]);
  const black = { ...image, data: new Uint8Array(image.data.length) };
  const [orig, dark] = (await explainer.forward(explainer.inputTensor([image, black]), 2)).probability;
  assert.ok(Math.abs(c.deletion[0] - orig) < 1e-6);
  assert.ok(Math.abs(c.deletion[4] - dark) < 1e-6);
  assert.ok(Math.abs(c.insertion[4] - orig) < 1e-6);
  assert.ok(Math.abs(c.deletion[0] - a.probability) < 1e-6);
  assert.equal(c.deletionAuc, trapezoidArea(c.fractions, c.deletion));
  await explainer.release();
});

test('pickBalanced draws half non-referable and half referable, seeded, and fills a short class from the other', async () => {
  const { pickBalanced } = await import('../../src/explain/index.ts');
  const cases = Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, path: `/x/c${i}.png`, grade: i < 14 ? i % 2 : 2 + (i % 3) }));
  const a = pickBalanced(cases, 6, 1);
  assert.equal(a.filter((c) => c.grade! < 2).length, 3);
  assert.equal(a.filter((c) => c.grade! >= 2).length, 3);
  assert.deepEqual(a, pickBalanced(cases, 6, 1));
  assert.notDeepEqual(a.map((c) => c.id), pickBalanced(cases, 6, 2).map((c) => c.id));
  const b = pickBalanced(cases, 16, 1);
  assert.equal(b.length, 16);
  assert.equal(b.filter((c) => c.grade! >= 2).length, 6); // only 6 referable exist
  assert.equal(pickBalanced([...cases, { id: 'u', path: '/x/u.png', grade: null }], 40, 1).length, 20);
});
