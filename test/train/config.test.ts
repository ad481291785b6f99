import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { learningRateAt, preprocessConfigOf, readConfigFile, resolveTrainConfig } from '../../src/train/index.ts';

async function write(name: string, text: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'drxai-config-'));
  const file = path.join(dir, name);
  await fsp.writeFile(file, text);
  return file;
}

test('configs/aptos.yaml parses to the reference recipe; flags override it', async () => {
  const file = path.resolve(import.meta.dirname, '..', '..', 'configs', 'aptos.yaml');
  const cfg = resolveTrainConfig(await readConfigFile(file), { img_size: 224, epochs: 3 });
  assert.equal(cfg.model_name, 'efficientnet_b0');
  assert.equal(cfg.img_size, 224);
  assert.equal(cfg.epochs, 3);
  assert.equal(cfg.batch_size, 32);
  assert.equal(cfg.lr, 3e-4);
  assert.equal(cfg.weight_decay, 1e-4);
  assert.equal(cfg.seed, 42);
  assert.equal(cfg.fix_specificity, 0.95);
  assert.equal(cfg.use_clahe, true);
  // Defaults fill what the file does not say.
  assert.equal(cfg.augment.hflip, 0.5);
  assert.equal(cfg.pos_weight, null);
});

test('every config in configs/ is valid; the ablation differs from the real run only in preprocessing', async () => {
  const dir = path.resolve(import.meta.dirname, '..', '..', 'configs');
  const parsed = new Map<string, ReturnType<typeof resolveTrainConfig>>();
  for (const f of await fsp.readdir(dir)) if (f.endsWith('.yaml')) parsed.set(f, resolveTrainConfig(await readConfigFile(path.join(dir, f)), {}));
  const real = parsed.get('aptos224-scratch.yaml');
  const ablation = parsed.get('aptos224-scratch-nopreprocess.yaml');
  assert.ok(real && ablation);
  const differing = Object.keys(real).filter((k) => JSON.stringify(real[k as keyof typeof real]) !== JSON.stringify(ablation[k as keyof typeof ablation]));
  assert.deepEqual(differing.sort(), ['run_name', 'use_circular_mask', 'use_clahe', 'use_crop', 'use_green']);
  // APTOS-224 holds square resizes: its packages squash every photograph the same way; the full-size recipe keeps the aspect.
  for (const [f, cfg] of parsed) assert.equal(preprocessConfigOf(cfg).squash, f.startsWith('aptos224-'), f);
});

test('a bad config names the file and the key, in one line', async () => {
  const unknown = await write('a.yaml', 'img_size: 224\nlearning_rate: 0.1\n');
  await assert.rejects(readConfigFile(unknown), (e: Error) => e.message === `${unknown}: unknown key 'learning_rate'`);
  const wrongType = await write('b.yaml', 'img_size: big\n');
  await assert.rejects(readConfigFile(wrongType), (e: Error) => e.message.startsWith(`${wrongType}: key 'img_size': `) && !e.message.includes('\n'));
  const nested = await write('c.yaml', 'augment:\n  rotate: 400\n');
  await assert.rejects(readConfigFile(nested), new RegExp(`: ${nested.replace(/[.]/g, '\\.')}: key 'augment\\.rotate': `));
  const broken = await write('d.yaml', 'img_size: [1, 2\n');
  await assert.rejects(readConfigFile(broken), new RegExp(`: ${broken.replace(/[.]/g, '\\.')}:\\d+: not valid YAML`));
  const list = await write('e.yaml', '- 1\n- 2\n');
  await assert.rejects(readConfigFile(list), /a training config must be a mapping/);
  await assert.rejects(readConfigFile('/nonexistent/x.yaml'), /\/nonexistent\/x\.yaml: training config not found/);
  assert.throws(() => resolveTrainConfig({ batch_size: 32 }, { micro_batch_size: 12 }), /command line: batch_size 32 must be a multiple of micro_batch_size 12/);
  assert.throws(() => resolveTrainConfig({}, { lr: -1 }), /command line: key 'lr': /);
  assert.throws(() => resolveTrainConfig({}, { grade_head: 'poisson' as never }), /command line: key 'grade_head': .*"softmax"\|"ordinal"/);
  assert.equal(resolveTrainConfig({}, {}).grade_head, 'softmax');
});

test('learning rate: linear warm-up then cosine to min_lr (timm CosineLRScheduler, per step)', () => {
  const s = { baseLr: 1e-3, minLr: 1e-5, warmupSteps: 4, totalSteps: 14 };
  assert.equal(learningRateAt(s, 0), 2.5e-4);
  assert.equal(learningRateAt(s, 3), 1e-3);
  assert.equal(learningRateAt(s, 4), 1e-3);
  // Halfway through the cosine part: (base + min) / 2.
  assert.ok(Math.abs(learningRateAt(s, 9) - (1e-3 + 1e-5) / 2) < 1e-15);
  assert.ok(Math.abs(learningRateAt(s, 14) - 1e-5) < 1e-15);
  assert.equal(learningRateAt({ ...s, warmupSteps: 0 }, 0), 1e-3);
});
