import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { encodePng } from '../../src/core/index.ts';
import { generatePhantom } from '../../src/data/index.ts';
import { loadModel, type FundusModel } from '../../src/models/index.ts';
import { createServer, type ServerOptions } from '../../src/serve/index.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SMALL_MODEL = path.join(ROOT, 'test', 'fixtures', 'serve', 'small.onnx');

let modelPromise: Promise<FundusModel> | undefined;
export function smallModel(): Promise<FundusModel> {
  modelPromise ??= loadModel(SMALL_MODEL);
  return modelPromise;
}

/** A phantom fundus photograph as PNG bytes (deterministic in seed). */
export async function phantomPng(seed: number, size = 256, grade: 0 | 1 | 2 | 3 | 4 = 2): Promise<Buffer> {
  return encodePng(generatePhantom({ seed, size, grade }).image);
}

export async function phantomJpeg(seed: number, size = 256): Promise<Buffer> {
  const { image } = generatePhantom({ seed, size, grade: 2 });
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

export async function testServer(opts: Partial<ServerOptions> = {}) {
  const model = await smallModel();
  return createServer({ model, limits: { workers: 1, ...opts.limits }, ...opts, webRoot: opts.webRoot ?? path.join(ROOT, 'test', 'fixtures', 'serve', 'no-web') });
}

/** A multipart/form-data body with one file part. */
export function multipart(file: Buffer, filename: string, contentType = 'application/octet-stream'): { body: Buffer; contentType: string } {
  const boundary = '----drxaitest7c1e';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, file, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}
