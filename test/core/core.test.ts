import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, decodeImage, encodePng, DrXaiError } from '../../src/core/index.ts';
import sharp from 'sharp';

test('Rng is reproducible and its state round-trips', () => {
  const a = new Rng(42);
  const first = [a.next(), a.next(), a.next()];
  const b = new Rng(42);
  assert.deepEqual([b.next(), b.next(), b.next()], first);
  const s = a.getState();
  const x = a.next();
  a.setState(s);
  assert.equal(a.next(), x);
  // mulberry32(42) first output, checked against an independent Python transcription of the algorithm.
  assert.equal(Math.round(first[0] * 4294967296), 2581720956);
});

test('decodeImage round-trips a PNG and rejects bad input with a named file', async () => {
  const img = { width: 3, height: 2, channels: 3 as const, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]) };
  const back = await decodeImage(await encodePng(img), 'x.png');
  assert.deepEqual(back, img);
  const plane = { width: 2, height: 2, channels: 1 as const, data: new Uint8Array([0, 255, 7, 0]) };
  const planePng = await encodePng(plane);
  assert.equal((await sharp(planePng).metadata()).channels, 1);
  assert.deepEqual(new Uint8Array(await sharp(planePng).extractChannel(0).raw().toBuffer()), plane.data);
  await assert.rejects(decodeImage(new Uint8Array(0), 'empty.png'), /empty.png: empty file/);
  await assert.rejects(decodeImage(Buffer.from('hello, not an image'), 'a.png'), /a.png: not a recognised image/);
  const grey = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000000" } }).toColourspace("b-w").png().toBuffer();
  await assert.rejects(decodeImage(grey, 'g.png'), /greyscale/);
  const png16 = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000000" } }).toColourspace('rgb16').png().toBuffer();
  await assert.rejects(decodeImage(png16, 'd.png'), /bit depth/);
  const jpg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 10, b: 10 } } }).jpeg().toBuffer();
  await assert.rejects(decodeImage(jpg.subarray(0, jpg.length >> 1), 't.jpg'), (e: unknown) => e instanceof DrXaiError && /^t\.jpg: corrupt or truncated JPEG$/.test(e.message));
  await assert.rejects(decodeImage(jpg, 'big.jpg', { maxPixels: 100 }), /too large/);
  // Each kind of bad input is tagged, so callers (the HTTP API) need not parse the wording.
  const kindOf = (p: Promise<unknown>) => p.then(() => 'none', (e: DrXaiError) => e.kind);
  assert.equal(await kindOf(decodeImage(new Uint8Array(0), 'e')), 'empty');
  assert.equal(await kindOf(decodeImage(Buffer.from('text'), 't')), 'not-an-image');
  assert.equal(await kindOf(decodeImage(grey, 'g')), 'greyscale');
  assert.equal(await kindOf(decodeImage(png16, 'd')), 'unsupported-depth');
  assert.equal(await kindOf(decodeImage(jpg.subarray(0, jpg.length >> 1), 't')), 'corrupt');
  assert.equal(await kindOf(decodeImage(jpg, 'b', { maxPixels: 100 })), 'too-large');
});

test('toCsv quotes only where RFC 4180 needs it and round-trips through csv-parse', async () => {
  const { toCsv } = await import('../../src/core/index.ts');
  const { parse } = await import('csv-parse/sync');
  const rows = [['a,b', 1.5, null], [' padded', true, 'say "hi"'], ['plain', undefined, 0]];
  const text = toCsv(['x', 'y', 'z'], rows, { nullAs: 'NA' });
  assert.equal(text, 'x,y,z\n"a,b",1.5,NA\n" padded",true,"say ""hi"""\nplain,NA,0\n');
  assert.deepEqual(parse(text, { columns: true }), [
    { x: 'a,b', y: '1.5', z: 'NA' },
    { x: ' padded', y: 'true', z: 'say "hi"' },
    { x: 'plain', y: 'NA', z: '0' },
  ]);
});

test('decodeImage: a fully opaque RGBA photo is accepted (alpha dropped), one transparent pixel is refused', async () => {
  const rgb = Buffer.alloc(16 * 16 * 3, 0);
  for (let i = 0; i < rgb.length; i += 3) rgb[i] = 10; // red channel low: the old check read red as alpha
  const rgba = Buffer.alloc(16 * 16 * 4);
  for (let i = 0; i < 256; i++) {
    rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = 255;
  }
  const opaque = await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } }).png().toBuffer();
  const img = await decodeImage(opaque, 'opaque.png');
  assert.equal(img.channels, 3);
  assert.deepEqual(Array.from(img.data.subarray(0, 6)), [10, 0, 0, 10, 0, 0]);
  rgba[4 * 37 + 3] = 254;
  const holed = await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } }).png().toBuffer();
  await assert.rejects(decodeImage(holed, 'holed.png'), /holed\.png: image has transparent pixels/);
});
