import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DrXaiError } from '../../src/core/index.ts';
import { loadDataset, detectFormat, type Dataset } from '../../src/data/index.ts';
import { tempDir, writeImage, copyFixture } from './helpers.ts';

const simple = (ds: Dataset): [string, string, number | null][] => ds.samples.map((s) => [s.id, path.relative(ds.root, s.path), s.grade]);

/** Asserts a DrXaiError whose message starts with `file:line:` and matches `pattern`. */
async function rejectsAt(promise: Promise<unknown>, file: string, line: number | null, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof DrXaiError, `expected DrXaiError, got ${String(e)}`);
    const where = line === null ? `${file}: ` : `${file}:${line}: `;
    assert.ok(e.message.startsWith(where), `message '${e.message}' should start with '${where}'`);
    assert.match(e.message, pattern);
    return true;
  });
}

async function aptosLayout(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = tempDir(t);
  copyFixture('aptos/train.csv', root, 'train.csv');
  for (const id of ['000c1434d8d7', '001639a390f0', '0024cdab0c1e']) await writeImage(path.join(root, 'train_images', `${id}.png`));
  return root;
}

test('aptos: train.csv + train_images/<id>.png', async (t) => {
  const root = await aptosLayout(t);
  const ds = await loadDataset(root, 'aptos');
  assert.equal(ds.format, 'aptos');
  assert.equal(ds.root, root);
  assert.equal(ds.name, path.basename(root));
  assert.deepEqual(simple(ds), [
    ['000c1434d8d7', 'train_images/000c1434d8d7.png', 2],
    ['001639a390f0', 'train_images/001639a390f0.png', 4],
    ['0024cdab0c1e', 'train_images/0024cdab0c1e.png', 1],
  ]);
  assert.ok(ds.samples.every((s) => path.isAbsolute(s.path)));
  assert.deepEqual(ds.skipped, []);
  assert.equal(await detectFormat(root), 'aptos');
});

test('aptos224: labels.csv + images/<id>.png, detected automatically', async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'labels.csv'), 'id_code,diagnosis\nabc,0\ndef,3\n');
  await writeImage(path.join(root, 'images', 'abc.png'));
  await writeImage(path.join(root, 'images', 'def.png'));
  const ds = await loadDataset(root);
  assert.equal(ds.format, 'aptos224');
  assert.deepEqual(simple(ds), [['abc', 'images/abc.png', 0], ['def', 'images/def.png', 3]]);
});

test('eyepacs: trainLabels.csv, images in the root or in train/', async (t) => {
  const root = tempDir(t);
  copyFixture('eyepacs/trainLabels.csv', root, 'trainLabels.csv');
  await writeImage(path.join(root, '10_left.jpeg'));
  await writeImage(path.join(root, 'train', '10_right.jpeg'));
  await writeImage(path.join(root, 'train', '13_left.jpeg'));
  const ds = await loadDataset(root);
  assert.equal(ds.format, 'eyepacs');
  assert.deepEqual(simple(ds), [['10_left', '10_left.jpeg', 0], ['10_right', 'train/10_right.jpeg', 1], ['13_left', 'train/13_left.jpeg', 2]]);
});

test('messidor2: ungradable rows skipped and counted; Kaggle .png copies of .JPG names found', async (t) => {
  const root = tempDir(t);
  copyFixture('messidor2/messidor_data.csv', root, 'messidor_data.csv');
  await writeImage(path.join(root, 'IMAGES', '20051020_43808_0100_PP.png'));
  // The Kaggle zip holds PNG copies under messidor-2/messidor-2/preprocess/ while the CSV names the .JPG.
  await writeImage(path.join(root, 'messidor-2', 'messidor-2', 'preprocess', 'IM002385.png'));
  await writeImage(path.join(root, 'IMAGES', 'IM004176.JPG'));
  const ds = await loadDataset(root);
  assert.equal(ds.format, 'messidor2');
  assert.deepEqual(simple(ds), [
    ['20051020_43808_0100_PP.png', 'IMAGES/20051020_43808_0100_PP.png', 0],
    ['IM002385.JPG', 'messidor-2/messidor-2/preprocess/IM002385.png', 2],
    ['IM004176.JPG', 'IMAGES/IM004176.JPG', 3],
  ]);
  assert.deepEqual(ds.skipped, [{ reason: 'ungradable (adjudicated_gradable = 0)', count: 2 }]);
});

test('messidor2: a gradable value other than 0/1 is an error on its line', async (t) => {
  const root = tempDir(t);
  const csv = path.join(root, 'messidor_data.csv');
  writeFileSync(csv, 'image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable\na.png,1,0,1\nb.png,1,0,yes\n');
  await writeImage(path.join(root, 'IMAGES', 'a.png'));
  await rejectsAt(loadDataset(root, 'messidor2'), csv, 3, /adjudicated_gradable must be 0 or 1, found 'yes'/);
});

test('idrid: messy header (trailing spaces, empty columns, CRLF, blank line) in the official tree', async (t) => {
  const root = tempDir(t);
  copyFixture('idrid/a. IDRiD_Disease Grading_Training Labels.csv', root, '2. Groundtruths/a. IDRiD_Disease Grading_Training Labels.csv');
  for (const id of ['IDRiD_001', 'IDRiD_002', 'IDRiD_003']) await writeImage(path.join(root, '1. Original Images', 'a. Training Set', `${id}.jpg`));
  const ds = await loadDataset(root);
  assert.equal(ds.format, 'idrid');
  assert.deepEqual(simple(ds), [
    ['IDRiD_001', '1. Original Images/a. Training Set/IDRiD_001.jpg', 3],
    ['IDRiD_002', '1. Original Images/a. Training Set/IDRiD_002.jpg', 0],
    ['IDRiD_003', '1. Original Images/a. Training Set/IDRiD_003.jpg', 4],
  ]);
});

test('idrid: with both label files the Training set is loaded; the Testing labels alone use b. Testing Set', async (t) => {
  const root = tempDir(t);
  const train = copyFixture('idrid/a. IDRiD_Disease Grading_Training Labels.csv', root, '2. Groundtruths/a. IDRiD_Disease Grading_Training Labels.csv');
  const testing = path.join(root, '2. Groundtruths', 'b. IDRiD_Disease Grading_Testing Labels.csv');
  writeFileSync(testing, 'Image name,Retinopathy grade,Risk of macular edema \r\nIDRiD_001,2,0\r\n');
  for (const id of ['IDRiD_001', 'IDRiD_002', 'IDRiD_003']) await writeImage(path.join(root, '1. Original Images', 'a. Training Set', `${id}.jpg`));
  await writeImage(path.join(root, '1. Original Images', 'b. Testing Set', 'IDRiD_001.jpg'));
  assert.equal((await loadDataset(root, 'idrid')).samples.length, 3);
  rmSync(train);
  assert.deepEqual(simple(await loadDataset(root)), [['IDRiD_001', '1. Original Images/b. Testing Set/IDRiD_001.jpg', 2]]);
});

test('idrid: a bad grade is reported on its true line (CRLF and a blank line before it)', async (t) => {
  const root = tempDir(t);
  const csv = path.join(root, 'labels.csv');
  writeFileSync(csv, 'Image name,Retinopathy grade,Risk of macular edema ,,\r\nIDRiD_001,3,2,,\r\n\r\nIDRiD_002,7,0,,\r\n');
  await writeImage(path.join(root, 'IDRiD_001.jpg'));
  await rejectsAt(loadDataset(root, 'idrid'), csv, 4, /unknown grade '7' in column Retinopathy grade \(expected an integer 0-4\)/);
});

test('generic: path,grade CSV given directly or found in its folder; paths relative to the CSV', async (t) => {
  const root = tempDir(t);
  const csv = copyFixture('generic/labels.csv', root, 'labels.csv');
  await writeImage(path.join(root, 'imgs', 'a.png'));
  await writeImage(path.join(root, 'other', 'b.jpg'));
  await writeImage(path.join(root, 'c.tif'));
  const expected = [['imgs/a', 'imgs/a.png', 0], ['other/b', 'other/b.jpg', 3], ['c', 'c.tif', 1]];
  const fromFile = await loadDataset(csv);
  assert.equal(fromFile.format, 'generic');
  assert.deepEqual(fromFile.samples.map((s) => [s.id, path.relative(root, s.path), s.grade]), expected);
  const fromDir = await loadDataset(root);
  assert.equal(fromDir.format, 'generic');
  assert.deepEqual(fromDir.samples.map((s) => [s.id, path.relative(root, s.path), s.grade]), expected);
});

test('generic: a missing image names the CSV line; two path,grade CSVs are ambiguous', async (t) => {
  const root = tempDir(t);
  const csv = path.join(root, 'mine.csv');
  writeFileSync(csv, 'path,grade\nx.png,0\nsub/y.png,1\n');
  await writeImage(path.join(root, 'x.png'));
  await rejectsAt(loadDataset(csv), csv, 3, /image 'sub\/y.png' not found/);
  writeFileSync(path.join(root, 'second.csv'), 'path,grade\nx.png,0\n');
  await rejectsAt(loadDataset(root, 'generic'), root, null, /several CSVs with columns path,grade \(mine.csv, second.csv\)/);
});

test('folder: PNG/JPEG/TIFF directly in the folder, sorted, grade null, other files ignored', async (t) => {
  const root = tempDir(t);
  await writeImage(path.join(root, 'b.jpg'));
  await writeImage(path.join(root, 'a.PNG'));
  await writeImage(path.join(root, 'c.tiff'));
  await writeImage(path.join(root, 'nested', 'd.png'));
  writeFileSync(path.join(root, 'notes.txt'), 'hello');
  const ds = await loadDataset(root);
  assert.equal(ds.format, 'folder');
  assert.deepEqual(simple(ds), [['a', 'a.PNG', null], ['b', 'b.jpg', null], ['c', 'c.tiff', null]]);
  await writeImage(path.join(root, 'a.jpeg'));
  await rejectsAt(loadDataset(root, 'folder'), root, null, /duplicate id 'a': both a.PNG and a.jpeg/);
});

test('auto-detection: unknown layout lists what it looked for; two layouts are ambiguous', async (t) => {
  const empty = tempDir(t);
  writeFileSync(path.join(empty, 'readme.txt'), 'nothing here');
  await rejectsAt(detectFormat(empty), empty, null, /unknown data set layout: looked for train\.csv \(id_code,diagnosis\); labels\.csv \(id_code,diagnosis\); trainLabels\.csv; messidor_data\.csv; an IDRiD grading CSV.*; a CSV with columns path,grade; or PNG\/JPEG\/TIFF images/);
  const both = await aptosLayout(t);
  writeFileSync(path.join(both, 'trainLabels.csv'), 'image,level\n');
  await rejectsAt(detectFormat(both), both, null, /ambiguous data set layout: matches aptos and eyepacs; pass --format/);
  await rejectsAt(loadDataset(path.join(empty, 'missing')), path.join(empty, 'missing'), null, /data set folder not found/);
  await assert.rejects(loadDataset(empty, 'nonsense' as never), /unknown data set format 'nonsense'/);
});

test('bad input: each error names the file and the line', async (t) => {
  const root = await aptosLayout(t);
  const csv = path.join(root, 'train.csv');
  const cases: [string, number | null, RegExp][] = [
    ['', 1, /empty label CSV: no header, expected columns id_code,diagnosis/],
    ['id_code,diagnosis\n', 1, /empty label CSV: a header but no rows/],
    ['id,grade\n000c1434d8d7,2\n', 1, /wrong header: expected columns id_code,diagnosis, found id,grade/],
    ['id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,2.0\n', 3, /unknown grade '2.0'/],
    ['id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,\n', 3, /unknown grade ''/],
    ['id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,-1\n', 3, /unknown grade '-1'/],
    ['id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,1\n000c1434d8d7,3\n', 4, /duplicate id '000c1434d8d7' \(first on line 2\)/],
    ['id_code,diagnosis\n000c1434d8d7,2\nffffffffffff,1\n', 3, /image for 'ffffffffffff' not found \(looked for ffffffffffff\.png in train_images\)/],
    ['id_code,diagnosis\n000c1434d8d7,2\n"001639a390f0,1\n', 3, /malformed CSV \(Quote Not Closed/],
    ['id_code,diagnosis\n000c1434d8d7\n', 2, /expected at least 2 fields, found 1/],
  ];
  for (const [text, line, pattern] of cases) {
    writeFileSync(csv, text);
    await rejectsAt(loadDataset(root, 'aptos'), csv, line, pattern);
  }
  const noLabels = tempDir(t);
  mkdirSync(path.join(noLabels, 'train_images'));
  await rejectsAt(loadDataset(noLabels, 'aptos'), path.join(noLabels, 'train.csv'), null, /label CSV not found/);
  await rejectsAt(loadDataset(noLabels, 'eyepacs'), path.join(noLabels, 'trainLabels.csv'), null, /label CSV not found/);
  await rejectsAt(loadDataset(noLabels, 'idrid'), noLabels, null, /no IDRiD grading CSV/);
});
