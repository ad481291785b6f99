/**
 * A before/after board: one row per image, columns original | retina mask | cropped |
 * CLAHE | green | (Ben Graham) | output, to check the steps by eye. Composed with sharp.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { DrXaiError, readFileOrFail, writeFileAtomic, type RgbImage } from '../core/index.ts';
import type { BatchItem } from './batch.ts';
import { decodeFundus } from './decode.ts';
import { preprocessFundus, resolveConfig, type PreprocessConfig } from './pipeline.ts';

const TILE = 200;
const HEADER = 28;

async function tile(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .resize(TILE, TILE, { fit: 'contain', background: { r: 40, g: 40, b: 40 }, kernel: 'lanczos3' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer();
}

/** Write the board for (at most `max`) images to `file` (PNG). Images that fail are skipped. */
export async function writeBoard(items: BatchItem[], cfg: Partial<PreprocessConfig>, file: string, opts: { max?: number; shrinkOnLoad?: boolean } = {}): Promise<number> {
  const config = resolveConfig(cfg);
  const labels = ['original', 'retina mask', 'cropped', ...(config.clahe ? ['CLAHE (L of Lab)'] : []), ...(config.green ? ['green emphasis'] : []), ...(config.benGraham ? ['Ben Graham'] : []), `output ${config.size}px`];
  const rows: Buffer[][] = [];
  for (const item of items) {
    if (rows.length >= (opts.max ?? 6)) break;
    try {
      const d = await decodeFundus(await readFileOrFail(item.path, 'image'), item.path, config.size, { shrinkOnLoad: opts.shrinkOnLoad });
      const r = preprocessFundus(d.image, config, { keepSteps: true, source: item.path });
      const s = r.steps!;
      const imgs = [d.image, s.mask, s.cropped, s.clahe, s.green, s.benGraham, r.image].filter((x): x is RgbImage => !!x);
      rows.push(await Promise.all(imgs.map(tile)));
    } catch {
      continue;
    }
  }
  if (rows.length === 0) throw new DrXaiError('no image could be preprocessed for the board', { file });
  const cols = labels.length;
  const width = cols * TILE;
  const height = HEADER + rows.length * TILE;
  const text = labels.map((l, i) => `<text x="${i * TILE + TILE / 2}" y="19" font-family="sans-serif" font-size="14" fill="#fff" text-anchor="middle">${l}</text>`).join('');
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEADER}">${text}</svg>`);
  const composites: OverlayOptions[] = [{ input: svg, left: 0, top: 0 }];
  rows.forEach((row, y) => row.forEach((buf, x) => composites.push({ input: buf, raw: { width: TILE, height: TILE, channels: 3 }, left: x * TILE, top: HEADER + y * TILE })));
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 20, g: 20, b: 20 } } }).composite(composites).png().toBuffer();
  await writeFileAtomic(file, png);
  return rows.length;
}
