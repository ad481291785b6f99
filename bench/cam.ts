/**
 * `npm run bench:cam`: Grad-CAM++ per image for EfficientNet-B0 at 448 px, ours (ONNX Runtime
 * inference that also outputs `features` + the closed-form head gradients, src/explain) against
 * a PyTorch hook implementation of the same formula (bench/cam_ref.py, torchvision's
 * efficientnet_b0, random weights), same machine, same run, both on the same thread count.
 *
 *   npm run bench:cam [-- --size 448 --n 8 --threads 2]
 *
 * Our B0 is built by src/models (createModel) with random weights and exported by src/engine
 * (exportInference, BatchNorm folded) into a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportInference } from '../src/engine/index.ts';
import { CamExplainer } from '../src/explain/index.ts';
import { createModel, saveModel, IMAGENET_MEAN, IMAGENET_STD } from '../src/models/index.ts';
import { Rng } from '../src/core/index.ts';

const { values } = parseArgs({ options: { size: { type: 'string', default: '448' }, n: { type: 'string', default: '8' }, threads: { type: 'string', default: '2' } } });
const size = Number(values.size);
const n = Number(values.n);
const threads = Number(values.threads);

const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-bench-cam-'));
try {
  const built = await createModel('efficientnet_b0', { numClasses: 1, inputSize: size, seed: 0 });
  const exported = exportInference(built.graph, new Map(), { input: built.input, logits: built.logits, features: built.features });
  const onnxPath = path.join(dir, 'b0.onnx');
  await saveModel(onnxPath, exported.bytes, {
    format: 'dr-xai-model/1',
    name: 'efficientnet_b0',
    version: 'bench',
    task: 'referable',
    numClasses: 1,
    input: { name: 'image', size, mean: [...IMAGENET_MEAN] as [number, number, number], std: [...IMAGENET_STD] as [number, number, number] },
    outputs: { logits: 'logits', features: 'features' },
    preprocess: { size },
  });
  const explainer = await CamExplainer.create(onnxPath, { method: 'gradcam++', threads, batchSize: 1 });
  const rng = new Rng(0);
  const images = Array.from({ length: n + 1 }, () => ({ width: size, height: size, channels: 3 as const, data: Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)) }));
  await explainer.attribute([images[0]]); // warm-up
  const times: number[] = [];
  for (const img of images.slice(1)) {
    const t0 = performance.now();
    await explainer.attribute([img]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ours = times[Math.floor(times.length / 2)];
  await explainer.release();
  console.log(`ours (dr-xai, ORT forward + ${explainer.gradientSource} Grad-CAM++, EfficientNet-B0 ${size}px, ${threads} threads): ${ours.toFixed(1)} ms/image (median of ${n})`);
  const python = process.env.DRXAI_PYTHON ?? '/usr/bin/python3';
  if (!existsSync(python)) {
    console.log(`reference skipped: ${python} not found`);
  } else {
    const r = spawnSync(python, [path.join(import.meta.dirname, 'cam_ref.py'), '--size', String(size), '--n', String(n), '--threads', String(threads)], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.log(`reference failed: ${r.stderr.trim().split('\n').pop()}`);
    } else {
      const ref = JSON.parse(r.stdout.trim().split('\n').pop()!);
      console.log(`reference (PyTorch ${ref.torch} hooks + autograd, torchvision efficientnet_b0, ${ref.threads} threads): ${ref.ms_per_image.toFixed(1)} ms/image (median of ${n}; its forward pass alone ${ref.forward_ms.toFixed(1)} ms)`);
      console.log(`ratio: ours is ${(ref.ms_per_image / ours).toFixed(2)}x faster per image (target >= 5x)`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
