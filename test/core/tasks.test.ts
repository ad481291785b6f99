import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrXaiError, gradeProbabilities, isOrdinal, monotoneCumulativeLogits, positiveProbability } from '../../src/core/index.ts';
import { predictedGrades } from '../../src/evaluate/index.ts';
import { targetProbability, targetScore, targetSeed, REFERABLE_TARGET, type CamTarget } from '../../src/explain/index.ts';
import { constantSeed } from '../../src/explain/targets.ts';
import { targetsFor } from '../../src/train/index.ts';
import type { Sample } from '../../src/data/index.ts';

const close = (a: number[], b: number[], tol = 1e-12) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < tol, `${i}: ${v} vs ${b[i]}`));

// Expected rows computed independently (python3: P(g) = s(m_{g-1}) - s(m_g), m_k = min(z_0..z_k), s = logistic).
test('ordinal head: grade probabilities from the monotone cumulative logits, consistent or crossing', () => {
  assert.equal(isOrdinal('grade', 4), true);
  assert.equal(isOrdinal('grade', 5), false);
  assert.equal(isOrdinal('referable', 4), false);
  const [consistent, crossing] = gradeProbabilities([2, 0, -1, -3, 0, 1, -1, -2], 4);
  close(consistent, [0.119202922022, 0.380797077978, 0.23105857863, 0.221515548192, 0.047425873178]);
  // z_1 > z_0: P(grade > 1) may not exceed P(grade > 0), so the crossing threshold is cut to z_0 and P(1) is 0.
  assert.deepEqual(monotoneCumulativeLogits([0, 1, -1, -2]), [0, 0, -1, -2]);
  close(crossing, [0.5, 0, 0.23105857863, 0.149738499348, 0.119202922022]);
  for (const row of [consistent, crossing]) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // Referable = P(grade >= 2) = sigmoid(m_1); the expected grade 1.697 rounds to 2, 1.388 to 1.
  close(positiveProbability([2, 0, -1, -3, 0, 1, -1, -2], 'grade', 4), [0.5, 0.5]);
  assert.deepEqual(predictedGrades([consistent, crossing]), [2, 1]);
  // The softmax head is unchanged: rows are the softmax.
  close(gradeProbabilities([0, 0, 0, 0, Math.log(2)], 5)[0], [1 / 6, 1 / 6, 1 / 6, 1 / 6, 2 / 6]);
  assert.throws(() => gradeProbabilities([0, 0, 0], 3), DrXaiError);
});

test('ordinal targets are the thresholds grade > k', () => {
  const samples = [0, 1, 2, 4].map((grade, i) => ({ id: `s${i}`, grade }) as Sample);
  assert.deepEqual(Array.from(targetsFor(samples, 'grade', 4)), [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(targetsFor(samples, 'grade', 5)), [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(targetsFor(samples, 'referable', 1)), [0, 0, 1, 1]);
});

test('CAM targets: sigmoid(S) is the reported referable probability and the seed is dS/dz, on every head', () => {
  const cases: [number[], 'referable' | 'grade'][] = [
    [[0.7], 'referable'],
    [[0.3, -0.2, 0.9, 0.1, -1.1], 'grade'],
    [[1.5, -0.5, -1, -2], 'grade'], // ordinal, consistent: S = z_1
    [[-0.5, 0.5, -1, -2], 'grade'], // ordinal, crossing: S = z_0
  ];
  for (const [z, task] of cases) {
    const targets: CamTarget[] = [REFERABLE_TARGET, ...(z.length > 1 ? [{ kind: 'class' as const, index: 2 }] : [])];
    for (const target of targets) {
      if (target.kind === 'referable') close([targetProbability(z, target, task)], positiveProbability(z, task, z.length));
      const seed = targetSeed(z, target, task);
      // Central differences of S (the crossing case's min is differentiable away from the tie).
      const h = 1e-6;
      const numeric = z.map((_, c) => {
        const up = z.slice();
        const down = z.slice();
        up[c] += h;
        down[c] -= h;
        return (targetScore(up, target, task) - targetScore(down, target, task)) / (2 * h);
      });
      close(Array.from(seed), numeric, 1e-6);
      // where the explainer skips the forward pass, the seed must be the same for any logits
      const constant = constantSeed(target, z.length);
      assert.equal(constant !== null, target.kind === 'class' || z.length === 1);
      if (constant) for (const other of [z.map((v) => -2 * v + 0.3), z.map((_, c) => c)]) assert.deepEqual(targetSeed(other, target, task), constant);
    }
  }
  assert.equal(targetScore([-0.5, 0.5, -1, -2], REFERABLE_TARGET, 'grade'), -0.5);
  assert.equal(targetScore([1.5, -0.5, -1, -2], { kind: 'class', index: 2 }, 'grade'), -1);
});
