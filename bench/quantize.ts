// npm run bench:quantize — int8 (dr-xai quantize) against its float package on ONNX Runtime:
// latency at batch 1 and 8 on all threads and on one, both sessions in this process, alternating
// in every round; medians of the rounds with their spread, and the load average before and after.
// Options: --model m.onnx (default: the referable default), --int8 m-int8.onnx (default: the
// released twin m-int8.onnx beside it where there is one, else quantize it now on --calibration,
// default ../shared/data/aptos2019-224, --n images), --rounds R (5).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Rng } from '../src/core/index.ts';
import { loadDataset } from '../src/data/index.ts';
import { defaultModelPath, quantizeModel, readSidecar, saveModel } from '../src/models/index.ts';
import { argString, argValue, loadAverage, median } from './engine_common.ts';

const model = argString('model') ?? (await defaultModelPath('referable'));
const twin = model.replace(/\.onnx$/i, '-int8.onnx');
let int8 = argString('int8') ?? (existsSync(twin) ? twin : undefined);
if (!int8) {
  const root = argString('calibration') ?? path.resolve(import.meta.dirname, '../../shared/data/aptos2019-224');
  const dataset = await loadDataset(root);
  const chosen = new Rng(42).shuffle([...dataset.samples]).slice(0, argValue('n', 100));
  const q = await quantizeModel(model, { calibration: chosen.map((s) => s.path), calibrationSource: dataset.name });
  int8 = path.join(os.tmpdir(), `dr-xai-bench-${process.pid}-int8.onnx`);
  await saveModel(int8, q.onnx, q.sidecar);
}
const rounds = argValue('rounds', 5);
const info = await readSidecar(model);
const size = info.input.size;
console.log(`int8 vs float32, ${path.basename(int8)} vs ${path.basename(model)}, ${size} px; ${os.availableParallelism()} cores; load average at start ${loadAverage()}`);
console.log(`(rounds=${rounds}, float and int8 alternating in each; medians [min, max] of the rounds; speed-up > 1 favours int8)`);
console.log('batch  threads   float ms p50 [spread]     int8 ms p50 [spread]   speed-up');
for (const threads of [os.availableParallelism(), 1]) {
  const opts = { intraOpNumThreads: threads, graphOptimizationLevel: 'all' as const };
  const sessions = { float: await ort.InferenceSession.create(model, opts), int8: await ort.InferenceSession.create(int8, opts) };
  for (const batch of [1, 8]) {
    const rng = new Rng(batch);
    const image = new ort.Tensor('float32', new Float32Array(batch * 3 * size * size).map(() => rng.normal()), [batch, 3, size, size]);
    const runs = batch === 1 ? 30 : 8;
    const p50: Record<'float' | 'int8', number[]> = { float: [], int8: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of ['float', 'int8'] as const) {
        for (let w = 0; w < 3; w++) await sessions[k].run({ image });
        const t: number[] = [];
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          await sessions[k].run({ image });
          t.push(performance.now() - t0);
        }
        p50[k].push(median(t));
      }
    }
    const f = median(p50.float);
    const q = median(p50.int8);
    const spread = (v: number[]) => `[${Math.min(...v).toFixed(1)}, ${Math.max(...v).toFixed(1)}]`;
    console.log(`${String(batch).padStart(5)}  ${String(threads).padStart(7)}  ${f.toFixed(1).padStart(8)} ${spread(p50.float).padEnd(14)}  ${q.toFixed(1).padStart(8)} ${spread(p50.int8).padEnd(14)}  ${(f / q).toFixed(2).padStart(7)}x`);
  }
  await sessions.float.release();
  await sessions.int8.release();
}
console.log(`load average at end ${loadAverage()}`);
