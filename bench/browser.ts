// npm run bench:browser — screening per image in the page, in Debian's Chromium (playwright-core):
// a photograph dropped on the page until its result is shown (browser decode, preprocessing,
// ONNX Runtime Web, heat map, drawing; and the page's own total of the stages), in browser mode with cross-origin isolation (WASM on
// several threads) and without it (one thread), and in server mode through the same page, for
// reference. The three pages stay open and take turns in every round; medians [min, max].
// Options: --model m.onnx (default: the referable default), --size px (phantom, default 1024),
// --format png|jpeg (default png; a JPEG is reduced after decoding to the server's shrink-on-load
// resolution, a PNG is screened at full size on both sides), --webgpu (also a page running the
// network on WebGPU: Chromium with --enable-unsafe-webgpu; without a GPU its adapter is SwiftShader
// on the CPU, so that row measures the code path, not a GPU), --rounds R (default 5), --n images per round (default 4).
import { existsSync } from 'node:fs';
import os from 'node:os';
import { chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';
import { defaultModelPath, loadModel } from '../src/models/index.ts';
import { createServer } from '../src/serve/index.ts';
import { argString, argValue, loadAverage, median } from './engine_common.ts';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.log(`bench:browser: ${CHROMIUM} not found (apt-get install -y chromium); nothing to measure`);
  process.exit(0);
}
const modelPath = argString('model') ?? (await defaultModelPath('referable'));
const size = argValue('size', 1024);
const rounds = argValue('rounds', 5);
const n = argValue('n', 4);
const format = argString('format') ?? 'png';
if (format !== 'png' && format !== 'jpeg') throw new Error(`bench:browser: --format must be png or jpeg, not ${format}`);
const phantom = generatePhantom({ seed: 11, size, grade: 2 }).image;
const photo = format === 'png'
  ? Buffer.from(await encodePng(phantom))
  : await sharp(phantom.data, { raw: { width: phantom.width, height: phantom.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
const model = await loadModel(modelPath);

const webgpu = process.argv.includes('--webgpu');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', webgpu ? '--enable-unsafe-webgpu' : '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
const servers = { isolated: await createServer({ model, limits: { workers: 1 } }), plain: await createServer({ model, limits: { workers: 1 }, crossOriginIsolation: false }) };
const bases = { isolated: await servers.isolated.listen({ port: 0, host: '127.0.0.1' }), plain: await servers.plain.listen({ port: 0, host: '127.0.0.1' }) };

async function open(base: string, mode: 'browser' | 'gpu' | 'server'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => / model .* \(\d+×\d+\)/.test(document.getElementById('model')?.textContent ?? ''));
  if (mode === 'gpu') await page.locator('#gpu-choice').waitFor({ state: 'visible', timeout: 10_000 });
  await page.check(`input[name="mode"][value="${mode}"]`);
  // The photograph is handed to the page once; each drop then reuses that File.
  await page.evaluate(({ b64, format }) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    (window as any).benchFile = new File([bin], `phantom.${format}`, { type: `image/${format}` });
  }, { b64: photo.toString('base64'), format });
  return page;
}

/** Drop the photograph on the page and wait until the page has shown its result: wall ms. */
async function screenOnce(page: Page): Promise<number> {
  const before = await page.evaluate(() => (window as any).drxai.done as number);
  const t0 = performance.now();
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add((window as any).benchFile as File);
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction((k) => (window as any).drxai.done > k, before, { timeout: 120_000 });
  return performance.now() - t0;
}


try {
  const pages = {
    'browser, cross-origin isolated': await open(bases.isolated, 'browser'),
    'browser, not isolated': await open(bases.plain, 'browser'),
    'server (via the page)': await open(bases.isolated, 'server'),
    ...(webgpu ? { 'browser, WebGPU': await open(bases.isolated, 'gpu') } : {}),
  };
  const threads = await pages['browser, cross-origin isolated'].evaluate(() => (globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1));
  console.log(`in-page screening of a ${size} px phantom ${format.toUpperCase()} with ${modelPath.split('/').pop()}, Chromium ${browser.version()}, ${os.availableParallelism()} cores; load average ${loadAverage()}`);
  console.log(`(rounds=${rounds} of ${n} images, the pages taking turns; per image: drop to result shown, heat map included; the isolated page runs ONNX Runtime Web on ${threads} threads)`);
  for (const page of Object.values(pages)) for (let w = 0; w < 2; w++) await screenOnce(page); // warm-up: sessions, JIT
  const perRound: Record<string, number[]> = {};
  const timings: Record<string, string> = {};
  const pageTotals: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, page] of Object.entries(pages)) {
      const t: number[] = [];
      const reported: number[] = [];
      for (let k = 0; k < n; k++) {
        t.push(await screenOnce(page));
        timings[name] = (await page.textContent('#timings')) ?? '';
        reported.push(Number(/total (\d+) ms/.exec(timings[name])?.[1] ?? NaN));
      }
      (perRound[name] ??= []).push(median(t));
      (pageTotals[name] ??= []).push(median(reported));
    }
  }
  for (const [name, v] of Object.entries(perRound)) {
    const p = pageTotals[name];
    console.log(`${name.padEnd(32)} ${median(v).toFixed(0).padStart(6)} ms/image [${Math.min(...v).toFixed(0)}, ${Math.max(...v).toFixed(0)}]; the page's own total ${median(p).toFixed(0)} ms [${Math.min(...p).toFixed(0)}, ${Math.max(...p).toFixed(0)}]; last: ${timings[name]}`);
  }
  const iso = median(pageTotals['browser, cross-origin isolated']);
  const plain = median(pageTotals['browser, not isolated']);
  console.log(`threads: screening ${(plain / iso).toFixed(2)}x faster with cross-origin isolation (the page's totals); load average at end ${loadAverage()}`);
} finally {
  await browser.close();
  await servers.isolated.close();
  await servers.plain.close();
  await model.release();
}
