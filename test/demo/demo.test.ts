import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/models/index.ts';
import { runDemo } from '../../src/demo/index.ts';

const slow = process.env.DRXAI_SLOW === '1' ? false : 'DRXAI_SLOW=1 (about 1-3 minutes on 2 cores)';

test('the demo runs the whole chain and its phantom test AUROC is clearly above chance (> 0.9)', { skip: slow }, async () => {
  const out = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-demo-')), 'demo');
  const lines: string[] = [];
  const r = await runDemo({ outDir: out, disclaimer: 'RESEARCH USE ONLY (test)', stage: (l) => lines.push(l) });
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['phantoms', 'split', 'preprocess', 'train', 'evaluate', 'explain']);
  assert.ok(r.testAuroc > 0.9, `test AUROC ${r.testAuroc}`);
  const md = readFileSync(r.markdown, 'utf8');
  assert.ok(md.trimEnd().endsWith('**RESEARCH USE ONLY (test)**'));
  const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)];
  for (const link of links) assert.ok(existsSync(path.join(out, link[1])), `report links missing ${link[1]}`);
  // report.html: the same report in one file, every picture inlined.
  assert.equal(path.basename(r.report), 'report.html');
  const html = readFileSync(r.report, 'utf8');
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, links.length);
  assert.match(html, /RESEARCH USE ONLY \(test\)/);
  const model = await loadModel(path.join(out, 'run', 'model.onnx'));
  assert.equal(model.info.operatingPoint?.targetSpecificity, 0.95);
  await model.release();
  // A second run reuses the preprocessing cache and gives the same numbers.
  const again = await runDemo({ outDir: out, disclaimer: 'RESEARCH USE ONLY (test)' });
  assert.equal(again.testAuroc, r.testAuroc);
});
