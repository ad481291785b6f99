/**
 * A corpus of bad uploads, generated here (nothing big is committed; the PNG generators are the
 * hostile corpus's, scripts/hostile-corpus.ts), each answered with the right 4xx and a message
 * naming the problem; the server stays healthy after all of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { ErrorResponse } from '../../src/serve/index.ts';
import { multipart, phantomJpeg, phantomPng, testServer } from './helpers.ts';
import { bombPng, hugeHeaderPng } from '../../scripts/hostile-corpus.ts';

describe('bad-input corpus', () => {
  let app: FastifyInstance;
  let good: Buffer;
  before(async () => {
    app = await testServer({ limits: { workers: 1, maxBodyBytes: 4 * 1024 * 1024 } });
    good = await phantomPng(21, 256);
  });
  after(() => app.close());

  async function post(payload: Buffer, asForm?: string) {
    const form = asForm ? multipart(payload, asForm, 'image/png') : undefined;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/screen',
      payload: form ? form.body : payload,
      headers: { 'content-type': form ? form.contentType : 'image/png' },
    });
    return { status: res.statusCode, body: res.statusCode === 200 ? res.json() : ErrorResponse.parse(res.json()) };
  }

  const cases: Array<[string, () => Promise<Buffer>, number, RegExp, string?]> = [
    ['zero bytes', async () => Buffer.alloc(0), 400, /empty upload/],
    ['text file named .png', async () => Buffer.from('this is not an image\n'.repeat(20)), 415, /not a recognised image/, 'scan.png'],
    ['HTML posing as an image', async () => Buffer.from('<html><script>alert(1)</script></html>'), 415, /not a recognised image/],
    ['truncated JPEG', async () => (await phantomJpeg(4, 256)).subarray(0, 3000), 400, /corrupt|truncated/],
    ['PNG with a corrupted body', async () => { const b = Buffer.from(good); b.fill(0x5a, 200, 400); return b; }, 400, /corrupt|truncated/],
    ['PNG decompression bomb 20000x20000', async () => bombPng(20000, 20000), 413, /image too large: 20000x20000/],
    ['header claiming 100000x100000', async () => hugeHeaderPng(100_000, 100_000), 413, /image too large/],
    // The padded square is what costs memory (issue: 40000x1000 crashed cropAndPad, 1x40,000,000 took 7 GB).
    ['40000x1000 (pads to 1.6 gigapixels)', async () => hugeHeaderPng(40_000, 1000), 413, /implausible size for a fundus photograph: 40000x1000/],
    ['49,000,000x1', async () => hugeHeaderPng(49_000_000, 1), 413, /implausible size/],
    ['1x40,000,000', async () => hugeHeaderPng(1, 40_000_000), 413, /implausible size/],
    ['8000x6000 JPEG claimed, 4:3 but over the padded limit', async () => hugeHeaderPng(8000, 6000), 413, /pads to a 8000x8000 square = 64\.0 megapixels/],
    ['16-bit PNG', async () => sharp(good).toColourspace('rgb16').png().toBuffer(), 415, /bit depth/],
    ['greyscale PNG', async () => sharp(good).toColourspace('b-w').png().toBuffer(), 415, /greyscale/],
    ['PNG with transparency', async () => sharp(good).ensureAlpha(0.5).png().toBuffer(), 415, /transparent/],
    ['body over the byte limit (raw)', async () => Buffer.concat([good, Buffer.alloc(5 * 1024 * 1024)]), 413, /larger than the limit/],
    ['body over the byte limit (multipart)', async () => Buffer.concat([good, Buffer.alloc(5 * 1024 * 1024)]), 413, /larger than the limit/, 'big.png'],
  ];

  for (const [name, make, status, message, asForm] of cases) {
    test(`${name} -> ${status}`, async () => {
      const bytes = await make();
      const res = await post(bytes, asForm);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(res.body.message, message);
    });
  }

  test('the bomb is small on disk and refused from its header', async () => {
    const bomb = bombPng(20000, 20000);
    assert.ok(bomb.length < 200_000, `${bomb.length} bytes`);
    const t0 = performance.now();
    assert.equal((await post(bomb)).status, 413);
    assert.ok(performance.now() - t0 < 2000);
  });

  test('hostile requests: foreign Host, multipart without a boundary or cut short, too many fields', async () => {
    const rebinding = await app.inject({ method: 'POST', url: '/v1/screen', payload: good, headers: { host: 'evil.example:8080', 'content-type': 'image/png' } });
    assert.equal(rebinding.statusCode, 421);
    assert.match(ErrorResponse.parse(rebinding.json()).message, /does not answer for host 'evil\.example'/);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz', headers: { host: '127.0.0.1:9' } })).statusCode, 200);
    const noBoundary = await app.inject({ method: 'POST', url: '/v1/screen', payload: 'x', headers: { 'content-type': 'multipart/form-data' } });
    assert.equal(noBoundary.statusCode, 400, noBoundary.body);
    assert.match(ErrorResponse.parse(noBoundary.json()).message, /multipart/i);
    const form = multipart(good, 'p.png', 'image/png');
    const cut = await app.inject({ method: 'POST', url: '/v1/screen', payload: form.body.subarray(0, form.body.length - 200), headers: { 'content-type': form.contentType } });
    assert.equal(cut.statusCode, 400, cut.body);
    const boundary = '----drxaifields';
    const fields = Array.from({ length: 100 }, (_, i) => `--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`).join('');
    const many = await app.inject({ method: 'POST', url: '/v1/screen', payload: `${fields}--${boundary}--\r\n`, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    assert.equal(many.statusCode, 413, many.body);
    assert.match(ErrorResponse.parse(many.json()).message, /too many multipart parts/);
  });

  test('the server is still healthy and screens a good image after the corpus', async () => {
    assert.equal((await app.inject('/healthz')).statusCode, 200);
    const res = await post(good);
    assert.equal(res.status, 200);
    assert.equal(typeof res.body.probability, 'number');
  });
});
