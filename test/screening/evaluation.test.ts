// planEvaluation: which splits `dr-xai evaluate` scores and where its threshold comes from;
// parseOperatingMode: the one check of a mode name. Pure rules, checked case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPERATING_MODES, parseOperatingMode } from '../../src/evaluate/index.ts';
import { planEvaluation } from '../../src/screening/index.ts';

const assignment = { train: ['t1', 't2'], val: ['v1'], test: ['x1', 'x2'] };

test('planEvaluation: the chosen non-empty splits in the order asked, the threshold tuned on val', () => {
  assert.deepEqual(planEvaluation({ assignment, all: [], subsets: ['val', 'test'], thresholdFrom: 'val' }), { splits: { val: ['v1'], test: ['x1', 'x2'] }, threshold: undefined });
  const noTest = { ...assignment, test: [] };
  assert.deepEqual(planEvaluation({ assignment: noTest, all: [], subsets: ['val', 'test'], thresholdFrom: 'val' }).splits, { val: ['v1'] });
});

test('planEvaluation: a stored threshold is applied unchanged, and without a split file the whole set is one external split', () => {
  assert.deepEqual(planEvaluation({ all: ['a', 'b'], subsets: ['val', 'test'], thresholdFrom: 'model', storedThreshold: 0.61 }), { splits: { external: ['a', 'b'] }, threshold: 0.61 });
  assert.deepEqual(planEvaluation({ assignment, all: [], subsets: ['test'], thresholdFrom: 'model', storedThreshold: 0.61 }), { splits: { test: ['x1', 'x2'] }, threshold: 0.61 });
});

test('planEvaluation: every inconsistency is one error before anything is scored', () => {
  const plan = (o: Partial<Parameters<typeof planEvaluation<string>>[0]>) => () => planEvaluation<string>({ assignment, all: [], subsets: ['val'], thresholdFrom: 'val', ...o });
  assert.throws(plan({ thresholdFrom: 'vall' }), /--threshold-from must be val or model, got 'vall'/);
  assert.throws(plan({ thresholdFrom: 'model', modelFile: 'm.onnx' }), (e: Error & { file?: string }) => /no stored operating point/.test(e.message));
  assert.throws(plan({ subsets: ['val', 'holdout'] }), /--subsets: unknown split 'holdout' \(train, val, test\)/);
  assert.throws(plan({ assignment: undefined }), /without --split there is no validation split to tune on: add --threshold-from model/);
  assert.throws(plan({ subsets: ['test'] }), /tuned on the val split, which is empty or not selected/);
  assert.throws(plan({ assignment: { ...assignment, val: [] } }), /tuned on the val split, which is empty or not selected/);
});

test('parseOperatingMode: the names in OPERATING_MODES, a restricted list, and one error naming the source', () => {
  for (const m of OPERATING_MODES) assert.equal(parseOperatingMode(m), m);
  assert.deepEqual([...OPERATING_MODES], ['constrained', 'closest', 'conservative']);
  assert.throws(() => parseOperatingMode('closest', '--mode', ['conservative', 'constrained']), /^DrXaiError: --mode must be 'conservative' or 'constrained', got 'closest'$/);
  assert.throws(() => parseOperatingMode('Constrained'), /operating mode must be 'constrained', 'closest' or 'conservative', got 'Constrained'/);
});
