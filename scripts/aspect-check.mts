// Does a photograph's aspect matter to a package trained on APTOS-224 (plain resizes to a square)?
//   npx tsx scripts/aspect-check.mts <model.onnx> <split.csv> [--data ../shared/data/aptos2019-224] [--stretch 1.3333] [--photos <dir>]
// On the split's validation images, each stretched horizontally by --stretch (INTER_AREA; 4/3 turns
// the squeezed retina of a 4:3 original back into a circle, as a camera photograph shows it):
//   (a) the image as it is, (b) stretched, preprocessed with the aspect kept (squash off),
//   (c) stretched, squashed to a square first (squash on);
// AUROC with DeLong against (a), sensitivity / specificity at the stored threshold. With --photos,
// the mean probability and the referrals of those photographs with squash off and on.
// The figures of models/MODEL_CARD.md ("Photographs that keep their aspect") come from this script.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DrXaiError, labelFor, type RgbImage } from '../src/core/index.ts';
import { loadDataset, readSplitCsv } from '../src/data/index.ts';
import { auroc, delongTest } from '../src/evaluate/index.ts';
import { loadModel, modelPreprocessConfig } from '../src/models/index.ts';
import { decodeFundus, preprocessFundus, resizeArea } from '../src/preprocess/index.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const [modelPath, splitCsv] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const k = Number(opt('--stretch') ?? 4 / 3);
const model = await loadModel(modelPath);
const cfg = modelPreprocessConfig(model.info);
const thr = model.info.operatingPoint?.threshold ?? 0.5;
const score = async (img: RgbImage, squash: boolean) => (await model.predict([preprocessFundus(img, { ...cfg, squash }).image])).probability[0];
const dataset = await loadDataset(opt('--data') ?? path.resolve(import.meta.dirname, '../../shared/data/aptos2019-224'));

const { val } = await readSplitCsv(splitCsv, dataset);
const labels: number[] = [];
const s: number[][] = [[], [], []];
for (const { id, path: file, grade } of val) {
  if (grade === null) continue;
  const d = await decodeFundus(readFileSync(file), id, model.info.input.size);
  const stretched = resizeArea(d.image, Math.round(d.image.width * k), d.image.height);
  try {
    const ps = [await score(d.image, false), await score(stretched, false), await score(stretched, true)];
    labels.push(labelFor(grade, 'referable'));
    ps.forEach((p, i) => s[i].push(p));
  } catch (e) {
    // no retina found: not scored, as evaluate excludes it
    if (!(e instanceof DrXaiError)) throw e;
  }
}
const at = (sc: number[]) => {
  let tp = 0, fn = 0, tn = 0, fp = 0;
  sc.forEach((p, i) => (labels[i] ? (p >= thr ? tp++ : fn++) : p >= thr ? fp++ : tn++));
  return `sens ${(tp / (tp + fn)).toFixed(3)} spec ${(tn / (tn + fp)).toFixed(3)}`;
};
console.log(`${path.basename(modelPath)}: ${labels.length} validation images, ${labels.filter((l) => l).length} referable; threshold ${thr.toFixed(4)}`);
const names = ['(a) as is', `(b) stretched x${k.toFixed(3)}, aspect kept`, '(c) stretched, squashed to a square'];
for (let i = 0; i < 3; i++) {
  const dl = i ? delongTest(labels, s[i], s[0]) : null;
  const vs = dl ? ` (vs a: ${dl.difference >= 0 ? '+' : ''}${dl.difference.toFixed(4)} [${dl.ci.lo.toFixed(4)}, ${dl.ci.hi.toFixed(4)}], p ${dl.p.toFixed(2)})` : '';
  console.log(`${names[i]}: AUROC ${auroc(labels, s[i]).toFixed(4)}${vs}; ${at(s[i])}`);
}

const photos = opt('--photos');
if (photos) {
  const ps: number[][] = [];
  for (const f of readdirSync(photos).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort()) {
    const d = await decodeFundus(readFileSync(path.join(photos, f)), f, model.info.input.size);
    ps.push([await score(d.image, false), await score(d.image, true)]);
  }
  const mean = (i: number) => (ps.reduce((a, r) => a + r[i], 0) / ps.length).toFixed(3);
  const referred = (i: number) => ps.filter((r) => r[i] >= thr).length;
  console.log(`${photos}: mean P aspect kept ${mean(0)}, squashed ${mean(1)}; referred ${referred(0)} vs ${referred(1)} of ${ps.length}`);
}
await model.release();
