import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError, assertDirectory } from '../core/index.ts';
import { readCsvTable, readFirstLine, headerHas, type CsvTable } from './csv-reader.ts';
import { DATASET_FORMATS, type Dataset, type DatasetFormat, type Sample } from './types.ts';

/*
 * One loader per public release, each from the root folder the release unpacks to:
 *
 *   aptos      APTOS 2019 (Kaggle): train.csv (id_code,diagnosis), train_images/<id_code>.png
 *   aptos224   ../shared/data/aptos2019-224: labels.csv (id_code,diagnosis), images/<id_code>.png
 *   eyepacs    Kaggle 2015: trainLabels.csv (image,level), <image>.jpeg in the root or in train/
 *   messidor2  Kaggle google-brain/messidor2-dr-grades: messidor_data.csv
 *              (image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable); images in
 *              IMAGES/ (the ADCIS download), messidor-2/preprocess/ or
 *              messidor-2/messidor-2/preprocess/ (the Kaggle zip), or the root. The CSV names the
 *              original files (.tif/.JPG) while the Kaggle copies are .png, so the same stem with
 *              another image extension is accepted. Ungradable rows (adjudicated_gradable = 0) are
 *              skipped and counted in Dataset.skipped.
 *   idrid      IDRiD "B. Disease Grading": a CSV with `Image name,Retinopathy grade,Risk of macular
 *              edema` in the root or `2. Groundtruths/` (the Training labels when both are there);
 *              images <Image name>.jpg in the root, images/, or `1. Original Images/a. Training Set/`
 *              (`b. Testing Set/` for the Testing labels).
 *   generic    a CSV `path,grade` (root is the CSV itself, or a folder holding exactly one such CSV);
 *              paths are relative to the CSV; id = the path without its extension.
 *   folder     every PNG/JPEG/TIFF directly in the root (not recursive), grade null,
 *              id = file name without extension.
 *
 * Grades are the ICDR scale 0-4 written as a bare integer; anything else is an error, as are
 * a missing label file or image, duplicate ids, an empty CSV and a wrong header, each reported
 * with the file and 1-based line (the header is line 1).
 */

const IMAGE_EXTENSION = /\.(png|jpe?g|tiff?)$/i;

/** Parse an ICDR grade cell: a bare integer 0-4. */
function parseGrade(raw: string, column: string, file: string, line: number): number {
  if (!/^[0-4]$/.test(raw)) {
    throw new DrXaiError(`unknown grade '${raw}' in column ${column} (expected an integer 0-4)`, { file, line });
  }
  return Number(raw);
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds image files in a fixed list of candidate folders, listing each folder once (a stat per
 * image would cost 35k system calls on EyePACS).
 */
class ImageFinder {
  private listings = new Map<string, Set<string> | null>();

  constructor(private readonly root: string) {}

  private async list(dir: string): Promise<Set<string> | null> {
    if (!this.listings.has(dir)) {
      let names: Set<string> | null = null;
      try {
        names = new Set((await fsp.readdir(dir, { withFileTypes: true })).filter((d) => !d.isDirectory()).map((d) => d.name));
      } catch {
        names = null;
      }
      this.listings.set(dir, names);
    }
    return this.listings.get(dir)!;
  }

  /** First `dir/name` that exists, trying folders in order and, within each, names in order. */
  async find(dirs: readonly string[], names: readonly string[]): Promise<string | null> {
    for (const dir of dirs) {
      const listing = await this.list(dir);
      if (!listing) continue;
      for (const name of names) if (listing.has(name)) return path.join(dir, name);
    }
    return null;
  }

  /** The "image not found" error for a label row. */
  missing(id: string, dirs: readonly string[], names: readonly string[], file: string, line: number): DrXaiError {
    const where = dirs.map((d) => path.relative(this.root, d) || '.').join(', ');
    return new DrXaiError(`image for '${id}' not found (looked for ${names.join(' or ')} in ${where})`, { file, line });
  }
}

/** Rejects a second row with the same id, naming both lines. */
class IdRegistry {
  private seen = new Map<string, number>();
  add(id: string, file: string, line: number): void {
    if (id === '') throw new DrXaiError('empty image id', { file, line });
    const first = this.seen.get(id);
    if (first !== undefined) throw new DrXaiError(`duplicate id '${id}' (first on line ${first})`, { file, line });
    this.seen.set(id, line);
  }
}

interface LabelRowSpec {
  idColumn: string;
  gradeColumn: string;
  /** Image folders to look in, in order. */
  dirs: string[];
  /** Candidate file names for an id, in order. */
  names: (id: string) => string[];
  /** Return a reason to skip the row, or null to keep it. */
  skip?: (row: CsvTable['rows'][number]) => string | null;
}

async function samplesFromTable(root: string, table: CsvTable, spec: LabelRowSpec): Promise<{ samples: Sample[]; skipped: Dataset['skipped'] }> {
  const finder = new ImageFinder(root);
  const ids = new IdRegistry();
  const samples: Sample[] = [];
  const skipped = new Map<string, number>();
  for (const row of table.rows) {
    const id = row.get(spec.idColumn);
    ids.add(id, table.file, row.line);
    const reason = spec.skip?.(row) ?? null;
    if (reason !== null) {
      skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
      continue;
    }
    const grade = parseGrade(row.get(spec.gradeColumn), spec.gradeColumn, table.file, row.line);
    const names = spec.names(id);
    const found = await finder.find(spec.dirs, names);
    if (!found) throw finder.missing(id, spec.dirs, names, table.file, row.line);
    samples.push({ id, path: found, grade });
  }
  return { samples, skipped: [...skipped].map(([reason, count]) => ({ reason, count })) };
}

type Loaded = { samples: Sample[]; skipped: Dataset['skipped'] };

async function loadIdCsv(root: string, csvName: string, imageDir: string, ext: string): Promise<Loaded> {
  const table = await readCsvTable(path.join(root, csvName), ['id_code', 'diagnosis']);
  return samplesFromTable(root, table, {
    idColumn: 'id_code',
    gradeColumn: 'diagnosis',
    dirs: [path.join(root, imageDir)],
    names: (id) => [`${id}${ext}`],
  });
}

async function loadEyepacs(root: string): Promise<Loaded> {
  const table = await readCsvTable(path.join(root, 'trainLabels.csv'), ['image', 'level']);
  return samplesFromTable(root, table, {
    idColumn: 'image',
    gradeColumn: 'level',
    dirs: [root, path.join(root, 'train')],
    names: (id) => [`${id}.jpeg`],
  });
}

const MESSIDOR_IMAGE_DIRS = ['IMAGES', 'messidor-2/preprocess', 'messidor-2/messidor-2/preprocess', '.'];
const MESSIDOR_EXTENSIONS = ['.png', '.jpg', '.JPG', '.jpeg', '.tif', '.TIF', '.tiff'];

async function loadMessidor2(root: string): Promise<Loaded> {
  const file = path.join(root, 'messidor_data.csv');
  const table = await readCsvTable(file, ['image_id', 'adjudicated_dr_grade', 'adjudicated_dme', 'adjudicated_gradable']);
  return samplesFromTable(root, table, {
    idColumn: 'image_id',
    gradeColumn: 'adjudicated_dr_grade',
    dirs: MESSIDOR_IMAGE_DIRS.map((d) => path.join(root, d)),
    names: (id) => {
      const stem = id.replace(IMAGE_EXTENSION, '');
      return [id, ...MESSIDOR_EXTENSIONS.map((e) => stem + e).filter((n) => n !== id)];
    },
    skip: (row) => {
      const gradable = row.get('adjudicated_gradable');
      if (gradable !== '0' && gradable !== '1') {
        throw new DrXaiError(`adjudicated_gradable must be 0 or 1, found '${gradable}'`, { file, line: row.line });
      }
      return gradable === '0' ? 'ungradable (adjudicated_gradable = 0)' : null;
    },
  });
}

const IDRID_COLUMNS = ['Image name', 'Retinopathy grade', 'Risk of macular edema'];

/** The IDRiD grading CSV under `root` (Training labels preferred), or null. */
async function findIdridCsv(root: string): Promise<string | null> {
  const found: string[] = [];
  for (const dir of [root, path.join(root, '2. Groundtruths')]) {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).filter((n) => n.toLowerCase().endsWith('.csv')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      if (headerHas(await readFirstLine(file), IDRID_COLUMNS)) found.push(file);
    }
  }
  return found.find((f) => /training/i.test(path.basename(f))) ?? found[0] ?? null;
}

async function loadIdrid(root: string): Promise<Loaded> {
  const file = await findIdridCsv(root);
  if (!file) {
    throw new DrXaiError(`no IDRiD grading CSV (header ${IDRID_COLUMNS.join(',')}) in the root or '2. Groundtruths/'`, { file: root });
  }
  const table = await readCsvTable(file, IDRID_COLUMNS);
  const testing = /testing/i.test(path.basename(file));
  const official = path.join(root, '1. Original Images', testing ? 'b. Testing Set' : 'a. Training Set');
  return samplesFromTable(root, table, {
    idColumn: 'Image name',
    gradeColumn: 'Retinopathy grade',
    dirs: [root, path.join(root, 'images'), official],
    names: (id) => [`${id}.jpg`, `${id}.JPG`],
  });
}

/** The `path,grade` CSV for a generic data set: `root` itself, or the one such CSV directly in it. */
async function findGenericCsv(root: string): Promise<string[]> {
  if (await isFile(root)) return root.toLowerCase().endsWith('.csv') ? [root] : [];
  let names: string[];
  try {
    names = (await fsp.readdir(root)).filter((n) => n.toLowerCase().endsWith('.csv')).sort();
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const n of names) if (headerHas(await readFirstLine(path.join(root, n)), ['path', 'grade'])) found.push(path.join(root, n));
  return found;
}

async function loadGeneric(root: string): Promise<Loaded> {
  const csvs = await findGenericCsv(root);
  if (csvs.length === 0) throw new DrXaiError('no CSV with columns path,grade found', { file: root });
  if (csvs.length > 1) {
    throw new DrXaiError(`several CSVs with columns path,grade (${csvs.map((c) => path.basename(c)).join(', ')}); pass one as --data`, { file: root });
  }
  const file = csvs[0];
  const table = await readCsvTable(file, ['path', 'grade']);
  const base = path.dirname(file);
  const finder = new ImageFinder(base);
  const ids = new IdRegistry();
  const samples: Sample[] = [];
  for (const row of table.rows) {
    const rel = row.get('path');
    if (rel === '') throw new DrXaiError('empty path', { file, line: row.line });
    const abs = path.resolve(base, rel);
    const id = path.relative(base, abs).split(path.sep).join('/').replace(/\.[^./]+$/, '');
    ids.add(id, file, row.line);
    const grade = parseGrade(row.get('grade'), 'grade', file, row.line);
    const found = await finder.find([path.dirname(abs)], [path.basename(abs)]);
    if (!found) throw new DrXaiError(`image '${rel}' not found (relative to ${base})`, { file, line: row.line });
    samples.push({ id, path: found, grade });
  }
  return { samples, skipped: [] };
}

/** Files the folder format does not read, by kind, so a user sees what was left behind. */
const NOT_READ = /\.(svg|gif|webp|bmp|heic|heif|jp2|j2k|dcm|dicom)$/i;

/**
 * The PNG/JPEG/TIFF files directly in `dir` (symbolic links to files included), sorted, and
 * counts of what was not taken: other image formats, broken links, sub-folders.
 */
async function listImages(dir: string): Promise<{ names: string[]; skipped: Dataset['skipped'] }> {
  const names: string[] = [];
  const skipped = new Map<string, number>();
  const skip = (reason: string) => skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    let isFile = d.isFile();
    if (d.isSymbolicLink()) {
      const target = await fsp.stat(path.join(dir, d.name)).catch(() => null);
      if (!target) {
        skip('broken symbolic link(s)');
        continue;
      }
      isFile = target.isFile();
    }
    if (!isFile) {
      if (d.isDirectory() || d.isSymbolicLink()) skip('sub-folder(s) (the folder format is not recursive; `dr-xai screen` is)');
      continue;
    }
    if (IMAGE_EXTENSION.test(d.name)) names.push(d.name);
    else if (NOT_READ.test(d.name)) skip(`${path.extname(d.name).slice(1).toUpperCase()} file(s) (the folder format reads PNG, JPEG and TIFF)`);
  }
  return { names: names.sort(), skipped: [...skipped].map(([reason, count]) => ({ reason, count })) };
}

async function loadFolder(root: string): Promise<Loaded> {
  await assertDirectory(root, 'image folder');
  const { names, skipped } = await listImages(root);
  if (names.length === 0) throw new DrXaiError(`no PNG, JPEG or TIFF images in this folder${skipped.length ? ` (${skipped.map((s) => `${s.count} ${s.reason}`).join(', ')})` : ''}`, { file: root });
  const byId = new Map<string, string>();
  const samples: Sample[] = [];
  for (const name of names) {
    const id = name.replace(IMAGE_EXTENSION, '');
    const other = byId.get(id);
    if (other) throw new DrXaiError(`duplicate id '${id}': both ${other} and ${name}`, { file: root });
    byId.set(id, name);
    samples.push({ id, path: path.join(root, name), grade: null });
  }
  return { samples, skipped };
}

const LOADERS: Record<DatasetFormat, (root: string) => Promise<Loaded>> = {
  aptos: (root) => loadIdCsv(root, 'train.csv', 'train_images', '.png'),
  aptos224: (root) => loadIdCsv(root, 'labels.csv', 'images', '.png'),
  eyepacs: loadEyepacs,
  messidor2: loadMessidor2,
  idrid: loadIdrid,
  generic: loadGeneric,
  folder: loadFolder,
};

/** What auto-detection checks, in order; `folder` is the fallback when none of these match. */
const SIGNATURES: { format: Exclude<DatasetFormat, 'folder'>; lookedFor: string; matches: (root: string) => Promise<boolean> }[] = [
  { format: 'aptos', lookedFor: 'train.csv (id_code,diagnosis)', matches: async (r) => headerHas(await readFirstLine(path.join(r, 'train.csv')), ['id_code', 'diagnosis']) },
  { format: 'aptos224', lookedFor: 'labels.csv (id_code,diagnosis)', matches: async (r) => headerHas(await readFirstLine(path.join(r, 'labels.csv')), ['id_code', 'diagnosis']) },
  { format: 'eyepacs', lookedFor: 'trainLabels.csv', matches: (r) => isFile(path.join(r, 'trainLabels.csv')) },
  { format: 'messidor2', lookedFor: 'messidor_data.csv', matches: (r) => isFile(path.join(r, 'messidor_data.csv')) },
  { format: 'idrid', lookedFor: "an IDRiD grading CSV in the root or '2. Groundtruths/'", matches: async (r) => (await findIdridCsv(r)) !== null },
  { format: 'generic', lookedFor: 'a CSV with columns path,grade', matches: async (r) => (await findGenericCsv(r)).length > 0 },
];

/**
 * The format of the data set at `root`, from the label files present. Exactly one label layout
 * must match; with none, a folder of images is the `folder` format. Anything else is an error
 * that lists what was looked for.
 */
export async function detectFormat(root: string): Promise<DatasetFormat> {
  const abs = path.resolve(root);
  if (await isFile(abs)) {
    if (abs.toLowerCase().endsWith('.csv')) return 'generic';
    throw new DrXaiError('expected a data set folder (or a path,grade CSV), found a file', { file: abs });
  }
  await assertDirectory(abs, 'data set folder');
  const matched: DatasetFormat[] = [];
  for (const s of SIGNATURES) if (await s.matches(abs)) matched.push(s.format);
  if (matched.length === 1) return matched[0];
  if (matched.length > 1) {
    throw new DrXaiError(`ambiguous data set layout: matches ${matched.join(' and ')}; pass --format`, { file: abs });
  }
  if ((await listImages(abs)).names.length > 0) return 'folder';
  throw new DrXaiError(
    `unknown data set layout: looked for ${SIGNATURES.map((s) => s.lookedFor).join('; ')}; or PNG/JPEG/TIFF images for the folder format`,
    { file: abs },
  );
}

/** Parse a `--format` value. */
export function parseFormat(value: string): DatasetFormat | 'auto' {
  if (value === 'auto' || (DATASET_FORMATS as readonly string[]).includes(value)) return value as DatasetFormat | 'auto';
  throw new DrXaiError(`unknown data set format '${value}' (expected auto, ${DATASET_FORMATS.join(', ')})`);
}

/** Load the data set at `root` (a folder; for `generic` also the CSV itself). */
export async function loadDataset(root: string, format: DatasetFormat | 'auto' = 'auto'): Promise<Dataset> {
  const abs = path.resolve(root);
  const resolved = format === 'auto' ? await detectFormat(abs) : format;
  if (resolved !== 'generic') await assertDirectory(abs, 'data set folder');
  else if (!(await isFile(abs)) && !(await isDirectory(abs))) throw new DrXaiError('data set not found', { file: abs });
  const loader = LOADERS[resolved];
  if (!loader) throw new DrXaiError(`unknown data set format '${String(resolved)}'`);
  const { samples, skipped } = await loader(abs);
  return { name: path.basename(abs), format: resolved, root: abs, samples, skipped };
}
