// EfficientNet built by our graph builder and trained by our autodiff + ORT + AdamW, against
// PyTorch (scripts/fixtures/make_engine_fixtures.py): loss, every weight gradient, BatchNorm
// running statistics, eval-mode logits, AdamW updates, three end-to-end training steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AdamW, TrainingSession } from '../../src/engine/index.ts';
import { EFFICIENTNET_CONFIGS, addLoss, buildEfficientNet, efficientnetB0 } from '../../src/models/efficientnet.ts';

const root = path.resolve(import.meta.dirname, '../..');

interface Fixture {
  meta: { width: number; depth: number; batch: number; image_size: number; num_classes: number; loss: number; adamw: { lr: number; weight_decay: number; grad_scales: number[]; train_losses: number[] } };
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

function loadFixture(base: string): Fixture {
  const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
  const bin = readFileSync(`${base}.bin`);
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of meta.tensors as { name: string; shape: number[]; offset: number }[]) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    tensors.set(t.name, { shape: t.shape, data: all.subarray(t.offset, t.offset + n) });
  }
  return { meta, tensors };
}

/** max |a - b| / max(max |b|, floor) over the tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = floor;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

async function checkAgainstPyTorch(base: string, tol: { grad: number; adamw: number }) {
  const fx = loadFixture(base);
  const { meta } = fx;
  const cfg = { ...EFFICIENTNET_CONFIGS.efficientnet_b0, widthMult: meta.width, depthMult: meta.depth };
  const model = buildEfficientNet(cfg, { numClasses: meta.num_classes, batch: meta.batch, imageSize: meta.image_size });
  const loss = addLoss(model, { kind: 'ce' });
  // Same parameter and buffer names and shapes as the PyTorch module's state dict.
  const fixtureNames = [...fx.tensors.keys()].filter((k) => k.startsWith('init/')).map((k) => k.slice(5));
  const ours = [...model.graph.initializers.keys()].filter((k) => !model.graph.constants.has(k));
  assert.deepEqual([...ours].sort(), [...fixtureNames].sort());
  const session = await TrainingSession.create(model.graph, { loss, params: model.params, extraOutputs: [model.logits] });
  const reset = () => {
    for (const [name, v] of session.state) v.set(fx.tensors.get(`init/${name}`)!.data);
  };
  reset();
  const batch = { image: fx.tensors.get('input')!.data, targets: fx.tensors.get('targets')!.data };
  const worst: Record<string, number> = {};

  const evalOut = await session.evaluate({ image: batch.image }, [model.logits]);
  worst.evalLogits = relErr(evalOut[model.logits], fx.tensors.get('eval/logits')!.data);
  assert.ok(worst.evalLogits < 1e-4, `eval logits rel err ${worst.evalLogits}`);

  const step = await session.step(batch);
  assert.ok(Math.abs(step.loss - meta.loss) / meta.loss < 1e-5, `loss ${step.loss} vs PyTorch ${meta.loss}`);
  worst.grad = 0;
  // Biases of a BatchNorm whose output reaches the loss only through another training-mode
  // BatchNorm have a true gradient of 0 (the next BN removes per-channel shifts); both sides
  // hold float32 rounding noise (~1e-7) there, so errors are measured against at least 1% of
  // the largest gradient in the model.
  let largest = 0;
  for (const p of model.params) for (const v of fx.tensors.get(`grad/${p}`)!.data) largest = Math.max(largest, Math.abs(v));
  for (const p of model.params) {
    const e = relErr(step.grads.get(p)!, fx.tensors.get(`grad/${p}`)!.data, 1e-2 * largest);
    worst.grad = Math.max(worst.grad, e);
    assert.ok(e < tol.grad, `gradient of ${p}: rel err ${e.toExponential(2)}`);
  }
  worst.runningStats = 0;
  for (const [name, t] of fx.tensors) {
    if (!name.startsWith('after1/')) continue;
    const e = relErr(session.state.get(name.slice(7))!, t.data);
    worst.runningStats = Math.max(worst.runningStats, e);
    assert.ok(e < 1e-5, `${name}: rel err ${e}`);
  }

  // AdamW alone, fed PyTorch's own gradients scaled as in the fixture.
  reset();
  const grads1 = new Map(model.params.map((p) => [p, fx.tensors.get(`grad/${p}`)!.data]));
  const shapeOf = (n: string) => model.builder.shape(n);
  const newOpt = () => new AdamW({ lr: meta.adamw.lr, weightDecay: meta.adamw.weight_decay, noDecay: (n) => shapeOf(n).length <= 1 });
  let opt = newOpt();
  for (const c of meta.adamw.grad_scales) opt.step(session.state, new Map([...grads1].map(([k, g]) => [k, g.map((v) => v * c)])));
  worst.adamw = 0;
  let compared = 0;
  for (const [name, t] of fx.tensors) {
    if (!name.startsWith('adamw3/')) continue;
    const e = relErr(session.state.get(name.slice(7))!, t.data);
    worst.adamw = Math.max(worst.adamw, e);
    compared++;
    assert.ok(e < tol.adamw, `${name} after 3 AdamW steps: rel err ${e}`);
  }
  assert.ok(compared > 5);

  // End to end: three steps of forward, backward, AdamW on the same batch.
  reset();
  opt = newOpt();
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await session.step(batch);
    losses.push(s.loss);
    opt.step(session.state, s.grads);
  }
  meta.adamw.train_losses.forEach((l, i) => assert.ok(Math.abs(losses[i] - l) / l < 1e-4, `training step ${i}: loss ${losses[i]} vs PyTorch ${l}`));
  await session.release();
  return worst;
}

test('width-reduced EfficientNet: loss, gradients, BN statistics, eval logits and AdamW match PyTorch', async () => {
  const worst = await checkAgainstPyTorch(path.join(root, 'test/fixtures/engine/effnet_small'), { grad: 1e-4, adamw: 1e-5 });
  console.log('worst relative errors vs PyTorch:', worst);
});

function referenceKeys(file: string) {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => /^(\S+) \[(.*)\]$/.exec(l)!)
    .filter((r) => !r[1].endsWith('num_batches_tracked'))
    .map((r) => [r[1], r[2] === '' ? [] : r[2].split(', ').map(Number)] as const);
}

test('EfficientNet-B0 has timm efficientnet_b0 parameter names, shapes and 5,288,548 parameters', () => {
  const m = efficientnetB0({ numClasses: 1000, batch: 1, imageSize: 224 });
  const ref = referenceKeys('/work/shared/reference/effnet_b0_keys.txt');
  const ours = new Map([...m.graph.initializers].filter(([n]) => !m.graph.constants.has(n)).map(([n, t]) => [n, t.shape]));
  assert.equal(ours.size, ref.length);
  for (const [name, shape] of ref) assert.deepEqual(ours.get(name), shape, name);
  const count = m.params.reduce((s, p) => s + m.graph.initializers.get(p)!.data.length, 0);
  assert.equal(count, 5_288_548);
  assert.deepEqual(m.graph.values.get(m.features)!.shape, [1, 1280, 7, 7]);
});

test('EfficientNet-B3 from the compound-scaling rule has timm efficientnet_b3 names and shapes', () => {
  const m = buildEfficientNet(EFFICIENTNET_CONFIGS.efficientnet_b3, { numClasses: 1000, batch: 1, imageSize: 64 });
  const ref = referenceKeys('/work/shared/reference/effnet_b3_keys.txt');
  const ours = new Map([...m.graph.initializers].filter(([n]) => !m.graph.constants.has(n)).map(([n, t]) => [n, t.shape]));
  assert.equal(ours.size, ref.length);
  for (const [name, shape] of ref) assert.deepEqual(ours.get(name), shape, name);
});

const slow = process.env.DRXAI_SLOW === '1';
const fullBase = path.join(root, '.cache/engine-fixtures/effnet_b0');
test('full EfficientNet-B0 matches PyTorch (DRXAI_SLOW=1; fixture from make_engine_fixtures.py --full)', { skip: !slow ? 'set DRXAI_SLOW=1' : !existsSync(`${fullBase}.json`) ? `run /usr/bin/python3 scripts/fixtures/make_engine_fixtures.py --full first` : false }, async () => {
  const worst = await checkAgainstPyTorch(fullBase, { grad: 1e-4, adamw: 1e-5 });
  console.log('B0 worst relative errors vs PyTorch:', worst);
});
