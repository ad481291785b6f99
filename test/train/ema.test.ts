// Weight EMA: the warmed-up decay, exact averages, the live weights restored around validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WeightEma } from '../../src/train/ema.ts';
import { resolveTrainConfig } from '../../src/train/index.ts';

test('decay warms up as (1 + t) / (10 + t) up to the configured decay', () => {
  const ema = new WeightEma(new Map(), 0.99);
  assert.equal(ema.decayAt(0), 0.1);
  assert.equal(ema.decayAt(8), 0.5);
  assert.equal(ema.decayAt(80), 81 / 90);
  assert.equal(ema.decayAt(10_000), 0.99);
});

test('update: ema = d ema + (1 - d) w with the step\'s decay, exactly', () => {
  const state = new Map([['w', Float32Array.of(1, -2)]]);
  const ema = new WeightEma(state, 0.9);
  state.get('w')!.set([3, 0]);
  ema.update(state, 0); // d = 0.1
  assert.deepEqual([...ema.average.get('w')!], [Math.fround(0.1 * 1 + 0.9 * 3), Math.fround(0.1 * -2 + 0.9 * 0)]);
  state.get('w')!.set([0, 0]);
  ema.update(state, 100); // d = min(0.9, 101 / 110) = 0.9
  assert.deepEqual([...ema.average.get('w')!], [Math.fround(0.9 * Math.fround(2.8)), Math.fround(0.9 * Math.fround(-0.2))]);
  // The average is a copy: the live tensor is untouched.
  assert.deepEqual([...state.get('w')!], [0, 0]);
});

test('withAverage puts the average in place for fn and the live weights back, also when fn throws', async () => {
  const state = new Map([['w', Float32Array.of(5)]]);
  const ema = new WeightEma(state, 0.5);
  ema.average.get('w')![0] = 1;
  assert.equal(await ema.withAverage(state, async () => state.get('w')![0]), 1);
  assert.equal(state.get('w')![0], 5);
  await assert.rejects(ema.withAverage(state, async () => { throw new Error('boom'); }), /boom/);
  assert.equal(state.get('w')![0], 5);
});

test('ema_decay is validated: 0 (off) to below 1', () => {
  assert.equal(resolveTrainConfig({}, {}).ema_decay, 0);
  assert.equal(resolveTrainConfig({ ema_decay: 0.998 }, {}).ema_decay, 0.998);
  assert.throws(() => resolveTrainConfig({ ema_decay: 1 }, {}), /ema_decay/);
});
