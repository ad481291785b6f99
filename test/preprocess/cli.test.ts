// `dr-xai preprocess` end to end on a generated folder with a corpus of bad inputs, run twice
// (the second run must come entirely from the cache).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, rmSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { parse } from 'csv-parse/sync';
import { FIXTURES } from './fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
/** A PNG that claims width x height with almost no pixel data (the size check reads only the header). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

function run(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'preprocess', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('dr-xai preprocess: good images processed, bad ones reported by name, second run all cached', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drxai-pp-'));
  try {
    const data = path.join(dir, 'data');
    const out = path.join(dir, 'out');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data);
    const good = ['small', 'wide', 'odd'];
    for (const g of good) copyFileSync(path.join(FIXTURES, `${g}_in.png`), path.join(data, `${g}.png`));
    // a JPEG too (the shrink-on-load path is skipped at this size, decodeImage is used)
    await sharp(path.join(FIXTURES, 'cut_in.png')).jpeg({ quality: 95 }).toFile(path.join(data, 'cut.jpg'));
    const bad: Record<string, RegExp> = {
      'zero.png': /empty file/,
      'text.png': /not a recognised image/,
      'truncated.jpg': /corrupt/,
      'grey.png': /greyscale/,
      'deep.png': /bit depth/,
      'alpha.png': /transparent/,
      'black.png': /no retina found/,
      'huge.png': /too large/,
    };
    writeFileSync(path.join(data, 'zero.png'), '');
    writeFileSync(path.join(data, 'text.png'), 'hello, I am not a picture\n');
    const jpg = readFileSync(path.join(data, 'cut.jpg'));
    writeFileSync(path.join(data, 'truncated.jpg'), jpg.subarray(0, jpg.length >> 1));
    await sharp(path.join(FIXTURES, 'wide_in.png')).toColourspace('b-w').png().toFile(path.join(data, 'grey.png'));
    await sharp(path.join(FIXTURES, 'wide_in.png')).toColourspace('rgb16').png().toFile(path.join(data, 'deep.png'));
    await sharp(path.join(FIXTURES, 'wide_in.png')).ensureAlpha(0.5).png().toFile(path.join(data, 'alpha.png'));
    await sharp({ create: { width: 80, height: 60, channels: 3, background: '#000' } }).png().toFile(path.join(data, 'black.png'));
    writeFileSync(path.join(data, 'huge.png'), pngHeaderOnly(12000, 9000));

    const first = run(['--data', data, '--format', 'folder', '--out', out, '--size', '96', '--jobs', '2', '--quiet']);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stdout, /12 images .*: 4 processed, 0 from cache, 8 failed/);
    for (const [name, why] of Object.entries(bad)) {
      const line = first.stderr.split('\n').find((l) => l.includes(path.join(data, name)));
      assert.ok(line, `${name} not reported:\n${first.stderr}`);
      assert.match(line!, why, `${name}: ${line}`);
    }
    const rows = parse(readFileSync(path.join(out, 'manifest.csv')), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 12);
    for (const g of [...good, 'cut']) {
      const row = rows.find((r) => r.id === g)!;
      assert.equal(row.status, 'ok');
      assert.equal(row.output, path.join(out, `${g}.png`));
      const meta = await sharp(row.output).metadata();
      assert.equal(meta.width, 96);
      assert.equal(meta.height, 96);
      assert.equal(row.retina_found, '1');
    }
    assert.equal(rows.find((r) => r.id === 'black')!.reasons, 'no retina found');
    assert.equal(existsSync(path.join(out, 'zero.png')), false, 'nothing written for a failed image');
    const info = JSON.parse(readFileSync(path.join(out, 'preprocess.json'), 'utf8'));
    assert.equal(info.config.size, 96);
    assert.equal(info.failed, 8);
    assert.ok(info.versions.sharp && info.codeVersion);

    const before = statSync(path.join(out, 'wide.png')).size;
    const bytes = readFileSync(path.join(out, 'wide.png'));
    const second = run(['--data', data, '--format', 'folder', '--out', out, '--size', '96', '--jobs', '1', '--quiet']);
    assert.equal(second.code, 1);
    assert.match(second.stdout, /0 processed, 4 from cache, 8 failed/);
    assert.equal(statSync(path.join(out, 'wide.png')).size, before);
    assert.deepEqual(readFileSync(path.join(out, 'wide.png')), bytes);
    // another setting is another cache key
    const third = run(['--data', data, '--format', 'folder', '--out', out, '--size', '64', '--no-green', '--quiet']);
    assert.match(third.stdout, /4 processed, 0 from cache/);
    // a whole-run problem is one line and exit 1
    const missing = run(['--data', path.join(dir, 'nope'), '--out', out, '--quiet']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^dr-xai: error: .*nope.*not found\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
