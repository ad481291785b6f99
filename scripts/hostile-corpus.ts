/**
 * The hostile-input corpus: files a screening service meets in the wild or from an attacker,
 * each with what every entry point must answer (HTTP status and reason for the API, failed or
 * ungradable for `dr-xai screen`). Generated, so nothing big is committed; the tests
 * (test/serve/bad-input.test.ts, test/screening/hostile.test.ts) run it against the API, the
 * CLI and `screen`.
 *   npx tsx scripts/hostile-corpus.ts <folder>     # writes the files, for trying it by hand
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A valid PNG of width x height, 1-bit palette (black/white), all zero: a few tens of kB on disk
 * that a decoder to 8-bit RGB would turn into width*height*3 bytes (1.2 GB at 20000x20000).
 */
export function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 3; // palette
  const row = 1 + Math.ceil(width / 8);
  const raw = Buffer.alloc(row * height); // filter 0, all pixels index 0
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('PLTE', Buffer.from([0, 0, 0, 255, 255, 255])), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** A PNG whose header claims huge dimensions, with next to no pixel data behind it. */
export function hugeHeaderPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

/** A small real JPEG whose frame header (SOF0) is rewritten to claim width x height: the header parses, the pixels are far too few. */
export function claimingJpeg(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; i++) {
    if (out[i] === 0xff && out[i + 1] === 0xc0) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no baseline frame header in this JPEG');
}

export interface HostileCase {
  name: string;
  /** File name in the corpus folder (the extension is what a user would have, not the content). */
  file: string;
  bytes: Buffer;
  /** POST /v1/screen: the status, and for errors the reason's pattern. */
  api: { status: number; reason?: RegExp };
  /** `dr-xai screen`: a failed input (with this reason) or an ungradable screening. */
  screen: { status: 'failed'; reason: RegExp } | { status: 'ungradable' } | { status: 'gradable' };
}

/** The corpus, in a fixed order. `good` is a gradable phantom photograph the corruptions start from. */
export async function hostileCorpus(): Promise<HostileCase[]> {
  const phantom = generatePhantom({ seed: 21, size: 256, grade: 2 }).image;
  const good = await encodePng(phantom);
  const raw = { raw: { width: phantom.width, height: phantom.height, channels: 3 as const } };
  const jpeg = await sharp(phantom.data, raw).jpeg({ quality: 90 }).toBuffer();
  const dicomDir = path.resolve(import.meta.dirname, '..', 'test', 'fixtures', 'screening');
  const noise = Buffer.alloc(512 * 512 * 3);
  for (let i = 0, s = 12345; i < noise.length; i++) noise[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  const gradient = Buffer.alloc(512 * 512 * 3);
  for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) gradient.fill(Math.floor((x + y) / 4), 3 * (y * 512 + x), 3 * (y * 512 + x) + 3);
  const big = { raw: { width: 512, height: 512, channels: 3 as const } };
  const rgba = await sharp(phantom.data, raw).ensureAlpha(1).png().toBuffer();
  const corrupt = Buffer.from(good);
  corrupt.fill(0x5a, 200, 400);
  const failed = (reason: RegExp) => ({ status: 'failed' as const, reason });
  return [
    { name: 'zero bytes', file: 'zero.png', bytes: Buffer.alloc(0), api: { status: 400, reason: /empty upload/ }, screen: failed(/empty file/) },
    { name: 'text named .png', file: 'scan.png', bytes: Buffer.from('this is not an image\n'.repeat(20)), api: { status: 415, reason: /not a recognised image/ }, screen: failed(/not a recognised image/) },
    { name: 'HTML posing as a JPEG', file: 'photo.jpg', bytes: Buffer.from('<html><script>alert(1)</script></html>'), api: { status: 415, reason: /not a recognised image/ }, screen: failed(/not a recognised image/) },
    { name: 'SVG', file: 'drawing.svg', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"/>'), api: { status: 415, reason: /not a recognised image/ }, screen: failed(/not a recognised image/) },
    { name: 'GIF', file: 'anim.gif', bytes: Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), api: { status: 415, reason: /not a recognised image/ }, screen: failed(/not a recognised image/) },
    { name: 'truncated JPEG', file: 'cut.jpg', bytes: jpeg.subarray(0, 3000), api: { status: 400, reason: /corrupt|truncated/ }, screen: failed(/corrupt|truncated/) },
    { name: 'PNG with a corrupted body', file: 'corrupt.png', bytes: corrupt, api: { status: 400, reason: /corrupt|truncated/ }, screen: failed(/corrupt|truncated/) },
    { name: 'PNG decompression bomb 20000x20000', file: 'bomb.png', bytes: bombPng(20000, 20000), api: { status: 413, reason: /image too large: 20000x20000/ }, screen: failed(/image too large: 20000x20000/) },
    { name: 'header claiming 100000x100000', file: 'huge.png', bytes: hugeHeaderPng(100_000, 100_000), api: { status: 413, reason: /image too large/ }, screen: failed(/image too large/) },
    { name: '40000x1000 (pads to 1.6 gigapixels)', file: 'wide.png', bytes: hugeHeaderPng(40_000, 1000), api: { status: 413, reason: /implausible size for a fundus photograph: 40000x1000/ }, screen: failed(/implausible size/) },
    { name: '49,000,000x1', file: 'line.png', bytes: hugeHeaderPng(49_000_000, 1), api: { status: 413, reason: /implausible size/ }, screen: failed(/implausible size/) },
    { name: '1x40,000,000', file: 'column.png', bytes: hugeHeaderPng(1, 40_000_000), api: { status: 413, reason: /implausible size/ }, screen: failed(/implausible size/) },
    // Under the API's 50 MP limit for the padded square it is refused from its header; under the
    // CLI's 100 MP it is decoded at 1/8 (libjpeg fills the missing data) and comes out a blank
    // frame: ungradable, no decision, ~20 MB of memory.
    { name: 'JPEG claiming 8000x6000 in 10 kB', file: 'giant.jpg', bytes: claimingJpeg(jpeg, 8000, 6000), api: { status: 413, reason: /pads to a 8000x8000 square/ }, screen: { status: 'ungradable' } },
    { name: '16-bit PNG', file: 'deep.png', bytes: await sharp(good).toColourspace('rgb16').png().toBuffer(), api: { status: 415, reason: /bit depth/ }, screen: failed(/bit depth/) },
    { name: 'greyscale PNG', file: 'grey.png', bytes: await sharp(good).toColourspace('b-w').png().toBuffer(), api: { status: 415, reason: /greyscale/ }, screen: failed(/greyscale/) },
    { name: 'PNG with transparency', file: 'alpha.png', bytes: await sharp(good).ensureAlpha(0.5).png().toBuffer(), api: { status: 415, reason: /transparent/ }, screen: failed(/transparent/) },
    { name: 'fully opaque RGBA PNG (a real photo with an alpha band)', file: 'opaque-rgba.png', bytes: rgba, api: { status: 200 }, screen: { status: 'gradable' } },
    { name: 'white frame', file: 'white.png', bytes: await sharp({ create: { width: 512, height: 512, channels: 3, background: '#fff' } }).png().toBuffer(), api: { status: 200 }, screen: { status: 'ungradable' } },
    { name: 'noise', file: 'noise.png', bytes: await sharp(noise, big).png().toBuffer(), api: { status: 200 }, screen: { status: 'ungradable' } },
    { name: 'grey gradient', file: 'gradient.png', bytes: await sharp(gradient, big).png().toBuffer(), api: { status: 200 }, screen: { status: 'ungradable' } },
    { name: 'black frame', file: 'black.png', bytes: await sharp({ create: { width: 512, height: 512, channels: 3, background: '#000' } }).png().toBuffer(), api: { status: 200 }, screen: { status: 'ungradable' } },
    { name: 'multi-frame DICOM', file: 'multi.dcm', bytes: readFileSync(path.join(dicomDir, 'bad_multiframe.dcm')), api: { status: 415, reason: /multi-frame/ }, screen: failed(/multi-frame/) },
    { name: 'truncated DICOM', file: 'cut.dcm', bytes: readFileSync(path.join(dicomDir, 'bad_truncated.dcm')), api: { status: 400, reason: /malformed or truncated/ }, screen: failed(/malformed or truncated/) },
    { name: '"DICM" and garbage', file: 'garbage.dcm', bytes: Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from('\x02\x00\x10\x00UI\xff\xff', 'latin1'), Buffer.alloc(64, 0xee)]), api: { status: 400, reason: /DICOM: / }, screen: failed(/DICOM: /) },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: npx tsx scripts/hostile-corpus.ts <folder>');
    process.exit(1);
  }
  mkdirSync(dir, { recursive: true });
  for (const c of await hostileCorpus()) writeFileSync(path.join(dir, c.file), c.bytes);
  console.log(`wrote ${dir}`);
}
