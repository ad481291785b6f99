import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { DISCLAIMER } from '../../src/core/disclaimer.ts';
import { decodeImage } from '../../src/core/index.ts';
import { CamExplainer, REFERABLE_TARGET } from '../../src/explain/index.ts';
import { ExplainResponse, HealthResponse, ModelResponse, ScreenResponse } from '../../src/serve/index.ts';
import { preprocessFundus } from '../../src/preprocess/index.ts';
import { multipart, phantomPng, smallModel, SMALL_MODEL, testServer } from './helpers.ts';

describe('screening API', () => {
  let app: FastifyInstance;
  let png: Buffer;
  const logLines: string[] = [];
  before(async () => {
    app = await testServer({ logLevel: 'info', logStream: { write: (line: string) => void logLines.push(line) }, limits: { workers: 2 } });
    png = await phantomPng(11, 256, 3);
  });
  after(() => app.close());

  test('POST /v1/screen gives the library pipeline\'s probability and the decision at the stored threshold', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/screen', payload: png, headers: { 'content-type': 'image/png' } });
    assert.equal(res.statusCode, 200, res.body);
    const body = ScreenResponse.parse(res.json());
    const model = await smallModel();
    const img = await decodeImage(png, 'ref');
    const pre = preprocessFundus(img, { ...model.info.preprocess, size: model.info.input.size });
    const expected = (await model.predict([pre.image])).probability[0];
    assert.equal(body.probability, expected);
    assert.equal(body.gradable, pre.quality.gradable);
    assert.equal(body.gradable, true);
    assert.equal(body.threshold, 0.5);
    assert.equal(body.referable, expected >= 0.5);
    assert.deepEqual(body.image, { format: 'png', width: 256, height: 256 });
    assert.equal(body.model.name, 'serve_test_small');
    assert.equal(body.model.inputSize, 128);
    assert.equal(body.disclaimer, DISCLAIMER);
    assert.equal(res.headers['x-request-id'], body.requestId);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.ok(body.timings.totalMs >= body.timings.decodeMs + body.timings.preprocessMs + body.timings.inferMs - 1e-6);
  });

  test('the Content-Type header and multipart wrapping do not change the result', async () => {
    const raw = (await app.inject({ method: 'POST', url: '/v1/screen', payload: png, headers: { 'content-type': 'application/json' } })).json();
    const form = multipart(png, 'scan.jpg', 'text/plain');
    const viaForm = await app.inject({ method: 'POST', url: '/v1/screen', payload: form.body, headers: { 'content-type': form.contentType } });
    assert.equal(viaForm.statusCode, 200, viaForm.body);
    assert.equal(viaForm.json().probability, raw.probability);
    const noType = await app.inject({ method: 'POST', url: '/v1/screen', payload: png, headers: { 'content-type': undefined as unknown as string } });
    assert.equal(noType.statusCode, 200, noType.body);
    assert.equal(noType.json().probability, raw.probability);
  });

  test('POST /v1/explain adds the preprocessed image, steps and a heat map field', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/explain?steps=1', payload: png });
    assert.equal(res.statusCode, 200, res.body);
    const body = ExplainResponse.parse(res.json());
    const screen = (await app.inject({ method: 'POST', url: '/v1/screen', payload: png })).json();
    assert.equal(body.probability, screen.probability);
    const model = await smallModel();
    const pre = preprocessFundus(await decodeImage(png, 'ref'), { ...model.info.preprocess, size: model.info.input.size });
    const prePng = await sharp(Buffer.from(body.preprocessed!.split(',')[1], 'base64')).metadata();
    assert.deepEqual([prePng.width, prePng.height, prePng.channels], [128, 128, 3]);
    assert.ok(body.steps?.mask && body.steps.cropped && body.steps.clahe && body.steps.green && body.steps.original);
    // The heat map is src/explain's Grad-CAM++ of the same image, as an 8-bit PNG.
    assert.equal(body.heatmap?.method, 'gradcam++');
    const mapPng = Buffer.from(body.heatmap!.map.split(',')[1], 'base64');
    assert.equal((await sharp(mapPng).metadata()).channels, 1);
    const map = await sharp(mapPng).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([map.info.width, map.info.height, map.info.channels], [128, 128, 1]);
    const explainer = await CamExplainer.create(model, { method: 'gradcam++' });
    const [reference] = await explainer.attribute([pre.image], { target: REFERABLE_TARGET });
    for (let i = 0; i < reference.map.length; i++) assert.ok(Math.abs(map.data[i] - Math.round(reference.map[i] * 255)) <= 1, `pixel ${i}`);
    assert.ok(Math.max(...map.data) === 255, 'map is normalised to [0,1]');
    const noSteps = ExplainResponse.parse((await app.inject({ method: 'POST', url: '/v1/explain', payload: png })).json());
    assert.equal(noSteps.steps, null);
  });

  test('an ungradable photograph gets referable = null, never a negative', async () => {
    // Heavy blur: a retina is found, the quality gate rejects it.
    const blurred = await sharp(png).blur(12).png().toBuffer();
    const res = ScreenResponse.parse((await app.inject({ method: 'POST', url: '/v1/screen', payload: blurred })).json());
    assert.equal(res.gradable, false);
    assert.equal(res.referable, null);
    assert.ok(res.reasons.some((r) => r.startsWith('blurred')), res.reasons.join('; '));
    assert.equal(typeof res.probability, 'number');
    // All black: no retina at all, nothing to score.
    const black = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000' } }).png().toBuffer();
    const none = ScreenResponse.parse((await app.inject({ method: 'POST', url: '/v1/screen', payload: black })).json());
    assert.equal(none.gradable, false);
    assert.equal(none.referable, null);
    assert.equal(none.probability, null);
    assert.match(none.reasons.join(' '), /retina/);
  });

  test('GET /healthz, /v1/model, /v1/model/onnx, /openapi.json', async () => {
    HealthResponse.parse((await app.inject('/healthz')).json());
    const model = ModelResponse.parse((await app.inject('/v1/model')).json());
    assert.equal(model.input.size, 128);
    assert.equal(model.limits.maxBodyBytes, 20 * 1024 * 1024);
    assert.equal(model.limits.maxPixels, 50_000_000);
    const onnx = await app.inject(model.onnxUrl);
    assert.deepEqual(onnx.rawPayload, readFileSync(SMALL_MODEL));
    const doc = (await app.inject('/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/v1/screen', '/v1/explain', '/v1/model', '/v1/model/onnx', '/healthz', '/openapi.json']) assert.ok(doc.paths[p], p);
    assert.deepEqual(Object.keys(doc.paths['/v1/screen'].post.responses).sort(), ['200', '400', '413', '415', '503', '504']);
    assert.ok(doc.components.schemas.ScreenResponse.properties.referable);
  });

  test('CORS is closed by default', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/model', headers: { origin: 'https://evil.example' } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  test('logs carry request ids, sizes and timings, never the upload, its name or the query', async () => {
    const secret = 'PATIENT-Jane-Doe-1970';
    const form = multipart(png, `${secret}.png`, 'image/png');
    const res = await app.inject({ method: 'POST', url: `/v1/screen?mrn=${secret}`, payload: form.body, headers: { 'content-type': form.contentType } });
    assert.equal(res.statusCode, 200);
    const id = res.json().requestId;
    const mine = logLines.filter((l) => l.includes(id));
    assert.ok(mine.some((l) => /"msg":"screened"/.test(l) && /"bytes":\d+/.test(l) && /"totalMs"/.test(l)), mine.join('\n'));
    const all = logLines.join('\n');
    assert.ok(!all.includes(secret), 'a file name or query reached the log');
    assert.ok(!all.includes(png.subarray(100, 160).toString('base64')), 'upload bytes reached the log');
  });
});

describe('server limits and isolation', () => {
  test('CORS opens only for the configured origin', async () => {
    const app = await testServer({ corsOrigin: 'https://clinic.example' });
    try {
      const ok = await app.inject({ method: 'GET', url: '/v1/model', headers: { origin: 'https://clinic.example' } });
      assert.equal(ok.headers['access-control-allow-origin'], 'https://clinic.example');
      const other = await app.inject({ method: 'GET', url: '/v1/model', headers: { origin: 'https://evil.example' } });
      assert.notEqual(other.headers['access-control-allow-origin'], 'https://evil.example');
    } finally {
      await app.close();
    }
  });

  test('static files: no listing, no path traversal, no dotfiles; missing page is a clear 503', async () => {
    const web = mkdtempSync(path.join(os.tmpdir(), 'drxai-web-'));
    writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>t</title>');
    mkdirSync(path.join(web, 'assets'));
    writeFileSync(path.join(web, 'assets', 'a.js'), 'x');
    writeFileSync(path.join(web, '.secret'), 'nope');
    const app = await testServer({ webRoot: web });
    try {
      const index = await app.inject('/');
      assert.equal(index.statusCode, 200);
      assert.match(index.headers['content-security-policy'] as string, /default-src 'self'/);
      // Cross-origin isolation, so the page's ONNX Runtime Web may use threads (SharedArrayBuffer).
      assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(index.headers['cross-origin-embedder-policy'], 'require-corp');
      const wasm = await app.inject('/ort/ort-wasm-simd-threaded.wasm');
      assert.equal(wasm.headers['cross-origin-resource-policy'], 'same-origin');
      assert.equal((await app.inject('/assets/a.js')).statusCode, 200);
      for (const url of ['/assets/', '/../package.json', '/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/.secret', '/ort/../package.json', '/ort/ort.node.min.mjs']) {
        const res = await app.inject(url);
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url} -> ${res.statusCode}`);
        assert.ok(!res.body.includes('"name": "dr-xai"') && !res.body.includes('a.js') && !res.body.includes('nope'), url);
      }
      assert.equal((await app.inject('/ort/ort-wasm-simd-threaded.wasm')).statusCode, 200);
    } finally {
      await app.close();
    }
    const embeddable = await testServer({ webRoot: web, crossOriginIsolation: false });
    try {
      const res = await embeddable.inject('/');
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cross-origin-embedder-policy'], undefined);
    } finally {
      await embeddable.close();
    }
    const bare = await testServer();
    try {
      const res = await bare.inject('/');
      assert.equal(res.statusCode, 503);
      assert.match(res.body, /npm run build:web/);
    } finally {
      await bare.close();
    }
  });

  test('a full queue answers 503 with Retry-After at once; a slow screening times out with 504; the server stays healthy', async () => {
    // A plain 1500x1500 retina-like disc: quick to make, ~1-2 s of preprocessing on one core.
    const big = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1500" height="1500"><rect width="1500" height="1500"/><circle cx="750" cy="750" r="700" fill="#c0602a"/></svg>')).removeAlpha().png({ compressionLevel: 1 }).toBuffer();
    const small = await phantomPng(6, 192, 0);
    const app = await testServer({ limits: { workers: 1, maxQueue: 0, requestTimeoutMs: 20_000 } });
    try {
      await app.inject({ method: 'POST', url: '/v1/screen', payload: small }); // warm the worker
      const [a, b, c] = await Promise.all([0, 1, 2].map(() => app.inject({ method: 'POST', url: '/v1/screen', payload: big })));
      const codes = [a, b, c].map((r) => r.statusCode).sort();
      assert.deepEqual(codes, [200, 503, 503]);
      const busy = [a, b, c].find((r) => r.statusCode === 503)!;
      assert.equal(busy.headers['retry-after'], '1');
      assert.match(busy.json().message, /queue is full/);
    } finally {
      await app.close();
    }
    // 42 megapixels of PNG (under the 50 MP limit; PNG has no shrink-on-load) is several seconds
    // of preprocessing on one core, far past the 1 s limit: 9 MP took only ~0.8 s once the
    // pipeline was optimised, too close to the limit to test a timeout with.
    const huge = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="6500" height="6500"><rect width="6500" height="6500"/><circle cx="3250" cy="3250" r="3100" fill="#c0602a"/></svg>')).removeAlpha().png({ compressionLevel: 1 }).toBuffer();
    const slow = await testServer({ limits: { workers: 1, requestTimeoutMs: 1000 } });
    try {
      await slow.inject({ method: 'POST', url: '/v1/screen', payload: small });
      const t0 = performance.now();
      const res = await slow.inject({ method: 'POST', url: '/v1/screen', payload: huge });
      assert.equal(res.statusCode, 504, res.body);
      assert.match(res.json().message, /did not finish within 1000 ms/);
      assert.ok(performance.now() - t0 < 2500);
      assert.equal((await slow.inject('/healthz')).statusCode, 200);
      // The timed-out task stops at its next stage boundary; its slot is busy until then, after
      // which the same server screens normally again.
      let again = await slow.inject({ method: 'POST', url: '/v1/screen', payload: small });
      for (let tries = 0; again.statusCode !== 200 && tries < 80; tries++) {
        await new Promise((r) => setTimeout(r, 500));
        again = await slow.inject({ method: 'POST', url: '/v1/screen', payload: small });
      }
      assert.equal(again.statusCode, 200, again.body);
    } finally {
      await slow.close();
    }
  });

  test('uploads are never written to disk', async () => {
    // The server and its workers get an empty temporary folder of their own; it must stay empty.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'drxai-tmp-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const app = await testServer();
    try {
      assert.equal(os.tmpdir(), tmp);
      const form = multipart(await phantomPng(3, 200), 'x.png');
      for (const url of ['/v1/screen', '/v1/explain?steps=1']) {
        const res = await app.inject({ method: 'POST', url, payload: form.body, headers: { 'content-type': form.contentType } });
        assert.equal(res.statusCode, 200);
      }
      // tsx-N is tsx's cache of compiled TypeScript, made when the workers load, not uploads.
      assert.deepEqual(readdirSync(tmp).filter((f) => !/^tsx-\d+$/.test(f)), []);
    } finally {
      await app.close();
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});
