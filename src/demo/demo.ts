/**
 * The embedded demo (`npm start` = `dr-xai demo`): the whole chain on generated phantom fundus
 * photographs in a few minutes on two cores — phantoms, a duplicate-aware split, preprocessing,
 * training a small CNN, evaluation on a held-out test split, Grad-CAM++ explanations — ending in
 * one report (report.md and the self-contained report.html) with its figures. It sits above
 * train, evaluate and explain, which do not know of it. Phantoms have known lesions, so the numbers say the
 * pipeline works end to end; they say nothing about performance on real photographs.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError, labelFor, writeFileAtomic, writeHtmlReport } from '../core/index.ts';
import { PHANTOM_DIFFICULTY, findDuplicateGroups, loadDataset, stratifiedSplit, writePhantomDataset, writeSplitCsv, type Sample } from '../data/index.ts';
import { evaluatePredictions, formatMetricsTable, type EvaluationResult, type SplitPredictions } from '../evaluate/index.ts';
import { CamExplainer, explainCases, pickBalanced } from '../explain/index.ts';
import { loadModel } from '../models/index.ts';
import { resolveTrainConfig, trainOnSplit, type ImageLoader } from '../train/index.ts';

export interface DemoOptions {
  /** Everything goes here (default artifacts/demo); its data/, run/ (with the preprocessed images), evaluation/ and cam/ are replaced. */
  outDir: string;
  /** Shown in the report and on the explanation boards. */
  disclaimer: string;
  /** Phantom images (default 480) and their size in pixels (default 160). */
  n?: number;
  phantomSize?: number;
  /** Model input size (default 128). */
  imgSize?: number;
  epochs?: number;
  seed?: number;
  /** Phantom lesion difficulty (default 'easy': clear lesions, no borderline cases, so a 2-minute model can learn them). */
  difficulty?: keyof typeof PHANTOM_DIFFICULTY;
  /** One line per finished stage. */
  stage?: (line: string) => void;
}

export interface DemoResult {
  /** report.html: the whole run on one self-contained page. */
  report: string;
  /** report.md, its source. */
  markdown: string;
  testAuroc: number;
  valAuroc: number;
  seconds: number;
}

const SUBDIRS = ['data', 'run', 'evaluation', 'cam'];

/** Run predictions over samples in batches with a loaded package. */
async function scores(modelPath: string, samples: Sample[], load: ImageLoader): Promise<number[]> {
  const model = await loadModel(modelPath);
  try {
    const out: number[] = [];
    for (let i = 0; i < samples.length; i += 32) {
      const batch = await Promise.all(samples.slice(i, i + 32).map(load));
      out.push(...(await model.predict(batch)).probability);
    }
    return out;
  } finally {
    await model.release();
  }
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const seed = opts.seed ?? 42;
  const n = opts.n ?? 480;
  const phantomSize = opts.phantomSize ?? 160;
  const imgSize = opts.imgSize ?? 128;
  const epochs = opts.epochs ?? 12;
  const difficulty = opts.difficulty ?? 'easy';
  const say = opts.stage ?? (() => {});
  const out = path.resolve(opts.outDir);
  const timed = async <T>(label: string, work: () => Promise<T>, summary: (r: T) => string): Promise<T> => {
    const t0 = Date.now();
    const r = await work();
    say(`${label.padEnd(10)} ${summary(r)}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    return r;
  };
  await fsp.mkdir(out, { recursive: true });
  for (const d of SUBDIRS) await fsp.rm(path.join(out, d), { recursive: true, force: true });

  // 1. Phantom photographs with APTOS's grade mix and a few exact duplicates (as APTOS has).
  const dataDir = path.join(out, 'data');
  const phantom = await timed(
    'phantoms',
    () => writePhantomDataset(dataDir, { n, seed, size: phantomSize, difficulty: PHANTOM_DIFFICULTY[difficulty], duplicates: Math.round(n / 60), quiet: true }),
    (r) => `${r.rows.length} images of ${phantomSize} px (${difficulty} lesions), grades 0-4: ${r.gradeCounts.join(', ')}`,
  );

  // 2. Split 60/20/20, stratified, duplicates on one side.
  const split = await timed(
    'split',
    async () => {
      const dataset = await loadDataset(dataDir, 'aptos224');
      const groups = await findDuplicateGroups(dataset.samples, { quiet: true });
      const s = stratifiedSplit(dataset.samples, { fractions: [0.6, 0.2, 0.2], seed, task: 'referable', groupBy: groups });
      await writeSplitCsv(path.join(out, 'split.csv'), s);
      return { s, groups: groups.length };
    },
    (r) => `train ${r.s.train.length}, val ${r.s.val.length}, test ${r.s.test.length} (${r.groups} duplicate groups kept together)`,
  );

  // 3-4. Preprocessing (mask, crop, CLAHE, green emphasis), once per image, then training.
  const cfg = resolveTrainConfig(
    {
      model_name: 'tiny_cnn',
      img_size: imgSize,
      // Small batches: more updates from a few hundred images. Milder photometric augmentation
      // than the recipe's: small lesions must keep their contrast for a 62k-parameter network.
      batch_size: 16,
      epochs,
      lr: 2e-3,
      warmup_epochs: 1,
      patience: epochs,
      seed,
      out_dir: out,
      run_name: 'run',
      checkpoint_every: 1000,
      augment: { hflip: 0.5, vflip: 0.5, rotate: 180, quarter_turns: false, scale: 0.05, shift: 0.02, brightness: 0.1, contrast: 0.1, gamma: 0.1 },
    },
    {},
    'demo',
  );
  const { trained, images } = await timed(
    'train',
    () =>
      trainOnSplit(
        cfg,
        { name: 'phantom', train: [...split.s.train], val: [...split.s.val], heldOut: [...split.s.test] },
        {
          cacheDir: path.join(out, '.preprocess-cache'),
          quiet: true,
          log: () => {},
          onPreprocessed: (p) => say(`${'preprocess'.padEnd(10)} ${p.processed + p.cached} images -> ${imgSize} px (retina mask, crop, CLAHE, green emphasis)`),
        },
      ),
    ({ trained: r }) => `tiny_cnn, ${r.history.length} epochs, best val AUROC ${r.best.valAuroc.toFixed(3)} (epoch ${r.best.epoch}), ${(r.history.reduce((a, h) => a + h.imagesPerSecond, 0) / r.history.length).toFixed(0)} img/s`,
  );

  // 5. Evaluation: threshold tuned on validation, applied to test.
  const evaluation: EvaluationResult = await timed(
    'evaluate',
    async () => {
      const splits: Record<string, SplitPredictions> = {};
      for (const [name, samples] of [['val', split.s.val], ['test', split.s.test]] as const) {
        const grades = samples.map((s) => s.grade as number);
        splits[name] = { ids: samples.map((s) => s.id), labels: grades.map((g) => labelFor(g, 'referable')), grades, scores: await scores(trained.modelPath, [...samples], images.load) };
      }
      return evaluatePredictions({ splits, task: 'referable', fixSpecificity: 0.95, tuneOn: 'val', bootstrap: 1000, seed, outDir: path.join(out, 'evaluation'), modelInfo: { model: 'tiny_cnn', data: 'phantom' } });
    },
    (r) => r.splits.map((s) => `${s.split} AUROC ${s.auroc.toFixed(3)}`).join(', '),
  );

  // 6. Explanations: Grad-CAM++ on a balanced handful of test images.
  const cam = await timed(
    'explain',
    async () => {
      const explainer = await CamExplainer.create(trained.modelPath);
      const cases = pickBalanced([...split.s.test].map((s) => ({ id: s.id, path: s.path, grade: s.grade })), 6, seed);
      return explainCases(explainer, cases, { outDir: path.join(out, 'cam'), disclaimer: opts.disclaimer, seed, quiet: true });
    },
    (r) => `Grad-CAM++ for ${r.cases.length} test images`,
  );

  const test = evaluation.splits.find((s) => s.split === 'test');
  const val = evaluation.splits.find((s) => s.split === 'val');
  if (!test || !val) throw new DrXaiError('demo: evaluation returned no test or val split');
  const seconds = (Date.now() - started) / 1000;
  const rel = (f: string) => path.relative(out, f).split(path.sep).join('/');
  const board = cam.files.find((f) => f.endsWith('board.png'));
  const history = trained.history.map((h) => `| ${h.epoch} | ${h.trainLoss.toFixed(4)} | ${h.valLoss.toFixed(4)} | ${h.valAuroc.toFixed(3)} | ${h.imagesPerSecond.toFixed(1)} |`);
  const md = [
    '# dr-xai demo report',
    '',
    `> ${opts.disclaimer}`,
    '',
    `Everything below was computed on **synthetic phantom** fundus images in ${seconds.toFixed(0)} s. Phantoms have known, drawn lesions: these numbers show that the chain works end to end, not how a model performs on real photographs.`,
    '',
    '## Data',
    '',
    `${phantom.rows.length} phantoms (${phantomSize} px, ${difficulty} lesion difficulty; grades 0-4: ${phantom.gradeCounts.join(', ')}), split 60/20/20 stratified by referable DR with duplicates kept together: train ${split.s.train.length}, val ${split.s.val.length}, test ${split.s.test.length} (\`split.csv\`). Preprocessing: retina mask, crop, CLAHE, green emphasis, ${imgSize} px.`,
    '',
    '## Training',
    '',
    `tiny_cnn from scratch, AdamW lr ${cfg.lr}, weight decay ${cfg.weight_decay}, cosine with warm-up, batch ${cfg.batch_size}, seeded augmentation. Best epoch ${trained.best.epoch}. Model package: \`${rel(trained.modelPath)}\` (+ JSON sidecar).`,
    '',
    '| epoch | train loss | val loss | val AUROC | img/s |',
    '|---:|---:|---:|---:|---:|',
    ...history,
    '',
    `![learning curve](${rel(path.join(trained.runDir, 'learning_curve.png'))})`,
    '',
    '## Evaluation (referable DR = grade >= 2)',
    '',
    `Threshold chosen on validation for specificity >= 0.95, applied unchanged to test. 95% bootstrap / Wilson intervals.`,
    '',
    '```',
    formatMetricsTable(evaluation.rows),
    '```',
    '',
    `![ROC (test)](evaluation/test_roc.png) ![PR (test)](evaluation/test_pr.png) ![calibration](evaluation/calibration.png)`,
    '',
    `Full evaluation report: \`evaluation/report.md\`.`,
    '',
    '## Explanations',
    '',
    'Grad-CAM++ heat maps of the referable-DR logit for a balanced set of test images (original | overlay). A heat map shows what the model used, not where disease is.',
    '',
    ...(board ? [`![Grad-CAM++ board](${rel(board)})`] : []),
    '',
    '---',
    '',
    `**${opts.disclaimer}**`,
    '',
  ].join('\n');
  const markdown = path.join(out, 'report.md');
  await writeFileAtomic(markdown, md);
  const report = await writeHtmlReport(markdown);
  return { report, markdown, testAuroc: test.auroc, valAuroc: val.auroc, seconds };
}
