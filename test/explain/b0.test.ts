// EfficientNet-B0 (our builder, random weights, exported by the engine): the closed-form head
// path against the engine's autodiff path, and Grad-CAM++ on an earlier layer. DRXAI_SLOW=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../src/core/index.ts';
import { exportInference, fromOnnxBytes } from '../../src/engine/index.ts';
import { CamExplainer } from '../../src/explain/index.ts';
import { IMAGENET_MEAN, IMAGENET_STD, createModel, saveModel } from '../../src/models/index.ts';
import { assertClose } from './helpers.ts';

const slow = process.env.DRXAI_SLOW === '1';

test('EfficientNet-B0 at 224: closed form equals autodiff (1e-5); an earlier layer works through autodiff', { skip: !slow && 'set DRXAI_SLOW=1' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-b0cam-'));
  try {
    const size = 224;
    const built = await createModel('efficientnet_b0', { numClasses: 5, inputSize: size, seed: 3 });
    const exported = exportInference(built.graph, new Map(), { input: built.input, logits: built.logits, features: built.features });
    const onnx = path.join(dir, 'b0.onnx');
    await saveModel(onnx, exported.bytes, {
      format: 'dr-xai-model/1', name: 'efficientnet_b0', version: 'test', task: 'grade', numClasses: 5,
      input: { name: 'image', size, mean: [...IMAGENET_MEAN] as [number, number, number], std: [...IMAGENET_STD] as [number, number, number] },
      outputs: { logits: 'logits', features: 'features' }, preprocess: { size },
    });
    const rng = new Rng(5);
    const images = [0, 1].map(() => ({ width: size, height: size, channels: 3 as const, data: Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)) }));
    const fast = await CamExplainer.create(onnx, { gradients: 'closed-form' });
    const auto = await CamExplainer.create(onnx, { gradients: 'autodiff' });
    for (const target of [{ kind: 'referable' as const }, { kind: 'class' as const, index: 4 }]) {
      const a = await fast.attribute(images, { target });
      const b = await auto.attribute(images, { target });
      for (let n = 0; n < 2; n++) {
        const scale = Math.max(...Array.from(a[n].weights, Math.abs));
        assertClose(b[n].weights, a[n].weights, 1e-5 * scale, 1e-5, 'weights');
        assertClose(b[n].map, a[n].map, 1e-5, 0, 'map');
      }
    }
    // the input of conv_head: a (N, 320, 7, 7) block output, only reachable by autodiff
    const g = fromOnnxBytes(readFileSync(onnx));
    const convHead = g.nodes.find((nd) => nd.op === 'Conv' && nd.inputs[1] === 'conv_head.weight')!;
    const early = await CamExplainer.create(onnx, { layer: convHead.inputs[0] });
    assert.equal(early.gradientSource, 'autodiff');
    const [e] = await early.attribute([images[0]]);
    assert.equal(e.lowResWidth, 7);
    assert.equal(e.weights.length, 320);
    assert.ok(e.map.some((v) => v === 1) && e.map.every((v) => v >= 0 && v <= 1));
    for (const x of [fast, auto, early]) await x.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
