// npm run bench:train — EfficientNet-B0 training step (forward, backward, AdamW) at batch 8,
// 224 and 448 px: ours (graph builder + autodiff + ONNX Runtime + TypeScript AdamW) against
// PyTorch (bench/train_ref.py, 2 threads), alternating runs, each in its own process.
// Options: --rounds R (default 5), --steps K (timed steps per run, default 5), --sizes 224,448.
import { Rng } from '../src/core/index.ts';
import { AdamW, TrainingSession } from '../src/engine/index.ts';
import { addLoss, efficientnetB0 } from '../src/models/efficientnet.ts';
import { argValue, compare } from './engine_common.ts';

async function worker(): Promise<void> {
  const size = argValue('size', 224);
  const batch = argValue('batch', 8);
  const steps = argValue('steps', 3);
  const m = efficientnetB0({ numClasses: 5, batch, imageSize: size, seed: 0 });
  const loss = addLoss(m, { kind: 'ce' });
  const session = await TrainingSession.create(m.graph, { loss, threads: argValue('threads', 2), profilePrefix: process.env.DRXAI_ORT_PROFILE });
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0.05, noDecay: (n) => m.builder.shape(n).length <= 1 });
  const rng = new Rng(0);
  const image = new Float32Array(batch * 3 * size * size).map(() => rng.normal());
  const targets = new Float32Array(batch * 5);
  for (let i = 0; i < batch; i++) targets[i * 5 + (i % 5)] = 1;
  const step = async () => opt.step(session.state, (await session.step({ image, targets })).grads);
  await step(); // warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) await step();
  const dt = (performance.now() - t0) / 1000 / steps;
  const cu = process.cpuUsage(c0);
  const cpuSecPerStep = (cu.user + cu.system) / 1e6 / steps;
  console.log(JSON.stringify({ imgPerSec: batch / dt, peakRssMB: process.resourceUsage().maxRSS / 1024, secPerStep: dt, cpuSecPerStep }));
  await session.release(); // also writes the ORT profile when DRXAI_ORT_PROFILE is set
}

if (process.argv.includes('--worker')) {
  await worker();
} else {
  const rounds = argValue('rounds', 5);
  const steps = String(argValue('steps', 5));
  const i = process.argv.indexOf('--sizes');
  const sizes = i >= 0 ? process.argv[i + 1].split(',') : ['224', '448'];
  compare(
    'EfficientNet-B0 training step, batch 8, 2 threads',
    sizes.map((s) => ({ label: `${s} px`, args: ['--size', s, '--steps', steps] })),
    'bench/train.ts',
    'bench/train_ref.py',
    rounds,
  );
}
