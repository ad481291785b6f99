/**
 * End-to-end: the built page in real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; no browser download) against a real listening server. Screenshots go to
 * artifacts/serve/ for a person to look at. Skips, saying so, where Chromium is absent.
 *
 * Browser path vs server path: both run the same TypeScript preprocessing on the same decoded
 * pixels (PNG is lossless and carries no colour profile here, so createImageBitmap with
 * colorSpaceConversion 'none' and libvips give identical RGB), so the network input must be
 * bit-identical; the network then runs in ONNX Runtime Web (WASM) vs ONNX Runtime's native CPU
 * kernels, which differ only in float32 summation order: |dp| <= 1e-5 allows ~100x the float32
 * rounding of a logit of this size while still catching any preprocessing difference (one grey
 * level anywhere in the input moves p by far more, checked below).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { DISCLAIMER } from '../../src/core/disclaimer.ts';
import { DEFAULT_WEB_ROOT } from '../../src/serve/index.ts';
import { phantomJpeg, phantomPng, ROOT, smallModel } from './helpers.ts';
import { MODELS_DIR } from '../../src/models/index.ts';
import { createServer } from '../../src/serve/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = path.join(ROOT, 'artifacts', 'serve');
const PROBABILITY_TOLERANCE = 1e-5;
const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (apt-get install -y chromium); end-to-end page tests skipped`;
if (skip) console.log(`# ${skip}`);

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true })) newest = Math.max(newest, statSync(path.join(dir, String(f))).mtimeMs);
  return newest;
}
function pageIsStale(): boolean {
  const built = path.join(DEFAULT_WEB_ROOT, 'index.html');
  if (!existsSync(built)) return true;
  const sources = Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'web', 'src')), statSync(path.join(ROOT, 'web', 'index.html')).mtimeMs);
  return sources > statSync(built).mtimeMs;
}

describe('screening page in headless Chromium', { skip }, () => {
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let png: Buffer;

  before(async () => {
    // The page bundles src/preprocess at build time: rebuild when any source is newer than the
    // build, or the browser would run yesterday's preprocessing.
    if (pageIsStale()) {
      const built = spawnSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'inherit' });
      assert.equal(built.status, 0, 'npm run build:web failed');
    }
    mkdirSync(SHOTS, { recursive: true });
    app = await createServer({ model: await smallModel(), limits: { workers: 1 } });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    png = await phantomPng(42, 384, 3);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  async function apiExplain(bytes: Buffer, query = '') {
    const res = await fetch(`${base}/v1/explain${query}`, { method: 'POST', body: new Uint8Array(bytes) });
    assert.equal(res.status, 200);
    return res.json();
  }

  async function openPage(width: number, height: number): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => / model .* \(\d+×\d+\)/.test(document.getElementById('model')?.textContent ?? ''));
    (page as unknown as { errors: string[] }).errors = errors;
    return page;
  }

  async function dropFile(page: Page, name: string, bytes: Buffer): Promise<void> {
    const before = await page.evaluate(() => (window as any).drxai.done as number);
    await page.evaluate(async ({ name, b64 }) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], name, { type: 'image/png' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, { name, b64: bytes.toString('base64') });
    await page.waitForFunction((n) => (window as any).drxai.done > n, before, { timeout: 60_000 });
  }

  test('browser mode (1280x800): dropped photo screened in WASM matches the API; server mode shows the same number and the heat map', async () => {
    const page = await openPage(1280, 800);
    await dropFile(page, 'phantom-42.png', png);
    const local = await page.evaluate(() => (window as any).drxai.last);
    const api = await apiExplain(png);
    assert.equal(local.where, 'browser');
    // The server's COOP/COEP headers make the page cross-origin isolated: WASM on several threads.
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
    // Network input: bit-identical to the server's preprocessed image.
    const serverPre = await sharp(Buffer.from(api.preprocessed.split(',')[1], 'base64')).raw().toBuffer();
    assert.equal(local.preprocessed.length, serverPre.length);
    let differing = 0;
    for (let i = 0; i < serverPre.length; i++) if (local.preprocessed[i] !== serverPre[i]) differing++;
    assert.equal(differing, 0, `${differing} preprocessed values differ between browser and server`);
    const dp = Math.abs(local.probability - api.probability);
    console.log(`# browser (onnxruntime-web WASM) vs server (onnxruntime-node): p = ${local.probability} vs ${api.probability}, |dp| = ${dp.toExponential(2)}`);
    assert.ok(dp <= PROBABILITY_TOLERANCE, `|dp| = ${dp}`);
    assert.equal(local.referable, api.referable);
    // The heat map: the browser runs the explanation graph and the server's CAM code (closed form
    // on the server for this head layer, autodiff in the browser): the same map to rounding.
    const serverMap = await sharp(Buffer.from(api.heatmap.map.split(',')[1], 'base64')).extractChannel(0).raw().toBuffer();
    assert.equal(local.heatmap.length, serverMap.length);
    let worst = 0;
    for (let i = 0; i < serverMap.length; i++) worst = Math.max(worst, Math.abs(local.heatmap[i] * 255 - serverMap[i]));
    console.log(`# heat map browser vs server: max |diff| = ${worst.toFixed(3)} grey levels of 255`);
    assert.ok(worst <= 1, `heat maps differ by ${worst} grey levels`);
    assert.match((await page.locator('#img-heat').getAttribute('src')) ?? '', /^data:image\/png;base64,/);
    assert.match((await page.locator('#heat-note').textContent()) ?? '', /computed in this browser/);
    assert.equal(await page.getByTestId('decision').textContent(), api.referable ? 'Referable' : 'Not referable');
    assert.equal(await page.getByTestId('probability').textContent(), api.probability.toFixed(3));
    assert.equal(await page.getByTestId('disclaimer').textContent(), DISCLAIMER);
    await page.screenshot({ path: path.join(SHOTS, 'page-1280x800-browser.png'), fullPage: false });

    await page.getByLabel('on the server').check();
    await dropFile(page, 'phantom-42.png', png);
    const remote = await page.evaluate(() => (window as any).drxai.last);
    assert.equal(remote.where, 'server');
    assert.equal(remote.probability, api.probability);
    if (api.heatmap) {
      assert.equal(await page.locator('#img-heat').getAttribute('src'), api.heatmap.heat);
      await page.locator('#opacity').fill('0.8');
      assert.equal(await page.locator('#img-heat').evaluate((el) => (el as HTMLElement).style.opacity), '0.8');
    }
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SHOTS, 'page-1280x800-server.png'), fullPage: true });
    assert.deepEqual((page as unknown as { errors: string[] }).errors, []);
    await page.close();
  });

  test('a large JPEG: the page reduces it to the resolution the server decodes it at (1/8 here) and screens it there, close to the API', async () => {
    // The server shrinks JPEGs in libjpeg's DCT domain (sharp); the browser's decoder cannot, so the
    // page area-averages its full-size decode by the same factor (src/preprocess/shrink.ts). The
    // pixels are then close but not identical, and so are the probabilities. Measured on this
    // photograph (runs in Node, same code): model input 2.5 grey levels from the server's on
    // average, |dp| 2e-4; the page's earlier full-size decode: 39 grey levels, |dp| 7e-3.
    const jpeg = await phantomJpeg(11, 1024);
    const page = await openPage(1280, 800);
    await dropFile(page, 'phantom-1024.jpg', jpeg);
    const local = await page.evaluate(() => (window as any).drxai.last);
    const api = await apiExplain(jpeg, '?steps=1');
    const shownWidth = await page.locator('#img-original').evaluate((el) => (el as HTMLImageElement).naturalWidth);
    const serverWidth = (await sharp(Buffer.from(api.steps.original.split(',')[1], 'base64')).metadata()).width;
    assert.equal(serverWidth, 128, 'the server decodes a 1024 px JPEG at 1/8 for a 128 px model');
    assert.equal(shownWidth, serverWidth, 'the page screens (and shows) the photograph at the same resolution');
    const serverPre = await sharp(Buffer.from(api.preprocessed.split(',')[1], 'base64')).raw().toBuffer();
    let sum = 0;
    for (let i = 0; i < serverPre.length; i++) sum += Math.abs(local.preprocessed[i] - serverPre[i]);
    const dp = Math.abs(local.probability - api.probability);
    console.log(`# 1024 px JPEG, browser vs server: model input differs by ${(sum / serverPre.length).toFixed(2)} grey levels on average; p = ${local.probability} vs ${api.probability}`);
    assert.ok(sum / serverPre.length < 4, `model inputs differ by ${sum / serverPre.length} grey levels on average`);
    assert.ok(dp < 2e-3, `|dp| = ${dp}`);
    assert.deepEqual((page as unknown as { errors: string[] }).errors, []);
    await page.close();
  });

  test('WebGPU: offered only where the browser has an adapter; there the network and the heat map run on it and match the API', async () => {
    const page = await openPage(1280, 800);
    await page.waitForFunction(() => document.readyState === 'complete');
    assert.equal(await page.locator('#gpu-choice').isHidden(), true, 'no WebGPU adapter with --disable-gpu: no GPU choice');
    // Forced anyway, the GPU path fails with its reason rather than running on WASM under the GPU's name.
    await page.evaluate(() => { document.getElementById('gpu-choice')!.hidden = false; });
    await page.check('input[name="mode"][value="gpu"]');
    await dropFile(page, 'phantom-42.png', png);
    assert.match((await page.locator('#status').textContent()) ?? '', /phantom-42\.png: WebGPU could not start in this browser \(.*\); choose "in this browser" to run on the CPU/);
    assert.equal(await page.evaluate(() => (window as any).drxai.last), undefined, 'no result');
    await page.close();
    // Debian's Chromium exposes a WebGPU adapter with --enable-unsafe-webgpu even without a GPU
    // (SwiftShader on the CPU): slow, but the same code path as on a real GPU.
    const gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS.filter((f) => f !== '--disable-gpu').concat('--enable-unsafe-webgpu') });
    try {
      const gpuPage = await gpuBrowser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors: string[] = [];
      gpuPage.on('pageerror', (e) => errors.push(e.message));
      await gpuPage.goto(`${base}/`);
      await gpuPage.locator('#gpu-choice').waitFor({ state: 'visible' });
      await gpuPage.getByLabel('in this browser on the GPU').check();
      (gpuPage as unknown as { errors: string[] }).errors = errors;
      await dropFile(gpuPage, 'phantom-42.png', png);
      const local = await gpuPage.evaluate(() => (window as any).drxai.last);
      const api = await apiExplain(png);
      assert.equal(local.backend, 'webgpu');
      const dp = Math.abs(local.probability - api.probability);
      console.log(`# WebGPU vs server: p = ${local.probability} vs ${api.probability}, |dp| = ${dp.toExponential(2)}`);
      assert.ok(dp <= 1e-4, `|dp| = ${dp}`);
      assert.equal(local.heatmap.length, 128 * 128, 'the heat map, from the explanation graph on WebGPU');
      assert.match((await gpuPage.locator('#heat-note').textContent()) ?? '', /computed in this browser on the GPU/);
      assert.deepEqual(errors, []);
    } finally {
      await gpuBrowser.close();
    }
  });

  test('DICOM in the browser: the same probability as the API; a grade model from the list shows the 5-grade distribution', async () => {
    const dcm = readFileSync(path.join(ROOT, 'test', 'fixtures', 'screening', 'phantom_rgb.dcm'));
    const page = await openPage(1280, 800);
    await dropFile(page, 'phantom_rgb.dcm', dcm);
    const local = await page.evaluate(() => (window as any).drxai.last);
    const api = await apiExplain(dcm);
    assert.ok(Math.abs(local.probability - api.probability) <= PROBABILITY_TOLERANCE, `DICOM: ${local.probability} vs ${api.probability}`);
    assert.equal(await page.getByTestId('grades').isHidden(), true, 'a binary model shows no grade bars');
    await page.close();

    // A server that lists the released models: pick the 5-grade one for the browser mode.
    const catalogApp = await createServer({ model: await smallModel(), limits: { workers: 1 }, catalog: MODELS_DIR });
    const catalogBase = await catalogApp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const list = await (await fetch(`${catalogBase}/v1/models`)).json();
      const grade = list.models.find((m: { task: string; default: boolean }) => m.task === 'grade' && m.default);
      assert.ok(grade, 'the released grade model is listed');
      const p2 = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await p2.goto(`${catalogBase}/`);
      await p2.waitForFunction(() => (document.getElementById('model-select') as HTMLSelectElement).options.length > 1);
      await p2.getByTestId('model-select').selectOption(grade.id);
      // The model line says what its operating point referred of each true grade where it was chosen.
      const pdr = grade.operatingPoint.referralByGrade[4];
      assert.ok(pdr.n > 0, 'the released grade model stores its referral by grade');
      assert.match((await p2.locator('#model').textContent()) ?? '', new RegExp(`; there it referred [^·]*, ${((100 * pdr.referred) / pdr.n).toFixed(0)}% of proliferative`));
      const before = await p2.evaluate(() => (window as any).drxai.done as number);
      await p2.locator('#files').setInputFiles([{ name: 'phantom.png', mimeType: 'image/png', buffer: png }]);
      await p2.waitForFunction((n) => (window as any).drxai.done > n, before, { timeout: 120_000 });
      const last = await p2.evaluate(() => (window as any).drxai.last);
      assert.equal(last.gradeProbabilities.length, 5);
      assert.ok(Math.abs(last.gradeProbabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-5);
      assert.ok(Math.abs(last.gradeProbabilities.slice(2).reduce((a: number, b: number) => a + b, 0) - last.probability) < 1e-6, 'P(referable) = P(grade >= 2)');
      assert.equal(await p2.getByTestId('grades').locator('.grade-row').count(), 5);
      const expectedGrade = last.gradeProbabilities.reduce((e: number, p: number, g: number) => e + g * p, 0);
      assert.equal(last.predictedGrade, Math.floor(expectedGrade + 0.5), 'the predicted grade is the rounded expected grade');
      assert.equal(await p2.locator(`.grade-row.predicted[data-grade="${last.predictedGrade}"]`).count(), 1, 'its row is marked');
      assert.match((await p2.getByTestId('predicted-grade').textContent()) ?? '', new RegExp(`^Predicted grade: ${last.predictedGrade} `));
      assert.ok(last.heatmap && last.heatmap.length === 224 * 224, 'heat map of the grade model computed in the browser');
      await p2.screenshot({ path: path.join(SHOTS, 'page-1280x900-browser-grade.png'), fullPage: true });
      await p2.close();
    } finally {
      await catalogApp.close();
    }
  });

  test('phone size (390x844): result readable, disclaimer stays on screen; ungradable says so', async () => {
    const page = await openPage(390, 844);
    await page.getByLabel('on the server').check();
    await dropFile(page, 'phantom-42.png', png);
    await page.mouse.wheel(0, 3000);
    await page.waitForTimeout(100);
    const box = await page.getByTestId('disclaimer').boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 844, `disclaimer at ${JSON.stringify(box)}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `page is ${width}px wide: horizontal scrolling on a phone`);
    await page.mouse.wheel(0, -3000);
    await page.screenshot({ path: path.join(SHOTS, 'page-390x844-server.png'), fullPage: true });
    const black = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000' } }).png().toBuffer();
    await page.check('input[name="mode"][value="browser"]');
    await dropFile(page, 'black.png', black);
    assert.equal(await page.getByTestId('decision').textContent(), 'Ungradable');
    await page.close();
  });

  test('keyboard only: Tab reaches the drop zone with a visible focus ring, Enter and Space open the picker', async () => {
    for (const key of ['Enter', 'Space']) {
      // A fresh page per key: an open (intercepted) file chooser swallows the next request.
      const page = await openPage(1280, 800);
      let reached = false;
      for (let i = 0; i < 10 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.id === 'drop');
      }
      assert.ok(reached, 'Tab never reached the drop zone');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      assert.notEqual(outline, 'none');
      // Under a loaded machine headless Chromium now and then drops the file-chooser event of the
      // first key press (seen once in a full parallel run); a second press of the same key must
      // then open it. Any other key or no handler still fails.
      const opened = page.waitForEvent('filechooser', { timeout: 30_000 });
      await page.keyboard.press(key);
      let chooser = await Promise.race([opened, new Promise<null>((r) => setTimeout(() => r(null), 5_000))]);
      if (!chooser) {
        await page.keyboard.press(key);
        chooser = await opened;
      }
      assert.ok(chooser.isMultiple(), key);
      await page.close();
    }
  });

  test('batch: several files give a sortable table and a CSV download', async () => {
    const page = await openPage(1280, 800);
    const files = await Promise.all([1, 2, 3].map(async (s) => ({ name: `p${s}.png`, mimeType: 'image/png', buffer: await phantomPng(s, 256, s as 1 | 2 | 3) })));
    files.push({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    const before = await page.evaluate(() => (window as any).drxai.done as number);
    await page.locator('#files').setInputFiles(files);
    await page.waitForFunction((n) => (window as any).drxai.done > n, before, { timeout: 60_000 });
    const rows = page.getByTestId('results-table').locator('tbody tr');
    assert.equal(await rows.count(), 4);
    await page.getByRole('button', { name: 'Probability' }).click();
    const probs = (await rows.locator('td:nth-child(2)').allTextContents()).filter((t) => t !== '—').map(Number);
    assert.deepEqual(probs, [...probs].sort((a, b) => a - b));
    assert.equal(await page.locator('th[aria-sort="ascending"]').textContent(), 'Probability');
    const api = await Promise.all(files.slice(0, 3).map(async (f) => (await apiExplain(f.buffer)).probability.toFixed(3)));
    assert.deepEqual([...probs.map((p) => p.toFixed(3))].sort(), api.sort());
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = (await import('node:fs')).readFileSync((await download.path())!, 'utf8').trim().split('\n');
    assert.equal(csv[0], 'file,probability,decision,quality,ms,model,where');
    assert.equal(csv.filter((l) => /^p\d\.png,0\.\d+/.test(l)).length, 3);
    assert.ok(csv.some((l) => l.startsWith('notes.png,,Error')));
    await page.screenshot({ path: path.join(SHOTS, 'page-1280x800-batch.png') });
    await page.close();
  });
});
