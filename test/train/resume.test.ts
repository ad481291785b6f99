import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gradeProbabilities, Rng, type RgbImage } from '../../src/core/index.ts';
import { auroc, chooseOperatingPoint, predictedGrades, quadraticWeightedKappa, referralByGrade } from '../../src/evaluate/index.ts';
import type { Sample } from '../../src/data/index.ts';
import { createModel, loadModel, readSidecar, serializeSafetensors } from '../../src/models/index.ts';
import { loadCheckpoint, resolveTrainConfig, train, type TrainConfig, type TrainData, type TrainStep } from '../../src/train/index.ts';

/** A crash of the process, simulated: thrown from onStep after `n` optimizer steps of a call. */
class SimulatedCrash extends Error {}
const crashAfter = (n: number) => (s: TrainStep) => {
  if (s.stepsThisCall >= n) throw new SimulatedCrash(`simulated crash after ${s.stepsThisCall} steps`);
};

const SIZE = 32;

/** A black square with a grey disc; referable images (grade 2) carry bright dots. */
function toyImage(id: number, grade: number): RgbImage {
  const rng = new Rng(1000 + id);
  const data = new Uint8Array(SIZE * SIZE * 3);
  const c = (SIZE - 1) / 2;
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
    if ((x - c) ** 2 + (y - c) ** 2 > (SIZE / 2 - 1) ** 2) continue;
    const v = 90 + rng.int(30);
    data.set([v + 40, v, v - 40], (y * SIZE + x) * 3);
  }
  if (grade >= 2) for (let k = 0; k < 6; k++) {
    const x = 8 + rng.int(16);
    const y = 8 + rng.int(16);
    data.set([255, 250, 120], (y * SIZE + x) * 3);
    data.set([255, 250, 120], (y * SIZE + x + 1) * 3);
  }
  return { width: SIZE, height: SIZE, channels: 3, data };
}

function toyData(n: number, nVal: number): TrainData {
  const samples: Sample[] = Array.from({ length: n + nVal }, (_, i) => ({ id: `img${i}`, path: `/toy/img${i}.png`, grade: i % 2 === 0 ? 0 : 2 }));
  const byId = new Map(samples.map((s, i) => [s.id, toyImage(i, s.grade as number)]));
  return { name: 'toy', train: samples.slice(0, n), val: samples.slice(n), load: async (s) => byId.get(s.id) as RgbImage, preprocess: { size: SIZE } };
}

async function tmpDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-train-'));
}

function config(outDir: string, over: Partial<TrainConfig> = {}): TrainConfig {
  return resolveTrainConfig({ model_name: 'tiny_cnn', img_size: SIZE, batch_size: 8, micro_batch_size: 4, epochs: 3, lr: 3e-3, warmup_epochs: 0.5, checkpoint_every: 2, seed: 7, out_dir: outDir, run_name: 'toy', threads: 1, ...over }, {});
}

function assertSameState(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, v] of a) {
    const w = b.get(name) as Float32Array;
    assert.ok(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), `tensor ${name} differs`);
  }
}

test('resume after a crash at any step ends with bit-identical weights, logs and model', async () => {
  const data = toyData(32, 12);
  const quiet = { quiet: true, learningCurve: false, log: () => {} };
  const ref = await train(config(await tmpDir()), data, quiet);
  assert.equal(ref.history.length, 3);
  // 4 optimizer steps per epoch; checkpoints every 2 steps and at epoch ends. Crash after step 3
  // (between checkpoints, mid-epoch), then again 4 steps later (across an epoch boundary).
  const dir = await tmpDir();
  await assert.rejects(train(config(dir), data, { ...quiet, onStep: crashAfter(3) }), SimulatedCrash);
  const ck = await loadCheckpoint(path.join(dir, 'toy', 'checkpoint.safetensors'));
  assert.equal(ck.progress.globalStep, 2);
  await assert.rejects(train(config(dir), data, { ...quiet, resume: true, onStep: crashAfter(4) }), SimulatedCrash);
  const resumed = await train(config(dir), data, { ...quiet, resume: true });
  assertSameState(ref.finalState, resumed.finalState);
  assert.deepEqual(resumed.history.map((r) => [r.trainLoss, r.valLoss, r.valAuroc]), ref.history.map((r) => [r.trainLoss, r.valLoss, r.valAuroc]));
  const csv = readFileSync(path.join(dir, 'toy', 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 4); // header + 3 epochs, no line twice
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'toy', 'config.json'), 'utf8')).seed, 7);
  // The exported package loads and scores validation images as the trainer did.
  const model = await loadModel(resumed.modelPath);
  const pred = await model.predict(data.val.slice(0, 3).map((s, i) => toyImage(32 + i, s.grade as number)));
  assert.equal(pred.probability.length, 3);
  assert.ok(resumed.sidecar.operatingPoint === undefined || resumed.sidecar.operatingPoint.targetSpecificity === 0.95);
  await model.release();
});

test('with a weight EMA: resume after a crash is bit-identical too, and the package holds the averaged weights', async () => {
  const data = toyData(32, 16);
  const quiet = { quiet: true, log: () => {}, learningCurve: false };
  const ref = await train(config(await tmpDir(), { ema_decay: 0.9 }), data, quiet);
  const dir = await tmpDir();
  await assert.rejects(train(config(dir, { ema_decay: 0.9 }), data, { ...quiet, onStep: crashAfter(5) }), SimulatedCrash);
  assert.ok((await loadCheckpoint(path.join(dir, 'toy', 'checkpoint.safetensors'))).ema, 'the checkpoint carries the average');
  const resumed = await train(config(dir, { ema_decay: 0.9 }), data, { ...quiet, resume: true });
  assertSameState(ref.finalState, resumed.finalState);
  assert.deepEqual(resumed.history.map((r) => [r.valLoss, r.valAuroc]), ref.history.map((r) => [r.valLoss, r.valAuroc]));
  // Validation saw the average, not the live weights: a run without EMA differs from step 1 on.
  const plain = await train(config(await tmpDir()), data, quiet);
  assert.notDeepEqual(plain.history.map((r) => r.valLoss), ref.history.map((r) => r.valLoss));
  assertSameState(plain.finalState, ref.finalState); // the live weights follow the same optimizer path
});

test('the toy task is learnt, and the package reproduces the validation the run chose by (AUROC, operating point)', async () => {
  const data = toyData(48, 24);
  const r = await train(config(await tmpDir(), { epochs: 4 }), data, { quiet: true, learningCurve: false, log: () => {} });
  assert.ok(r.best.valAuroc > 0.9, `best val AUROC ${r.best.valAuroc}`);
  assert.ok(r.history[r.history.length - 1].trainLoss < r.history[0].trainLoss, 'training loss fell');
  // The released package (inference graph, BN folded) scores the validation images as the run's
  // own validation (training graph, eval mode) did, and the stored operating point is the one its
  // validation predictions give.
  const model = await loadModel(r.modelPath);
  const pred = await model.predict(await Promise.all(data.val.map((s) => data.load(s))));
  await model.release();
  assert.deepEqual(r.validation.ids, data.val.map((s) => s.id));
  pred.probability.forEach((p, i) => assert.ok(Math.abs(p - r.validation.scores[i]) < 1e-5, `${data.val[i].id}: ${p} vs ${r.validation.scores[i]}`));
  assert.ok(Math.abs(auroc(r.validation.labels, pred.probability) - r.best.valAuroc) < 1e-6);
  const { threshold, sensitivity, specificity } = r.sidecar.operatingPoint!;
  assert.deepEqual({ threshold, sensitivity, specificity }, (({ threshold, sensitivity, specificity }) => ({ threshold, sensitivity, specificity }))(chooseOperatingPoint(r.validation.labels, r.validation.scores, { targetSpecificity: 0.95 })));
  // The sidecar says which grades that threshold refers on the validation images: counts only.
  const stored = (await readSidecar(r.modelPath)).operatingPoint!.referralByGrade;
  assert.deepEqual(stored, referralByGrade(r.validation.grades, r.validation.scores, threshold).map(({ grade, n, referred }) => ({ grade, n, referred })));
  assert.equal(stored!.reduce((a, g) => a + g.n, 0), data.val.length);
});

test('an existing run is not overwritten without --resume; a changed config is refused on resume', async () => {
  const dir = await tmpDir();
  const data = toyData(16, 6);
  const quiet = { quiet: true, learningCurve: false, log: () => {} };
  await train(config(dir, { epochs: 1 }), data, quiet);
  await assert.rejects(train(config(dir, { epochs: 1 }), data, quiet), /a run already exists here; pass --resume/);
  await assert.rejects(train(config(dir, { epochs: 1, lr: 1e-2 }), data, { ...quiet, resume: true }), /checkpoint was made with another configuration/);
  assert.ok(existsSync(path.join(dir, 'toy', 'model.onnx')));
});

test('grade task: 5 outputs with cross-entropy, validation QWK chooses the epoch, referable probability in the package', async () => {
  const data = toyData(32, 12);
  // Spread the toy labels over all five grades (even ids stay non-referable, odd referable).
  [...data.train, ...data.val].forEach((s, i) => (s.grade = i % 2 === 0 ? (i % 4 === 0 ? 0 : 1) : [2, 3, 4][i % 3]));
  const r = await train(config(await tmpDir(), { task: 'grade', epochs: 2 }), data, { quiet: true, learningCurve: false, log: () => {} });
  assert.equal(r.sidecar.numClasses, 5);
  assert.equal(r.sidecar.task, 'grade');
  for (const h of r.history) assert.ok(typeof h.valQwk === 'number' && h.valQwk >= -1 && h.valQwk <= 1);
  const best = r.history.reduce((a, h) => ((h.valQwk as number) > (a.valQwk as number) ? h : a));
  assert.equal(r.best.epoch, best.epoch);
  const model = await loadModel(r.modelPath);
  const p = await model.predict([toyImage(40, 2)]);
  assert.equal(p.logits.length, 5);
  assert.ok(p.probability[0] > 0 && p.probability[0] < 1);
  await model.release();
});

test('grade task, ordinal head: 4 threshold logits, and the package reproduces the validation QWK and AUROC the run chose by', async () => {
  const data = toyData(32, 12);
  [...data.train, ...data.val].forEach((s, i) => (s.grade = i % 2 === 0 ? (i % 4 === 0 ? 0 : 1) : [2, 3, 4][i % 3]));
  const r = await train(config(await tmpDir(), { task: 'grade', grade_head: 'ordinal', epochs: 2 }), data, { quiet: true, learningCurve: false, log: () => {} });
  assert.equal(r.sidecar.numClasses, 4);
  const model = await loadModel(r.modelPath);
  const pred = await model.predict(await Promise.all(data.val.map((s) => data.load(s))));
  assert.equal(pred.logits.length, 4 * data.val.length);
  // Referable = sigmoid(min(z_0, z_1)) for each image.
  pred.probability.forEach((p, i) => assert.ok(Math.abs(p - 1 / (1 + Math.exp(-Math.min(pred.logits[4 * i], pred.logits[4 * i + 1])))) < 1e-9));
  // The run's validation (training graph, ordinal rules in train/) and the released package (inference graph, core/tasks.ts) agree.
  const grades = data.val.map((s) => s.grade as number);
  const qwk = quadraticWeightedKappa(grades, predictedGrades(gradeProbabilities(pred.logits, 4)));
  assert.ok(Math.abs(qwk - (r.best.valQwk as number)) < 1e-6, `QWK ${qwk} vs ${r.best.valQwk}`);
  assert.ok(Math.abs(auroc(grades.map((g) => (g >= 2 ? 1 : 0)), pred.probability) - r.best.valAuroc) < 1e-6);
  await model.release();
});

test('early stopping: the run ends once `patience` epochs bring no better validation metric; the best epoch is exported', async () => {
  // A learning rate near zero: the weights barely move, so the metric soon stops improving.
  const r = await train(config(await tmpDir(), { epochs: 8, lr: 1e-9, patience: 2 }), toyData(16, 8), { quiet: true, learningCurve: false, log: () => {} });
  assert.ok(r.stoppedEarly && r.history.length < 8, `ran ${r.history.length} epochs`);
  const best = Math.max(...r.history.map((h) => h.valAuroc));
  assert.equal(r.best.valAuroc, best);
  assert.equal(r.history.length - r.best.epoch, 2);
  assert.ok(r.history.slice(r.best.epoch).every((h) => h.valAuroc <= best));
  assert.equal(r.sidecar.metrics?.bestEpoch, r.best.epoch);
});

test('keep_epoch last: the package holds the end-of-schedule weights; a finished run resumed with it re-exports them', async () => {
  const dir = await tmpDir();
  const data = toyData(48, 24);
  const quiet = { quiet: true, learningCurve: false, log: () => {} };
  const byBest = await train(config(dir, { epochs: 4 }), data, quiet);
  assert.ok(byBest.best.epoch < 4, `the toy run's best epoch is ${byBest.best.epoch}, so best and last differ`);
  // keep_epoch only picks the exported weights: the finished run resumes and trains nothing more.
  const byLast = await train(config(dir, { epochs: 4, keep_epoch: 'last' }), data, { ...quiet, resume: true });
  assertSameState(byLast.finalState, byBest.finalState);
  assert.equal(byLast.kept.epoch, 4);
  assert.equal(byLast.best.epoch, byBest.best.epoch);
  assert.deepEqual([byLast.sidecar.metrics?.bestEpoch, byLast.sidecar.metrics?.keptEpoch], [byBest.best.epoch, 4]);
  // The package's validation loss is the one the run logged for its last epoch, not its best.
  assert.ok(Math.abs((byLast.sidecar.metrics?.valLoss as number) - byLast.history[3].valLoss) < 1e-6, `val loss ${byLast.sidecar.metrics?.valLoss} vs ${byLast.history[3].valLoss}`);
  assert.ok(Math.abs(byLast.history[3].valLoss - byBest.best.valLoss) > 1e-4);
  assert.ok(byLast.validation.scores.some((p, i) => Math.abs(p - byBest.validation.scores[i]) > 1e-4), 'the last epoch scores differently from the best');
  const model = await loadModel(byLast.modelPath);
  const pred = await model.predict(await Promise.all(data.val.map((s) => data.load(s))));
  await model.release();
  pred.probability.forEach((p, i) => assert.ok(Math.abs(p - byLast.validation.scores[i]) < 1e-5, `${data.val[i].id}: ${p} vs ${byLast.validation.scores[i]}`));
});

test('keep_epoch last with a weight EMA: the package holds the average of the last epoch, as its validation saw it', async () => {
  const r = await train(config(await tmpDir(), { epochs: 3, ema_decay: 0.9, keep_epoch: 'last' }), toyData(32, 16), { quiet: true, learningCurve: false, log: () => {} });
  assert.equal(r.kept.epoch, 3);
  assert.ok(Math.abs((r.sidecar.metrics?.valLoss as number) - r.history[2].valLoss) < 1e-6, `val loss ${r.sidecar.metrics?.valLoss} vs ${r.history[2].valLoss} (the live weights would differ)`);
});

test('a validation split with one class ranks epochs by validation loss and stores no operating point', async () => {
  const data = toyData(16, 8);
  for (const s of data.val) s.grade = 0;
  const r = await train(config(await tmpDir(), { epochs: 2 }), data, { quiet: true, learningCurve: false, log: () => {} });
  assert.ok(Number.isNaN(r.best.valAuroc));
  assert.equal(r.best.valLoss, Math.min(...r.history.map((h) => h.valLoss)));
  assert.equal(r.sidecar.operatingPoint, undefined);
});

test('pretrained_lr_scale: imported weights step at lr x scale, the re-initialised classifier at lr; head_warmup_epochs holds them', async () => {
  // "Pretrained" tiny_cnn weights with a 3-class head: importing them into the 1-logit referable
  // model loads the backbone and re-initialises the classifier.
  const source = await createModel('tiny_cnn', { numClasses: 3, inputSize: SIZE, seed: 3 });
  const dir = await tmpDir();
  const file = path.join(dir, 'tiny3.safetensors');
  const floats = [...source.graph.initializers].filter(([, t]) => t.dtype === 'float32' && t.shape.length > 0);
  await fsp.writeFile(file, serializeSafetensors(floats.map(([name, t]) => [name, { shape: t.shape, data: t.data as Float32Array }])));
  const data = toyData(8, 4); // one optimizer step of 8 images
  const quiet = { quiet: true, learningCurve: false, log: () => {} };
  const run = async (scale: number) =>
    (await train(config(await tmpDir(), { pretrained: file, pretrained_lr_scale: scale, epochs: 1, warmup_epochs: 0 }), data, quiet)).finalState;
  const [full, quarter] = [await run(1), await run(0.25)];
  // Where each run starts: the imported tensors, and the classifier of the 1-logit model as the
  // trainer builds it (the config's seed 7).
  const target = await createModel('tiny_cnn', { numClasses: 1, inputSize: SIZE, seed: 7 });
  const classifier = ['classifier.weight', 'classifier.bias'];
  const start = new Map(floats.map(([name, t]) => [name, t.data as Float32Array]));
  for (const name of classifier) start.set(name, target.graph.initializers.get(name)!.data as Float32Array);
  assert.ok(target.params.length > classifier.length + 4);
  for (const name of target.params) {
    const a = full.get(name) as Float32Array;
    const b = quarter.get(name) as Float32Array;
    const p0 = start.get(name) as Float32Array;
    // AdamW's first step is linear in the rate: p1 - p0 = -lr (wd p0 + g / (|g| + eps)).
    const ratio = classifier.includes(name) ? 1 : 0.25;
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < a.length; i++) {
      moved = Math.max(moved, Math.abs(a[i] - p0[i]));
      worst = Math.max(worst, Math.abs(b[i] - p0[i] - ratio * (a[i] - p0[i])));
    }
    // |g / (|g| + eps)| <= 1: no element moves further than lr (3e-3) plus its tiny decay.
    assert.ok(moved > 1e-4 && moved < 1.01 * 3e-3, `${name} moved ${moved} at lr 3e-3`);
    assert.ok(worst < 2e-6, `${name}: the step at scale 0.25 is not ${ratio} x the full step (max error ${worst})`);
  }
  // Head-only warm-up: in its epoch the imported tensors stay as imported, and the classifier
  // takes the very step it takes when everything trains (same gradients, same first AdamW step).
  const headOnly = (await train(config(await tmpDir(), { pretrained: file, head_warmup_epochs: 1, epochs: 1, warmup_epochs: 0 }), data, quiet)).finalState;
  for (const name of target.params) {
    const expected = classifier.includes(name) ? (full.get(name) as Float32Array) : (start.get(name) as Float32Array);
    assert.deepEqual(headOnly.get(name), expected, `${name} after a head-only epoch`);
  }
  await assert.rejects(train(config(await tmpDir(), { pretrained_lr_scale: 0.5, epochs: 1 }), data, quiet), /pretrained_lr_scale needs pretrained weights/);
  await assert.rejects(train(config(await tmpDir(), { head_warmup_epochs: 1, epochs: 1 }), data, quiet), /head_warmup_epochs needs pretrained weights/);
  assert.throws(() => resolveTrainConfig({ pretrained_lr_scale: 0 }, {}), /pretrained_lr_scale/);
  assert.throws(() => resolveTrainConfig({ pretrained_lr_scale: 1.5 }, {}), /pretrained_lr_scale/);
});
