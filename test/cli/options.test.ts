import { test } from 'node:test';
import assert from 'node:assert/strict';
import { numberOption } from '../../src/cli/options.ts';

test('numberOption parses in range and words every refusal the same way', () => {
  assert.equal(numberOption('42', '--n', { integer: true, min: 1 }), 42);
  assert.equal(numberOption('0.95', '--fix-spec', { min: 0, max: 1 }), 0.95);
  assert.throws(() => numberOption('many', '--n', { integer: true, min: 1, max: 10 }), /^DrXaiError: --n must be an integer from 1 to 10, got 'many'$/);
  assert.throws(() => numberOption('1.5', '--jobs', { integer: true, min: 1 }), /--jobs must be an integer >= 1, got '1.5'/);
  assert.throws(() => numberOption('', '--seed'), /--seed must be a number, got ''/);
  assert.throws(() => numberOption('2', '--fix-spec', { max: 1 }), /--fix-spec must be a number <= 1, got '2'/);
  assert.throws(() => numberOption('Infinity', '--x'), /--x must be a number/);
});
