/**
 * Photographs for the screening parity tests (test/screening/): one phantom fundus as JPEG, PNG
 * from which scripts/make-dicom-fixtures.py wraps the DICOM files.
 *   npx tsx scripts/make-screening-fixtures.ts && /usr/bin/python3 scripts/make-dicom-fixtures.py
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { encodePng } from '../src/core/index.ts';
import { generatePhantom } from '../src/data/index.ts';

const dir = path.resolve(import.meta.dirname, '..', 'test', 'fixtures', 'screening');
// 320 px: large enough that the 128 px test model shrinks the JPEG on load (factor 2).
const { image } = generatePhantom({ seed: 11, size: 320, grade: 3 });
writeFileSync(path.join(dir, 'phantom.png'), await encodePng(image));
writeFileSync(path.join(dir, 'phantom.jpg'), await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: 92, chromaSubsampling: '4:2:0' }).toBuffer());
