import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createSession, runGraph } from '../../src/engine/index.ts';
import { createModel, listModels, parseSafetensors, readSafetensors, serializeSafetensors } from '../../src/models/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SMALL = path.join(ROOT, 'test', 'fixtures', 'train', 'import');
const FULL = path.join(ROOT, '.cache', 'fixtures', 'import');

interface Expected {
  input_shape: number[];
  logits: number[][];
  width: number;
  depth: number;
  num_classes: number;
}

/** Import `weights` into efficientnet_b0 at the fixture's scaling and run the fixture input. */
async function logitsAfterImport(dir: string, stem: string, naming: 'torchvision' | 'timm', log?: (l: string) => void): Promise<{ got: Float32Array; expected: Expected }> {
  const expected = JSON.parse(readFileSync(path.join(dir, `${stem}_expected.json`), 'utf8')) as Expected;
  const [n, , size] = expected.input_shape;
  const model = await createModel('efficientnet_b0', {
    numClasses: expected.num_classes,
    inputSize: size,
    batch: n,
    widthMult: expected.width,
    depthMult: expected.depth,
    pretrained: path.join(dir, `${stem}_${naming}.safetensors`),
    log,
  });
  assert.equal(model.importReport?.naming, naming);
  assert.deepEqual(model.importReport?.reinitialised, []);
  const buf = readFileSync(path.join(dir, `${stem}_input.bin`));
  const input = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const session = await createSession(model.graph);
  const out = await runGraph(session, model.graph, { [model.input]: input }, [model.logits]);
  await session.release();
  return { got: out[model.logits].data as Float32Array, expected };
}

function assertClose(got: Float32Array, expected: number[][], tol: number): void {
  const flat = expected.flat();
  assert.equal(got.length, flat.length);
  let worst = 0;
  for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(got[i] - flat[i]));
  assert.ok(worst <= tol, `max |ours - PyTorch| = ${worst} > ${tol}`);
}

test('registry lists B0..B7 and tiny_cnn', () => {
  const names = listModels();
  for (let k = 0; k <= 7; k++) assert.ok(names.includes(`efficientnet_b${k}`));
  assert.ok(names.includes('tiny_cnn'));
});

test('safetensors: write then read gives the same tensors and metadata; corrupt header is a one-line error', () => {
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) };
  const b = { shape: [1], data: Float32Array.of(42) };
  const bytes = serializeSafetensors([['a', a], ['b.c', b]], { note: 'x' });
  assert.equal(new DataView(bytes.buffer).getBigUint64(0, true) % 8n, 0n);
  const back = parseSafetensors(bytes);
  assert.deepEqual(back.metadata, { note: 'x' });
  assert.deepEqual(back.tensors.get('a'), a);
  assert.deepEqual(back.tensors.get('b.c'), b);
  const bad = bytes.slice();
  bad[8] = 0x21; // '!' where '{' was
  assert.throws(() => parseSafetensors(bad, 'w.safetensors'), /w\.safetensors: not a safetensors file/);
});

test('import of torchvision-named weights reproduces PyTorch logits (B0 width 0.25, depth 0.25)', async () => {
  const lines: string[] = [];
  const { got, expected } = await logitsAfterImport(SMALL, 'effnet_b0_w025', 'torchvision', (l) => lines.push(l));
  assertClose(got, expected.logits, 1e-4);
  assert.ok(lines.some((l) => /imported \d+ tensors \(torchvision naming\)/.test(l)));
});

test('the same weights renamed to timm keys reproduce them too', async () => {
  const { got, expected } = await logitsAfterImport(SMALL, 'effnet_b0_w025', 'timm');
  assertClose(got, expected.logits, 1e-4);
});

test('a classifier of another shape is re-initialised and said so; a missing weight names itself', async () => {
  const lines: string[] = [];
  const file = path.join(SMALL, 'effnet_b0_w025_timm.safetensors');
  const m = await createModel('efficientnet_b0', { numClasses: 1, inputSize: 64, widthMult: 0.25, depthMult: 0.25, pretrained: file, log: (l) => lines.push(l) });
  assert.deepEqual(m.importReport?.reinitialised, ['classifier.weight', 'classifier.bias']);
  assert.ok(lines.some((l) => l.startsWith('classifier re-initialised')));
  // A wider model cannot take these weights: the first mismatching tensor is named.
  await assert.rejects(createModel('efficientnet_b0', { numClasses: 3, inputSize: 64, widthMult: 0.5, depthMult: 0.25, pretrained: file }), /effnet_b0_w025_timm\.safetensors: weight 'conv_stem\.weight' has shape \[8,3,3,3\], the model expects \[16,3,3,3\]/);
  const { tensors } = await readSafetensors(file);
  tensors.delete('blocks.0.0.bn1.running_var');
  const { promises: fsp } = await import('node:fs');
  const os = await import('node:os');
  const tmp = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-import-')), 'w.safetensors');
  await fsp.writeFile(tmp, serializeSafetensors(tensors));
  await assert.rejects(createModel('efficientnet_b0', { numClasses: 3, inputSize: 64, widthMult: 0.25, depthMult: 0.25, pretrained: tmp }), /no tensor 'blocks\.0\.0\.bn1\.running_var'/);
});

const slow = process.env.DRXAI_SLOW === '1';
test('full EfficientNet-B0 import reproduces PyTorch logits (torchvision and timm naming)', { skip: slow ? (existsSync(FULL) ? false : 'run /usr/bin/python3 scripts/fixtures/make_import_fixtures.py --full first') : 'DRXAI_SLOW=1' }, async () => {
  for (const naming of ['torchvision', 'timm'] as const) {
    const { got, expected } = await logitsAfterImport(FULL, 'effnet_b0', naming);
    assertClose(got, expected.logits, 1e-4);
  }
});
