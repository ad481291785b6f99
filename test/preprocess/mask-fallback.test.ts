// The default retina mask checks the study's Otsu-on-green mask against the lit field of view
// (red > FIELD_RED_THRESHOLD) and keeps the field when Otsu covers less than 90% of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preprocessFundus, retinaMask } from '../../src/preprocess/index.ts';

/** A disc of radius r on black whose left half is dark in green (as a shadowed or haemorrhagic side) but lit in red. */
function halfDarkDisc(size = 200, r = 90) {
  const data = new Uint8Array(size * size * 3);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      if ((x - c) ** 2 + (y - c) ** 2 > r * r) continue;
      const i = (y * size + x) * 3;
      const dark = x < c;
      data[i] = dark ? 120 : 200;
      data[i + 1] = dark ? 22 : 150;
      data[i + 2] = dark ? 10 : 60;
    }
  return { width: size, height: size, channels: 3 as const, data };
}

test("retina mask: 'study' keeps Otsu's bright half, the default recovers the dark half from the field of view", () => {
  const img = halfDarkDisc();
  const study = retinaMask(img, { method: 'study' });
  const full = retinaMask(img);
  assert.equal(study.source, 'otsu');
  assert.equal(full.source, 'field');
  const disc = Math.PI * (0.98 * 90) ** 2;
  // The study's mask is the bright half (hull of a half disc, inside its own circle).
  assert.ok(study.area < 0.6 * disc, `study area ${study.area}`);
  assert.ok(Math.abs(full.area - disc) / disc < 0.03, `default area ${full.area} vs disc ${disc.toFixed(0)}`);
  // A pixel deep in the dark half: outside the study's mask, inside the default one.
  const at = 100 * 200 + 30;
  assert.equal(study.mask[at], 0);
  assert.equal(full.mask[at], 255);
});

test('retina mask: an evenly lit field keeps the Otsu mask (the check changes nothing there)', () => {
  const img = halfDarkDisc();
  for (let i = 0; i < img.data.length; i += 3) if (img.data[i]) [img.data[i], img.data[i + 1], img.data[i + 2]] = [200, 150, 60];
  const m = retinaMask(img);
  assert.equal(m.source, 'otsu');
  assert.deepEqual(m.mask, retinaMask(img, { method: 'study' }).mask);
});

test("preprocessFundus: mask 'study' and the default differ on the half-dark disc, and the default keeps its dark half", () => {
  const img = halfDarkDisc();
  const study = preprocessFundus(img, { size: 64, mask: 'study', clahe: false, green: false });
  const full = preprocessFundus(img, { size: 64, clahe: false, green: false });
  const lit = (m: Uint8Array) => m.reduce((a, v) => a + (v ? 1 : 0), 0);
  assert.ok(lit(full.mask) > 1.6 * lit(study.mask), `default ${lit(full.mask)} vs study ${lit(study.mask)} mask pixels`);
});
