// Gradient accumulation (src/train/accumulate.ts, what the trainer steps with): the mean of the
// gradients of two micro-batches of 4 is the gradient of the batch of 8 they make up, on the tiny
// CNN with frozen BatchNorm (nothing couples the images of a batch), for CE and for BCE with
// pos_weight; with BatchNorm in training mode it is not (statistics per micro-batch), as in PyTorch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import { TrainingSession } from '../../src/engine/index.ts';
import { addLoss, tinyCnn, type LossKind } from '../../src/models/efficientnet.ts';
import { GradientAccumulator } from '../../src/train/accumulate.ts';

const SIZE = 32;
const K = 3;

async function session(batch: number, loss: LossKind, batchNorm: 'train' | 'eval') {
  const m = tinyCnn({ numClasses: K, batch, imageSize: SIZE, seed: 5 });
  return TrainingSession.create(m.graph, { loss: addLoss(m, loss), threads: 1, batchNorm });
}

function data(n: number) {
  const rng = new Rng(3);
  const image = new Float32Array(n * 3 * SIZE * SIZE).map(() => rng.normal());
  const targets = new Float32Array(n * K);
  for (let i = 0; i < n; i++) targets[i * K + (i % K)] = 1;
  return { image, targets };
}

/** Rows [from, to) of an NCHW or N x K array of n rows. */
const rows = (a: Float32Array, n: number, from: number, to: number) => a.slice((a.length / n) * from, (a.length / n) * to);

async function fullAndAccumulated(loss: LossKind, batchNorm: 'train' | 'eval') {
  const { image, targets } = data(8);
  const extra: Record<string, Float32Array> = loss.kind === 'bce' && loss.posWeight ? { pos_weight: Float32Array.from([1.5, 0.5, 2]) } : {};
  const full = await session(8, loss, batchNorm);
  const whole = (await full.step({ image, targets, ...extra })).grads;
  const half = await session(4, loss, batchNorm);
  const acc = new GradientAccumulator();
  for (const from of [0, 4]) acc.add((await half.step({ image: rows(image, 8, from, from + 4), targets: rows(targets, 8, from, from + 4), ...extra })).grads);
  assert.equal(acc.size, 2);
  const mean = acc.mean();
  assert.equal(acc.size, 0);
  await full.release();
  await half.release();
  let worst = 0;
  for (const [name, g] of whole) {
    const a = mean.get(name) as Float32Array;
    const scale = Math.max(...g.map(Math.abs), 1e-12);
    for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(a[i] - g[i]) / scale);
  }
  return worst;
}

test('accumulated micro-batch gradients equal the full batch with frozen BatchNorm (CE; BCE with pos_weight)', async () => {
  for (const loss of [{ kind: 'ce' }, { kind: 'bce', posWeight: true }] as LossKind[]) {
    const worst = await fullAndAccumulated(loss, 'eval');
    assert.ok(worst < 1e-5, `${loss.kind}: worst relative difference ${worst}`);
  }
});

test('with BatchNorm in training mode the micro-batch statistics make them differ (why the equality needs frozen BN)', async () => {
  const worst = await fullAndAccumulated({ kind: 'ce' }, 'train');
  assert.ok(worst > 1e-3, `worst relative difference ${worst}`);
});

test('GradientAccumulator: one micro-batch is returned as is; mismatched or missing gradients are errors', () => {
  const acc = new GradientAccumulator();
  assert.throws(() => acc.mean(), /no gradients to average/);
  const g = new Map([['w', Float32Array.from([1, 2])]]);
  acc.add(g);
  assert.deepEqual([...acc.mean().get('w')!], [1, 2]);
  acc.add(new Map([['w', Float32Array.from([1, 2])]]));
  assert.throws(() => acc.add(new Map([['w', Float32Array.from([1])]])), /gradient 'w' does not match/);
});
