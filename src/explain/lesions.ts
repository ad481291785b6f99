/**
 * Folders in the IDRiD-lesions layout (also written by the phantom generator):
 *     images/<id>.<jpg|png|tif|...>
 *     masks/<id>_{MA,HE,EX,SE,OD}.png     binary 0/255, the photograph's size
 * Each photograph is preprocessed with the model's own configuration and its masks go through
 * the very same crop / pad / resize (src/preprocess applyGeometry), so heat and masks are
 * pixel-aligned in the model-input geometry.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { DrXaiError, assertDirectory, readFileOrFail, type RgbImage } from '../core/index.ts';
import { applyGeometry, decodeFundus, preprocessFundus, type PreprocessConfig } from '../preprocess/index.ts';
import type { LesionPlanes } from './score.ts';

export const MASK_KINDS = ['MA', 'HE', 'EX', 'SE', 'OD'] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp']);

export interface LesionCase {
  id: string;
  imagePath: string;
  maskPaths: Record<MaskKind, string>;
}

/** The cases of a lesion folder, sorted by id; every image must have its five masks. */
export async function listLesionCases(root: string): Promise<LesionCase[]> {
  await assertDirectory(root, 'lesion folder');
  const imagesDir = path.join(root, 'images');
  const masksDir = path.join(root, 'masks');
  await assertDirectory(imagesDir, 'lesion folder images/ directory');
  await assertDirectory(masksDir, 'lesion folder masks/ directory');
  const masks = new Set(await fsp.readdir(masksDir));
  const cases: LesionCase[] = [];
  for (const name of (await fsp.readdir(imagesDir)).sort()) {
    const ext = path.extname(name).toLowerCase();
    if (!IMAGE_EXTENSIONS.has(ext)) continue;
    const id = path.basename(name, path.extname(name));
    const maskPaths = {} as Record<MaskKind, string>;
    for (const kind of MASK_KINDS) {
      const file = `${id}_${kind}.png`;
      if (!masks.has(file)) throw new DrXaiError(`mask ${file} for image ${name} is missing (an absent lesion needs an all-zero mask)`, { file: path.join(masksDir, file) });
      maskPaths[kind] = path.join(masksDir, file);
    }
    cases.push({ id, imagePath: path.join(imagesDir, name), maskPaths });
  }
  if (cases.length === 0) throw new DrXaiError('no images in images/', { file: imagesDir });
  return cases;
}

/** A binary mask (first channel > 127) that must be width x height. */
export async function readMaskPlane(file: string, width: number, height: number): Promise<Uint8Array> {
  const bytes = await readFileOrFail(file, 'lesion mask');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { limitInputPixels: false }).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  } catch {
    // Not libvips's text: its error buffer is shared by threads (see core's corruptImageError).
    throw new DrXaiError(`not a readable mask image (corrupt, truncated or not an image)`, { file });
  }
  if (raw.info.width !== width || raw.info.height !== height) {
    throw new DrXaiError(`mask is ${raw.info.width}x${raw.info.height} but its photograph is ${width}x${height}`, { file });
  }
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = raw.data[i] > 127 ? 255 : 0;
  return out;
}

export interface PreparedLesionCase {
  id: string;
  /** Preprocessed photograph (model input). */
  image: RgbImage;
  /** Retina mask in the same geometry. */
  retina: Uint8Array;
  lesions: LesionPlanes;
  /** Lesion pixels (in the model geometry) per kind, for the table. */
  area: Record<MaskKind, number>;
}

/**
 * Preprocess one case. Masks are resized with area averaging and kept where any part of an
 * output pixel is lesion (> 0): at 448 px a 4288 px photograph shrinks ~8x and nearest-neighbour
 * sampling would drop most microaneurysms; the energy ratio divides by the (slightly grown) area,
 * so this favours no map.
 */
export async function prepareLesionCase(c: LesionCase, config: Partial<PreprocessConfig> & { size: number }): Promise<PreparedLesionCase> {
  const pre = await preprocessFile(c.imagePath, config);
  const img = { width: pre.geometry.sourceWidth, height: pre.geometry.sourceHeight };
  const lesions = {} as LesionPlanes;
  const area = {} as Record<MaskKind, number>;
  for (const kind of MASK_KINDS) {
    const plane = await readMaskPlane(c.maskPaths[kind], img.width, img.height);
    const moved = applyGeometry(plane, img.width, img.height, pre.geometry, { interpolation: 'area' });
    let n = 0;
    for (let i = 0; i < moved.length; i++) {
      moved[i] = moved[i] > 0 ? 255 : 0;
      if (moved[i]) n++;
    }
    lesions[kind] = moved;
    area[kind] = n;
  }
  return { id: c.id, image: pre.image, retina: pre.mask, lesions, area };
}

/**
 * Decode (JPEG shrink-on-load as `dr-xai preprocess` does) and preprocess one photograph; the
 * geometry is in the file's pixels, so source-size masks can follow it.
 */
export async function preprocessFile(file: string, config: Partial<PreprocessConfig> & { size: number }) {
  const d = await decodeFundus(await readFileOrFail(file, 'fundus photograph'), file, config.size);
  return preprocessFundus(d.image, config, { source: file, decodeFactor: d.decodeFactor, sourceWidth: d.sourceWidth, sourceHeight: d.sourceHeight });
}
