/**
 * A before/after board: one row per image, original | retina mask | cropped | CLAHE | green |
 * (Ben Graham) | output, to check the steps by eye. Composed by core's composeBoard, like the
 * heat-map boards (same font, same layout, the disclaimer at the foot).
 */
import sharp from 'sharp';
import { composeBoard, DISCLAIMER, DrXaiError, readFileOrFail, writeFileAtomic, type BoardCell, type RgbImage } from '../core/index.ts';
import type { BatchItem } from './batch.ts';
import { decodeFundus } from './decode.ts';
import { preprocessFundus, resolveConfig, type PreprocessConfig } from './pipeline.ts';

const TILE = 200;

async function tile(img: RgbImage): Promise<RgbImage> {
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .resize(TILE, TILE, { fit: 'contain', background: { r: 40, g: 40, b: 40 }, kernel: 'lanczos3' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer();
  return { width: TILE, height: TILE, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Write the board for (at most `max`) images to `file` (PNG). Images that fail are skipped. */
export async function writeBoard(items: BatchItem[], cfg: Partial<PreprocessConfig>, file: string, opts: { max?: number; shrinkOnLoad?: boolean } = {}): Promise<number> {
  const config = resolveConfig(cfg);
  const labels = ['original', 'retina mask', 'cropped', ...(config.clahe ? ['CLAHE (L of Lab)'] : []), ...(config.green ? ['green emphasis'] : []), ...(config.benGraham ? ['Ben Graham'] : []), `output ${config.size}px`];
  const cells: BoardCell[] = [];
  for (const item of items) {
    if (cells.length >= (opts.max ?? 6)) break;
    try {
      const d = await decodeFundus(await readFileOrFail(item.path, 'image'), item.path, config.size, { shrinkOnLoad: opts.shrinkOnLoad });
      const r = preprocessFundus(d.image, config, { keepSteps: true, source: item.path });
      const s = r.steps!;
      const imgs = [d.image, s.mask, s.cropped, s.clahe, s.green, s.benGraham, r.image].filter((x): x is RgbImage => !!x);
      cells.push({ images: await Promise.all(imgs.map(tile)), caption: [item.id] });
    } catch {
      continue;
    }
  }
  if (cells.length === 0) throw new DrXaiError('no image could be preprocessed for the board', { file });
  await writeFileAtomic(file, await composeBoard(cells, { title: labels.join(' | '), footer: [DISCLAIMER], columns: 1, fontSize: 13 }));
  return cells.length;
}
