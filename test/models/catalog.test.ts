// models/defaults.json names the default package of each task; dr-xai models lists every package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MODELS_DIR, defaultModelPath, listPackagedModels, loadModel } from '../../src/models/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures', 'models');
const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

/** A models folder with a binary and a grade package (copies of the tiny fixture; only their sidecars are read here) and its defaults. */
function folder(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-models-'));
  const sidecar = JSON.parse(readFileSync(path.join(FIX, 'tiny.json'), 'utf8'));
  for (const [name, task] of [['a-referable', 'referable'], ['b-grade', 'grade']] as const) {
    copyFileSync(path.join(FIX, 'tiny.onnx'), path.join(dir, `${name}.onnx`));
    const referralByGrade = [0, 1, 2, 3, 4].map((grade) => ({ grade, n: 10, referred: 2 * grade }));
    const operatingPoint = { threshold: 0.5, targetSpecificity: 0.95, mode: 'constrained', chosenOn: 'phantom validation split', ...(task === 'referable' ? { referralByGrade } : {}) };
    writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ ...sidecar, task, numClasses: task === 'grade' ? 5 : 1, metrics: { valAuroc: task === 'grade' ? 0.9 : 0.8 }, operatingPoint }));
  }
  writeFileSync(path.join(dir, 'defaults.json'), JSON.stringify({ referable: 'a-referable.onnx', grade: 'b-grade.onnx' }));
  return dir;
}

test('listPackagedModels and defaultModelPath read a models folder and its defaults.json', async () => {
  const dir = folder();
  const models = await listPackagedModels(dir);
  assert.deepEqual(models.map((m) => [m.name, m.task, m.default]), [['a-referable', 'referable', true], ['b-grade', 'grade', true]]);
  assert.equal(models[0].sizeMb, statSync(path.join(dir, 'a-referable.onnx')).size / 1e6);
  assert.equal(await defaultModelPath('grade', dir), path.join(dir, 'b-grade.onnx'));
  writeFileSync(path.join(dir, 'defaults.json'), JSON.stringify({ referable: 'gone.onnx', grade: 'b-grade.onnx' }));
  await assert.rejects(defaultModelPath('referable', dir), /defaults\.json: the default referable model gone\.onnx is missing/);
  writeFileSync(path.join(dir, 'defaults.json'), '{"referable": 3}');
  await assert.rejects(listPackagedModels(dir), /defaults\.json: expected \{"referable"/);
});

test('dr-xai models --json: path, name, task, default for every package; the text form marks the defaults', () => {
  const dir = folder();
  const r = run(['models', '--dir', dir, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { path: string; name: string; task: string; default: boolean }[];
  assert.deepEqual(list.map(({ path: p, name, task, default: d }) => ({ p: path.basename(p), name, task, d })), [
    { p: 'a-referable.onnx', name: 'a-referable', task: 'referable', d: true },
    { p: 'b-grade.onnx', name: 'b-grade', task: 'grade', d: true },
  ]);
  const text = run(['models', '--dir', dir]);
  assert.match(text.stdout, /\* a-referable {2}\[referable, default\]/);
  // A stored referral by grade is one line under its package (the grade package has none).
  assert.match(text.stdout, /\n {4}referred at that threshold, by true grade \(phantom validation split\): 0 no DR 0\/10, 1 mild 2\/10, 2 moderate 4\/10, 3 severe 6\/10, 4 proliferative 8\/10\n/);
  assert.equal(text.stdout.match(/referred at that threshold/g)?.length, 1);
  assert.match(text.stdout, /Research decision support only/);
});

test("the repository's own models/ folder: each task's default exists, loads, and has the task it is the default of", async () => {
  for (const task of ['referable', 'grade'] as const) {
    const file = await defaultModelPath(task);
    assert.ok(file.startsWith(MODELS_DIR));
    const model = await loadModel(file);
    assert.equal(model.info.task, task);
    assert.ok(model.info.operatingPoint, `${task} default has no operating point`);
    // It says which grades it refers on the images it was chosen on: all of them, once.
    const images = Number(/\((\d+) images\)/.exec(model.info.operatingPoint.protocol ?? '')?.[1]);
    assert.equal(model.info.operatingPoint.referralByGrade?.reduce((a, r) => a + r.n, 0), images, `${task} default: referral by grade over the ${images} CV images`);
    await model.release();
  }
});

test("the repository's int8 packages are twins of the float packages beside them: the sidecar names that file and its sha256, and keeps its task, input, preprocessing, operating point and explanation", async () => {
  const twins = (await listPackagedModels(MODELS_DIR)).filter((m) => m.name.endsWith('-int8'));
  assert.ok(twins.length >= 2, `int8 packages in models/: ${twins.map((m) => m.name)}`);
  for (const twin of twins) {
    const q = JSON.parse(readFileSync(twin.path.replace(/\.onnx$/, '.json'), 'utf8'));
    const floatPath = path.join(MODELS_DIR, q.quantization.from.file);
    assert.equal(createHash('sha256').update(readFileSync(floatPath)).digest('hex'), q.quantization.from.sha256, `${twin.name}: ${q.quantization.from.file} changed since it was quantized; run dr-xai quantize again`);
    const f = JSON.parse(readFileSync(floatPath.replace(/\.onnx$/, '.json'), 'utf8'));
    for (const key of ['task', 'numClasses', 'input', 'preprocess', 'operatingPoint', 'explain']) assert.deepEqual(q[key], f[key], `${twin.name}: ${key}`);
    assert.ok(statSync(twin.path).size < statSync(floatPath).size / 3, `${twin.name} is a third of its float twin or less`);
  }
});

test('dr-xai models piped into a reader that has already gone (| true) ends quietly: no EPIPE stack trace', () => {
  // `true` exits before the CLI has started, so its first write finds the pipe closed.
  const cli = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(path.join(ROOT, 'src', 'cli', 'main.ts'))}`;
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', `${cli} models --dir ${JSON.stringify(folder())} | true`], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});
