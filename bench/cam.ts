/**
 * `npm run bench:cam`: Grad-CAM++ per image for EfficientNet-B0 at 448 px, ours (ONNX Runtime
 * inference that also outputs `features` + the closed-form head gradients, src/explain) against
 * a PyTorch hook implementation of the same formula (bench/cam_ref.py, torchvision's
 * efficientnet_b0, random weights), same machine, same run, both on the same thread count.
 *
 *   npm run bench:cam [-- --size 448 --n 8 --threads 2 --rounds 5]
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
import { CamExplainer, REFERABLE_TARGET } from '../src/explain/index.ts';
import { createModel, saveModel, IMAGENET_MEAN, IMAGENET_STD } from '../src/models/index.ts';
import { Rng } from '../src/core/index.ts';
import { loadAverage, median } from './engine_common.ts';

const { values } = parseArgs({ options: { size: { type: 'string', default: '448' }, n: { type: 'string', default: '8' }, threads: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' } } });
const size = Number(values.size);
const n = Number(values.n);
const threads = Number(values.threads);
const rounds = Number(values.rounds);

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
  // Both sides time the same work per image: the network on an input tensor that is already
  // normalised (the reference builds its tensors before its clock starts), the CAM formula, the
  // bilinear resize to the input size and the min-max scaling; and both warm up on one image in
  // every round (the reference is a fresh process each round, so it must).
  const inputs = images.map((img) => explainer.inputTensor([img]));
  const oursRound = async () => {
    await explainer.attributeBatch(inputs[0], 1, REFERABLE_TARGET);
    const times: number[] = [];
    for (const x of inputs.slice(1)) {
      const t0 = performance.now();
      await explainer.attributeBatch(x, 1, REFERABLE_TARGET);
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  const python = process.env.DRXAI_PYTHON ?? '/usr/bin/python3';
  const hasTorch = existsSync(python) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  const refRound = () => {
    const r = spawnSync(python, [path.join(import.meta.dirname, 'cam_ref.py'), '--size', String(size), '--n', String(n), '--threads', String(threads)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`reference failed: ${r.stderr.trim().split('\n').pop()}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; threads: number; ms_per_image: number; forward_ms: number };
  };
  console.log(`Grad-CAM++ per image, EfficientNet-B0 ${size} px, ${threads} threads; ${rounds} rounds of ${n} images, ours and PyTorch alternating; load average ${loadAverage()}`);
  const ours: number[] = [];
  const refs: ReturnType<typeof refRound>[] = [];
  for (let r = 0; r < rounds; r++) {
    ours.push(await oursRound());
    if (hasTorch) refs.push(refRound());
  }
  await explainer.release();
  const spread = (v: number[]) => `[${Math.min(...v).toFixed(1)}, ${Math.max(...v).toFixed(1)}]`;
  const o = median(ours);
  console.log(`ours (dr-xai, ORT forward + ${explainer.gradientSource} Grad-CAM++): ${o.toFixed(1)} ms/image, median of the rounds' medians ${spread(ours)}`);
  if (!hasTorch) {
    console.log(`reference skipped: ${python} cannot import torch (apt-get install -y python3-torch); no ratio`);
  } else {
    const ms = refs.map((x) => x.ms_per_image);
    const ref = median(ms);
    console.log(`reference (PyTorch ${refs[0].torch} hooks + autograd, torchvision efficientnet_b0, ${refs[0].threads} threads): ${ref.toFixed(1)} ms/image ${spread(ms)} (its forward pass alone ${median(refs.map((x) => x.forward_ms)).toFixed(1)} ms)`);
    console.log(`ratio: ours is ${(ref / o).toFixed(2)}x faster per image (target >= 10x)`);
  }
  console.log(`load average at end ${loadAverage()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
