// npm run bench:infer — EfficientNet-B0 inference at 448 px, batch 8: our exported model (BN
// folded, weights as initializers) on ONNX Runtime against PyTorch eval mode (bench/infer_ref.py,
// 2 threads), alternating runs, each in its own process.
// Options: --rounds R (default 5), --steps K (default 8), --sizes 448.
import { Rng } from '../src/core/index.ts';
import { createSession, exportInference } from '../src/engine/index.ts';
import { efficientnetB0 } from '../src/models/efficientnet.ts';
import { argValue, compare } from './engine_common.ts';
import * as ort from 'onnxruntime-node';

async function worker(): Promise<void> {
  const size = argValue('size', 448);
  const batch = argValue('batch', 8);
  const steps = argValue('steps', 3);
  const m = efficientnetB0({ numClasses: 5, batch, imageSize: size, seed: 0 });
  const state = new Map([...m.graph.initializers].filter(([n]) => !m.graph.constants.has(n)).map(([n, t]) => [n, t.data as Float32Array]));
  const { bytes } = exportInference(m.graph, state, { input: m.input, logits: m.logits, features: m.features });
  const session = await createSession(bytes, { threads: argValue('threads', 2) });
  const rng = new Rng(0);
  const image = new ort.Tensor('float32', new Float32Array(batch * 3 * size * size).map(() => rng.normal()), [batch, 3, size, size]);
  await session.run({ image }, ['logits']); // warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) await session.run({ image }, ['logits']);
  const dt = (performance.now() - t0) / 1000 / steps;
  const cu = process.cpuUsage(c0);
  const cpuSecPerStep = (cu.user + cu.system) / 1e6 / steps;
  console.log(JSON.stringify({ imgPerSec: batch / dt, peakRssMB: process.resourceUsage().maxRSS / 1024, secPerStep: dt, cpuSecPerStep }));
}

if (process.argv.includes('--worker')) {
  await worker();
} else {
  const rounds = argValue('rounds', 5);
  const steps = String(argValue('steps', 8));
  const i = process.argv.indexOf('--sizes');
  const sizes = i >= 0 ? process.argv[i + 1].split(',') : ['448'];
  compare(
    'EfficientNet-B0 inference, batch 8, 2 threads',
    sizes.map((s) => ({ label: `${s} px`, args: ['--size', s, '--steps', steps] })),
    'bench/infer.ts',
    'bench/infer_ref.py',
    rounds,
  );
}
