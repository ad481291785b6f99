/**
 * What `dr-xai screen` is given, turned into a list of photographs: files, folders (searched
 * recursively for photographs), glob patterns (tinyglobby, for shells that do not expand them,
 * or patterns quoted on purpose) and CSV files of paths (column `path`, else the first column;
 * relative paths are relative to the CSV's folder). The `id` of each photograph is the path as
 * the user wrote it (joined under the folder or CSV they named), never a path rewritten
 * relative to the working folder. An argument that names nothing is an input failure with its
 * reason, like an unreadable photo: the rest still runs (when no argument names anything,
 * screenBatch refuses with one line instead).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { glob, isDynamicPattern } from 'tinyglobby';

/** Extensions taken from folders and globs (case-insensitive). Files named one by one may be anything. */
const PHOTOGRAPH_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp', '.dcm', '.dicom'];

export interface PhotographPath {
  /** The path as given (or joined under the folder / CSV given). */
  id: string;
  /** Where to read it. */
  path: string;
}

export interface ExpandedInputs {
  photographs: PhotographPath[];
  /** Arguments that named nothing, with the reason. */
  missing: Array<{ id: string; reason: string }>;
  /** Files in the folders given that are not photographs by their extension, counted by extension (name them one by one to screen them anyway). */
  skipped: Record<string, number>;
}

const isPhotograph = (name: string) => PHOTOGRAPH_EXTENSIONS.includes(path.extname(name).toLowerCase());

async function walk(dir: string, shown: string, out: PhotographPath[], skipped: Record<string, number>): Promise<void> {
  // Code-point order, not the locale's: the same listing on every machine.
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    const id = path.join(shown, e.name);
    if (e.isDirectory()) await walk(full, id, out, skipped);
    else if (isPhotograph(e.name) && (e.isFile() || e.isSymbolicLink())) out.push({ id, path: full });
    else if (e.isFile()) {
      const ext = path.extname(e.name).toLowerCase() || '(none)';
      skipped[ext] = (skipped[ext] ?? 0) + 1;
    }
  }
}

async function csvPaths(file: string): Promise<PhotographPath[]> {
  const rows = parse(await fsp.readFile(file), { bom: true, skip_empty_lines: true, relax_column_count: true, trim: true }) as string[][];
  if (rows.length === 0) return [];
  const header = rows[0].map((h) => h.toLowerCase());
  const col = header.indexOf('path');
  const body = col >= 0 ? rows.slice(1) : rows;
  const at = col >= 0 ? col : 0;
  return body
    .map((r) => r[at])
    .filter((p): p is string => typeof p === 'string' && p.length > 0)
    .map((p) => ({ id: p, path: path.isAbsolute(p) ? p : path.join(path.dirname(file), p) }));
}

/** Expand the arguments in order; duplicates (same file reached twice) are kept once. */
export async function expandInputs(args: string[], cwd = process.cwd()): Promise<ExpandedInputs> {
  const photographs: PhotographPath[] = [];
  const missing: ExpandedInputs['missing'] = [];
  const skipped: Record<string, number> = {};
  for (const arg of args) {
    const abs = path.resolve(cwd, arg);
    const stat = await fsp.stat(abs).catch(() => null);
    if (stat?.isDirectory()) {
      const before = photographs.length;
      await walk(abs, arg, photographs, skipped);
      if (photographs.length === before) missing.push({ id: arg, reason: `no photographs (${PHOTOGRAPH_EXTENSIONS.join(' ')}) in this folder` });
    } else if (stat?.isFile()) {
      if (path.extname(arg).toLowerCase() === '.csv') {
        const listed = await csvPaths(abs);
        if (listed.length === 0) missing.push({ id: arg, reason: 'CSV lists no paths' });
        photographs.push(...listed);
      } else photographs.push({ id: arg, path: abs });
    } else if (isDynamicPattern(arg)) {
      const matches = (await glob(arg, { cwd, absolute: false, onlyFiles: true, dot: false })).filter(isPhotograph).sort();
      if (matches.length === 0) missing.push({ id: arg, reason: 'pattern matches no photographs' });
      for (const m of matches) photographs.push({ id: m, path: path.resolve(cwd, m) });
    } else {
      missing.push({ id: arg, reason: stat ? 'not a file or folder' : 'no such file or folder' });
    }
  }
  const seen = new Set<string>();
  return { photographs: photographs.filter((p) => (seen.has(p.path) ? false : (seen.add(p.path), true))), missing, skipped };
}
