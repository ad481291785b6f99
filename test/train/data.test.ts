import assert from 'node:assert/strict';
import test from 'node:test';
import { epochOrder, resolveTrainConfig } from '../../src/train/index.ts';

test('epochOrder: a permutation drawn from (seed, epoch) alone', () => {
  const a = epochOrder(50, 42, 3);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(epochOrder(50, 42, 3), a);
  assert.notDeepEqual(epochOrder(50, 42, 4), a);
  assert.notDeepEqual(epochOrder(50, 43, 3), a);
});

test('epochOrder with classes: class-balanced draws with replacement, uniform within each class', () => {
  // 90 images of class 0, 9 of class 4, 1 of class 2 (the order of the labels does not matter).
  const classes = Array.from({ length: 100 }, (_, i) => (i === 57 ? 2 : i % 11 === 5 && i < 99 ? 4 : 0));
  assert.equal(classes.filter((c) => c === 4).length, 9);
  const perClass = new Map<number, number>();
  const perImage = new Map<number, number>();
  const epochs = 60;
  for (let e = 0; e < epochs; e++) {
    const order = epochOrder(100, 7, e, classes);
    assert.equal(order.length, 100);
    for (const i of order) {
      perClass.set(classes[i], (perClass.get(classes[i]) ?? 0) + 1);
      perImage.set(i, (perImage.get(i) ?? 0) + 1);
    }
  }
  // 6,000 draws, each class with probability 1/3: binomial SD 36.5, so +/- 180 is 4.9 SD.
  for (const c of [0, 2, 4]) assert.ok(Math.abs((perClass.get(c) ?? 0) - 2000) < 180, `class ${c} drawn ${perClass.get(c)} times`);
  // The single class-2 image is a third of all draws; each class-4 image about 2000 / 9.
  assert.equal(perImage.get(57), perClass.get(2));
  for (let i = 0; i < 100; i++) if (classes[i] === 4) assert.ok(Math.abs((perImage.get(i) ?? 0) - 222) < 70, `image ${i}: ${perImage.get(i)}`);
  assert.deepEqual(epochOrder(100, 7, 5, classes), epochOrder(100, 7, 5, classes));
  assert.throws(() => epochOrder(99, 7, 0, classes), /100 classes for 99 images/);
});

test('sampling is shuffle unless the config asks for balanced', () => {
  assert.equal(resolveTrainConfig({}, {}).sampling, 'shuffle');
  assert.equal(resolveTrainConfig({ sampling: 'balanced' }, {}).sampling, 'balanced');
  // as a YAML config file would hold it
  const fromFile = JSON.parse('{"sampling": "oversample"}');
  assert.throws(() => resolveTrainConfig(fromFile, {}), /sampling/);
});
