// Lesion masks of the real IDRiD photographs follow the preprocessing geometry. DRXAI_REAL_DATA=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { listLesionCases, prepareLesionCase } from '../../src/explain/index.ts';
import { ROOT } from './helpers.ts';

const real = process.env.DRXAI_REAL_DATA === '1';
const IDRID = path.resolve(ROOT, '../shared/data/idrid-lesions');

test('IDRiD: the optic-disc mask lands on the bright disc after crop and resize', { skip: !real && 'set DRXAI_REAL_DATA=1' }, async () => {
  const cases = await listLesionCases(IDRID);
  assert.equal(cases.length, 20);
  for (const c of cases.slice(0, 4)) {
    const p = await prepareLesionCase(c, { size: 448 });
    const lum = (i: number) => p.image.data[3 * i] + p.image.data[3 * i + 1] + p.image.data[3 * i + 2];
    let od = 0;
    let odSum = 0;
    let ret = 0;
    let retSum = 0;
    for (let i = 0; i < p.retina.length; i++) {
      if (!p.retina[i]) continue;
      ret++;
      retSum += lum(i);
      if (p.lesions.OD[i]) {
        od++;
        odSum += lum(i);
      }
    }
    assert.ok(od > 100, `${c.id}: OD has ${od} px`);
    // The optic disc is the brightest large structure: a shifted or flipped mask would not be.
    assert.ok(odSum / od > 1.3 * (retSum / ret), `${c.id}: OD mean ${odSum / od} vs retina mean ${retSum / ret}`);
  }
});
