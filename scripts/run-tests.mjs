// Finds test/**/*.test.ts and hands them to Node's own test runner (Node 20 has no --test globs).
// Opt-in suites: DRXAI_REAL_DATA=1 runs tests on ../shared/data, DRXAI_SLOW=1 runs long ones;
// those tests skip themselves with a notice when their flag is unset.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const files = readdirSync(path.join(root, 'test'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => path.join('test', f))
  .sort();
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...selected],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
