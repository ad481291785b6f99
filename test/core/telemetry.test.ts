// ONNX Runtime's native telemetry (a SQLite queue of model hashes, producer names, node paths and
// the OS under ~/.cache/Microsoft, and a mat-debug-<pid>.log in the temp folder) must stay off in
// every process dr-xai starts: here the CLI with its worker threads. The control run (the runtime
// loaded without dr-xai) shows the check can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'serve', 'small.onnx');

function run(args: string[]): { home: string[]; temp: string[] } {
  const home = mkdtempSync(path.join(tmpdir(), 'drxai-home-'));
  const temp = mkdtempSync(path.join(tmpdir(), 'drxai-tmp-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: temp };
  // ONNX Runtime also stays quiet when CI is set (as .ci/run does): unset it, as on a user's machine.
  delete env.ORT_DISABLE_TELEMETRY;
  delete env.CI;
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { home: readdirSync(home, { recursive: true }).map(String), temp: readdirSync(temp).filter((f) => f.startsWith('mat-debug')) };
}

test('no ONNX Runtime telemetry from dr-xai (and the control run shows where it would be)', () => {
  const control = run(['--input-type=module', '-e', `const ort = await import('onnxruntime-node'); await ort.InferenceSession.create(${JSON.stringify(MODEL)});`]);
  assert.ok(control.home.some((f) => f.endsWith('onnxruntime.db')), `control: ${control.home.join(', ')}`);
  assert.equal(control.temp.length, 1);
  const out = mkdtempSync(path.join(tmpdir(), 'drxai-tel-'));
  const ours = run([path.join(ROOT, 'bin', 'dr-xai.js'), 'screen', path.join(ROOT, 'test', 'fixtures', 'screening', 'phantom.jpg'), '--model', MODEL, '--out', out, '--workers', '2', '--explain', '--quiet']);
  assert.deepEqual(ours.home, []);
  assert.deepEqual(ours.temp, []);
});
