// Shared by the data tests: temp folders, tiny real images, fixture paths.
import { mkdtempSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/data');
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** A fresh temp folder, removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'drxai-data-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write a small solid-colour image; the format follows the extension. */
export async function writeImage(file: string, rgb: [number, number, number] = [120, 40, 20], size = 8): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp({ create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') await img.png().toFile(file);
  else if (ext === '.tif' || ext === '.tiff') await img.tiff().toFile(file);
  else await img.jpeg().toFile(file);
}

/** Copy a fixture file into `dir` under `rel`. */
export function copyFixture(fixture: string, dir: string, rel: string): string {
  const dest = path.join(dir, rel);
  mkdirSync(path.dirname(dest), { recursive: true });
  copyFileSync(path.join(FIXTURES, fixture), dest);
  return dest;
}
