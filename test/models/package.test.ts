import { decideFromLogits } from '../../src/models/index.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadModel, meanOverViews, saveModel, readSidecar, ttaBatch } from '../../src/models/index.ts';
import { positiveProbability } from '../../src/core/index.ts';

const FIX = path.resolve(import.meta.dirname, '../fixtures/models');
const expected = JSON.parse(readFileSync(path.join(FIX, 'tiny_expected.json'), 'utf8'));

function testImage(invert: boolean) {
  const data = new Uint8Array(8 * 8 * 3);
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++)
      for (let c = 0; c < 3; c++) {
        const v = (y * 37 + x * 11 + c * 53) % 256;
        data[(y * 8 + x) * 3 + c] = invert ? 255 - v : v;
      }
  return { width: 8, height: 8, channels: 3 as const, data };
}

test('loadModel + predict reproduce the numpy logits of the fixture (normalisation included)', async () => {
  const model = await loadModel(path.join(FIX, 'tiny.onnx'));
  const out = await model.predict([testImage(false), testImage(true)], { features: true });
  assert.equal(out.logits.length, 2);
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(out.logits[i] - expected.logits[i]) < 1e-4, `logit ${i}: ${out.logits[i]} vs ${expected.logits[i]}`);
    assert.ok(Math.abs(out.probability[i] - 1 / (1 + Math.exp(-expected.logits[i]))) < 1e-5);
  }
  assert.deepEqual(out.features?.dims, [2, 4, 8, 8]);
  const sum0 = out.features!.data.slice(0, 256).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum0 - expected.features_sum[0]) < 1e-2);
  // The one decision rule (src/screening): probability >= the stored threshold, none when ungradable.
  const [at, below, ungradable] = decideFromLogits(model.info, [0, -0.0004, 3], [true, true, false]);
  assert.equal(model.info.operatingPoint?.threshold, 0.5);
  assert.deepEqual([at.referable, below.referable, ungradable.referable], [true, false, null]);
  await model.release();
});

test('decideFromLogits of an ordinal grade model: the predicted grade is the rounded expected grade; none when ungradable or binary', () => {
  const info = { task: 'grade' as const, numClasses: 4, operatingPoint: { threshold: 0.7 } };
  // z = [2, 0, -1, -3]: P(grade > k) = sigmoid(z_k) = 0.881, 0.5, 0.269, 0.047; expected grade = their sum = 1.697 -> 2,
  // while P(grade >= 2) = 0.5 stays below the threshold: graded 2, not referred (the two rules answer different questions).
  // z = [3, -2, -4, -5]: expected grade 0.953 + 0.119 + 0.018 + 0.007 = 1.097 -> 1.
  const [two, one, ungradable] = decideFromLogits(info, [2, 0, -1, -3, 3, -2, -4, -5, 2, 0, -1, -3], [true, true, false]);
  assert.deepEqual([two.predictedGrade, one.predictedGrade, ungradable.predictedGrade], [2, 1, null]);
  assert.ok(Math.abs(two.probability - 0.5) < 1e-12);
  assert.deepEqual([two.referable, one.referable, ungradable.referable], [false, false, null]);
  assert.equal(ungradable.classProbabilities?.length, 5, 'the probabilities stay, for a grader to read');
  assert.equal(decideFromLogits({ task: 'referable', numClasses: 1 }, [3], [true])[0].predictedGrade, null);
});

test('positiveProbability: sigmoid for binary, P(grade >= 2) for five grades', () => {
  assert.deepEqual(positiveProbability([0], 'referable', 1), [0.5]);
  const p = positiveProbability([0, 0, 0, 0, Math.log(2)], 'grade', 5)[0];
  assert.ok(Math.abs(p - 4 / 6) < 1e-12); // softmax weights 1,1,1,1,2: grades 2..4 hold 4 of 6
});

test('model package errors name the file: missing sidecar, bad field, wrong input size, round trip', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-model-'));
  const onnx = path.join(dir, 'm.onnx');
  copyFileSync(path.join(FIX, 'tiny.onnx'), onnx);
  await assert.rejects(loadModel(onnx), /m\.json: model sidecar .* not found/);
  const sidecar = await readSidecar(path.join(FIX, 'tiny.onnx'));
  writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, numClasses: -1 }));
  await assert.rejects(loadModel(onnx), /m\.json: invalid model sidecar: numClasses/);
  writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, task: 'grade', numClasses: 3 }));
  await assert.rejects(readSidecar(onnx), /m\.json: invalid model sidecar: numClasses: a grade model has 5 \(softmax\) or 4 \(ordinal\) outputs, not 3/);
  writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, task: 'grade', numClasses: 5 }));
  await assert.rejects(loadModel(onnx), /m\.onnx: the graph's 'logits' is \[N, 1\] but the sidecar says numClasses 5/);
  writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, outputs: { logits: 'nope' } }));
  await assert.rejects(loadModel(onnx), /names output 'nope'/);
  await saveModel(path.join(dir, 'n.onnx'), readFileSync(onnx), sidecar);
  assert.deepEqual(await readSidecar(path.join(dir, 'n.onnx')), sidecar);
  const model = await loadModel(path.join(dir, 'n.onnx'));
  await assert.rejects(model.predict([{ width: 4, height: 4, channels: 3, data: new Uint8Array(48) }]), /expects 8x8 RGB input, got 4x4x3/);
  await model.release();
});

test('ttaBatch flips each image plane; meanOverViews averages the views', () => {
  // One 1-channel-like image per plane: 2x2 planes [a b; c d] for each of 3 channels.
  const input = Float32Array.from({ length: 12 }, (_, i) => i); // c0: 0 1 / 2 3, c1: 4 5 / 6 7, c2: 8 9 / 10 11
  const b = ttaBatch(input, 1, 2, ['hflip', 'vflip', 'hvflip']);
  assert.deepEqual(Array.from(b.subarray(0, 12)), Array.from(input));
  assert.deepEqual(Array.from(b.subarray(12, 24)), [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10]);
  assert.deepEqual(Array.from(b.subarray(24, 36)), [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9]);
  assert.deepEqual(Array.from(b.subarray(36, 48)), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
  assert.equal(ttaBatch(input, 1, 2, []), input);
  // Two images, two classes, one extra view: [[1,2],[3,4]] then [[3,4],[5,6]] -> [[2,3],[4,5]].
  assert.deepEqual(Array.from(meanOverViews([1, 2, 3, 4, 3, 4, 5, 6], 2, 2, 1)), [2, 3, 4, 5]);
  assert.throws(() => meanOverViews([1, 2, 3, 4, 3, 4, 5, 6], 2, 3, 1), /returned 8 logits for 2 view\(s\) of 2 image\(s\); expected 3 per image/);
});

test('predict with the sidecar tta averages the logits of the image and its flips; features stay the unflipped view', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-tta-'));
  const onnx = path.join(dir, 'tta.onnx');
  copyFileSync(path.join(FIX, 'tiny.onnx'), onnx);
  const sidecar = await readSidecar(path.join(FIX, 'tiny.onnx'));
  writeFileSync(path.join(dir, 'tta.json'), JSON.stringify({ ...sidecar, tta: ['hflip', 'vflip'] }));
  const plain = await loadModel(path.join(FIX, 'tiny.onnx'));
  const tta = await loadModel(onnx);
  const img = testImage(false);
  const flip = (h: boolean, v: boolean) => {
    const data = new Uint8Array(img.data.length);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) data[(y * 8 + x) * 3 + c] = img.data[((v ? 7 - y : y) * 8 + (h ? 7 - x : x)) * 3 + c];
    return { ...img, data };
  };
  const views = await plain.predict([img, flip(true, false), flip(false, true)], { features: true });
  const want = (views.logits[0] + views.logits[1] + views.logits[2]) / 3;
  const got = await tta.predict([img], { features: true });
  assert.ok(Math.abs(got.logits[0] - want) < 1e-5, `${got.logits[0]} vs ${want}`);
  assert.ok(Math.abs(got.probability[0] - 1 / (1 + Math.exp(-want))) < 1e-6);
  assert.deepEqual(got.features!.dims, [1, 4, 8, 8]);
  assert.deepEqual(Array.from(got.features!.data), Array.from(views.features!.data.subarray(0, 256)));
  await plain.release();
  await tta.release();
});
