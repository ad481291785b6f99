/**
 * Would an ensemble help? Measured without training anything, from out-of-fold predictions that
 * `dr-xai cv` already wrote: each image's score in every file comes from a model that never saw
 * that image, so the mean logit of two or more files is the OOF score of an ensemble of such
 * models. Prints each member's and the ensemble's pooled AUROC, the sensitivity at specificity
 * 0.95 (exact, and with the conservative rule the packages use), DeLong against each member, and
 * the ensemble's referral by true grade.
 *
 *   npx tsx scripts/oof-ensemble.mts <run>-cv/oof_predictions.csv <other>-cv/oof_predictions.csv [...]
 *
 * (The files must hold the same images; a grade model's `probability` column is P(grade >= 2).)
 */
import { parse } from 'csv-parse/sync';
import { DrXaiError, readFileOrFail } from '../src/core/index.ts';
import { auroc, chooseOperatingPoint, delongTest, formatReferralByGrade, referralByGrade } from '../src/evaluate/index.ts';

const files = process.argv.slice(2);
if (files.length < 2) {
  console.error('usage: npx tsx scripts/oof-ensemble.mts <oof_predictions.csv> <oof_predictions.csv> [...]');
  process.exit(2);
}
try {
  const tables = await Promise.all(files.map(async (f) => new Map((parse(await readFileOrFail(f, 'OOF predictions'), { columns: true }) as Record<string, string>[]).map((r) => [r.id, r]))));
  const ids = [...tables[0].keys()];
  for (const [k, t] of tables.entries()) if (t.size !== ids.length || ids.some((id) => !t.has(id))) throw new DrXaiError('holds other images than the first file', { file: files[k] });
  const first = tables[0];
  const labels = ids.map((id) => Number(first.get(id)!.label));
  const grades = ids.map((id) => Number(first.get(id)!.grade));
  const members = tables.map((t) => ids.map((id) => Number(t.get(id)!.probability)));
  const logit = (p: number) => Math.log(Math.max(p, 1e-7) / Math.max(1 - p, 1e-7));
  const ensemble = ids.map((_, i) => 1 / (1 + Math.exp(-members.reduce((a, s) => a + logit(s[i]), 0) / members.length)));
  const line = (name: string, s: number[]) => {
    const exact = chooseOperatingPoint(labels, s, { targetSpecificity: 0.95, mode: 'constrained' });
    const conservative = chooseOperatingPoint(labels, s, { targetSpecificity: 0.95, mode: 'conservative' });
    console.log(`${name}: AUROC ${auroc(labels, s).toFixed(4)}, sensitivity at spec >= 0.95 ${exact.sensitivity.toFixed(3)}, conservative ${conservative.sensitivity.toFixed(3)} (spec ${conservative.specificity.toFixed(3)})`);
    return conservative;
  };
  console.log(`${ids.length} images, ${labels.filter((l) => l === 1).length} referable`);
  members.forEach((s, k) => line(files[k], s));
  const op = line(`ensemble of ${files.length} (mean logit)`, ensemble);
  for (const [k, s] of members.entries()) {
    const d = delongTest(labels, ensemble, s);
    console.log(`  ensemble - ${files[k]}: ${d.difference >= 0 ? '+' : ''}${d.difference.toFixed(4)} [${d.ci.lo.toFixed(4)}, ${d.ci.hi.toFixed(4)}], p = ${d.p.toFixed(2)}`);
  }
  console.log(`  referred by true grade at the conservative threshold: ${formatReferralByGrade(referralByGrade(grades, ensemble, op.threshold))}`);
} catch (e) {
  if (!(e instanceof DrXaiError)) throw e;
  console.error(`oof-ensemble: ${e.message}`);
  process.exit(1);
}
