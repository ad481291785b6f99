// MobileNetV2 from the shared ImageNet weights (../shared/weights/mobilenet_v2-imagenet, see its
// README): the import must reproduce torchvision's logits on the folder's own test vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createSession, runGraph } from '../../src/engine/index.ts';
import { createModel, modelInfo, readSafetensors } from '../../src/models/index.ts';

const DIR = path.resolve(import.meta.dirname, '../../../shared/weights/mobilenet_v2-imagenet');
const WEIGHTS = path.join(DIR, 'mobilenet_v2-imagenet-bnfolded.safetensors');
const VECTORS = path.join(DIR, 'test_vectors.safetensors');
const skip = existsSync(WEIGHTS) && existsSync(VECTORS) ? false : `shared MobileNetV2 weights not found at ${DIR}`;

test('mobilenet_v2: pretrained config travels with the registry entry', () => {
  const { pretrainedCfg } = modelInfo('mobilenet_v2');
  assert.equal(pretrainedCfg.inputSize, 224);
  assert.deepEqual(pretrainedCfg.mean, [0.485, 0.456, 0.406]);
  assert.deepEqual(pretrainedCfg.std, [0.229, 0.224, 0.225]);
  assert.equal(pretrainedCfg.naming, 'torchvision');
  assert.equal(pretrainedCfg.batchNorm, 'frozen');
});

test('mobilenet_v2: 3,504,872 parameters with a 1000-class head (torchvision count)', async () => {
  const m = await createModel('mobilenet_v2', { numClasses: 1000 });
  const count = m.params.reduce((a, n) => a + m.graph.initializers.get(n)!.data.length, 0);
  // torchvision counts BatchNorm running statistics as buffers, not parameters, as params does.
  assert.equal(count, 3_504_872);
});

test('mobilenet_v2: importing the shared weights reproduces logits_torchvision_* to 1e-4', { skip }, async () => {
  const m = await createModel('mobilenet_v2', { numClasses: 1000, pretrained: WEIGHTS });
  assert.equal(m.importReport!.naming, 'torchvision');
  assert.deepEqual(m.importReport!.reinitialised, []);
  const { tensors } = await readSafetensors(VECTORS);
  const session = await createSession(m.graph, { threads: 2 });
  for (let i = 0; i < 3; i++) {
    const out = await runGraph(session, m.graph, { image: tensors.get(`input_${i}`)!.data }, [m.logits]);
    const got = out[m.logits].data as Float32Array;
    const want = tensors.get(`logits_torchvision_${i}`)!.data;
    assert.equal(got.length, 1000);
    let maxDiff = 0;
    for (let k = 0; k < 1000; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k] - want[k]));
    assert.ok(maxDiff < 1e-4, `input_${i}: max |logit diff| ${maxDiff}`);
    const argmax = (a: ArrayLike<number>) => Array.from(a).reduce((b, v, k, arr) => (v > arr[b] ? k : b), 0);
    assert.equal(argmax(got), argmax(want));
  }
  await session.release();
});

test('mobilenet_v2: a 1-logit head re-initialises only the classifier', { skip }, async () => {
  const m = await createModel('mobilenet_v2', { numClasses: 1, pretrained: WEIGHTS });
  assert.deepEqual(m.importReport!.reinitialised.sort(), ['classifier.1.bias', 'classifier.1.weight']);
  assert.equal(m.importReport!.loaded.length + 2, m.graph.initializers.size - m.graph.constants.size);
});

test('mobilenet_v2 refuses timm-named (EfficientNet) weights with one clear line', async () => {
  const m = await createModel('mobilenet_v2', { numClasses: 1 });
  const { importWeights } = await import('../../src/models/index.ts');
  assert.throws(
    () => importWeights(m.graph, new Map([['conv_stem.weight', { shape: [32, 3, 3, 3], data: new Float32Array(864) }]]), { classifier: ['classifier.1.weight'], naming: 'torchvision' }),
    /timm naming/,
  );
});
