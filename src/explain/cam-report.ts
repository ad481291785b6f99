/**
 * `dr-xai cam`: original | overlay pairs for a balanced set of validation cases, one PNG per case
 * and a board, with label, probability and decision in each caption; optionally the
 * deletion/insertion faithfulness of each map against a random pixel order.
 */
import path from 'node:path';
import { composeBoard, DrXaiError, isUserError, Rng, progressBar, toCsv, writeFileAtomic, writeHtmlReport, type BoardCell } from '../core/index.ts';
import { decideFromLogits } from '../models/index.ts';
import type { PreprocessConfig } from '../preprocess/index.ts';
import type { CamExplainer } from './explainer.ts';
import { faithfulnessCurves } from './faithfulness.ts';
import { preprocessFile } from './lesions.ts';
import { imageAndOverlay, shrink, sixDigits } from './pictures.ts';
import { REFERABLE_TARGET, targetLabel, type CamTarget } from './targets.ts';

export interface CamCase {
  id: string;
  path: string;
  /** ICDR grade, or null when unlabelled. */
  grade: number | null;
}

/**
 * Up to n/2 non-referable (grade 0-1) and n/2 referable (grade >= 2) cases in a seeded random
 * order (a class short of cases leaves its slots to the other).
 */
export function pickBalanced(cases: CamCase[], n: number, seed: number): CamCase[] {
  const shuffled = new Rng(seed).shuffle([...cases]);
  const neg = shuffled.filter((c) => c.grade !== null && c.grade < 2);
  const pos = shuffled.filter((c) => c.grade !== null && c.grade >= 2);
  const half = Math.floor(n / 2);
  const nPos = Math.min(pos.length, Math.max(n - half, n - neg.length));
  const nNeg = Math.min(neg.length, n - nPos);
  return [...neg.slice(0, nNeg), ...pos.slice(0, nPos)];
}

export interface CamReportOptions {
  outDir: string;
  disclaimer: string;
  target?: CamTarget;
  faithfulness?: boolean;
  /** Steps of the faithfulness curves (default 16). */
  steps?: number;
  seed?: number;
  tile?: number;
  quiet?: boolean;
}

export interface CamCaseResult {
  id: string;
  grade: number | null;
  probability: number;
  decision: string;
  faithfulness?: { deletionAuc: number; insertionAuc: number; randomDeletionAuc: number; randomInsertionAuc: number };
}

export interface CamReport {
  cases: CamCaseResult[];
  /** Cases whose photograph could not be read or has no retina, with the reason; the rest went on. */
  failed: Array<{ id: string; reason: string }>;
  files: string[];
  /** Mean AUCs over the cases, when faithfulness was measured. */
  faithfulness?: { deletionAuc: number; insertionAuc: number; randomDeletionAuc: number; randomInsertionAuc: number };
}

function gradeText(grade: number | null): string {
  if (grade === null) return 'unlabelled';
  return `grade ${grade} (${grade >= 2 ? 'referable' : 'non-referable'})`;
}

export async function explainCases(explainer: CamExplainer, cases: CamCase[], opts: CamReportOptions): Promise<CamReport> {
  const config = { ...(explainer.info.preprocess as Partial<PreprocessConfig>), size: explainer.size };
  const target = opts.target ?? REFERABLE_TARGET;
  const threshold = explainer.info.operatingPoint?.threshold;
  const bar = progressBar('cam', cases.length, { quiet: opts.quiet });
  const cells: BoardCell[] = [];
  const results: CamCaseResult[] = [];
  const files: string[] = [];
  const failed: CamReport['failed'] = [];
  for (const c of cases) {
    let pre: Awaited<ReturnType<typeof preprocessFile>>;
    try {
      pre = await preprocessFile(c.path, config);
    } catch (e) {
      if (!isUserError(e)) throw e;
      failed.push({ id: c.id, reason: e.message });
      bar.tick();
      continue;
    }
    const [a] = await explainer.attribute([pre.image], { target });
    // The screening's decision rule (src/models/decision.ts): none for an ungradable photograph.
    const [d] = decideFromLogits(explainer.info, a.logits, [pre.quality.gradable]);
    const decision =
      target.kind !== 'referable' ? '' : threshold === undefined ? 'no operating point' : d.referable === null ? 'ungradable: no decision' : d.referable ? `refer (t=${threshold.toFixed(3)})` : `no referral (t=${threshold.toFixed(3)})`;
    const result: CamCaseResult = { id: c.id, grade: c.grade, probability: a.probability, decision };
    if (opts.faithfulness) {
      const steps = opts.steps ?? 16;
      const byMap = await faithfulnessCurves(explainer, pre.image, a.map, { target, retina: pre.mask, steps });
      const byChance = await faithfulnessCurves(explainer, pre.image, a.map, { target, retina: pre.mask, steps, order: { random: opts.seed ?? 0 } });
      result.faithfulness = { deletionAuc: byMap.deletionAuc, insertionAuc: byMap.insertionAuc, randomDeletionAuc: byChance.deletionAuc, randomInsertionAuc: byChance.insertionAuc };
    }
    results.push(result);
    const [plain, over] = imageAndOverlay(pre.image, a.map, pre.mask);
    const caption = [`${c.id}  ${gradeText(c.grade)}`, `P(${targetLabel(target)}) ${a.probability.toFixed(3)}${decision ? `  ${decision}` : ''}`];
    const file = path.join(opts.outDir, `${c.id}.png`);
    await writeFileAtomic(file, await composeBoard([{ images: [plain, over], caption }], { title: `${explainer.method.name}: ${c.id}`, footer: [opts.disclaimer], columns: 1 }));
    files.push(file);
    cells.push({ images: [await shrink(plain, opts.tile ?? 224), await shrink(over, opts.tile ?? 224)], caption });
    bar.tick();
  }
  bar.stop();
  if (results.length === 0) throw new DrXaiError(`no case could be explained; first reason: ${failed[0]?.reason ?? 'no cases'}`);
  const board = path.join(opts.outDir, 'board.png');
  await writeFileAtomic(board, await composeBoard(cells, { title: `${explainer.method.name} for ${targetLabel(target)}: ${path.basename(explainer.onnxPath)} (original | overlay)`, footer: [opts.disclaimer], columns: 2 }));
  files.push(board);
  const report: CamReport = { cases: results, failed, files };
  const measured = results.filter((r) => r.faithfulness);
  if (measured.length) {
    const mean = (f: (r: CamCaseResult) => number) => measured.reduce((s, r) => s + f(r), 0) / measured.length;
    report.faithfulness = {
      deletionAuc: mean((r) => r.faithfulness!.deletionAuc),
      insertionAuc: mean((r) => r.faithfulness!.insertionAuc),
      randomDeletionAuc: mean((r) => r.faithfulness!.randomDeletionAuc),
      randomInsertionAuc: mean((r) => r.faithfulness!.randomInsertionAuc),
    };
  }
  const header = ['id', 'grade', 'probability', 'decision', 'deletion_auc', 'insertion_auc', 'random_deletion_auc', 'random_insertion_auc'];
  const csv = toCsv(
    header,
    results.map((r) => {
      const f = r.faithfulness;
      return [r.id, r.grade, r.probability, r.decision, f?.deletionAuc, f?.insertionAuc, f?.randomDeletionAuc, f?.randomInsertionAuc].map(sixDigits);
    }),
  );
  const csvFile = path.join(opts.outDir, 'cams.csv');
  await writeFileAtomic(csvFile, csv);
  files.push(csvFile);
  const threeDecimals = (x: number | undefined) => (x === undefined ? '' : x.toFixed(3));
  const md = [
    `# ${explainer.method.name} heat maps: ${path.basename(explainer.onnxPath)}`,
    '',
    `> **${opts.disclaimer}**`,
    '',
    `${results.length} cases, target ${targetLabel(target)}. A heat map shows what the model used, not where disease is.`,
    '',
    '| id | grade | probability | decision | deletion AUC | insertion AUC |',
    '|---|---|---:|---|---:|---:|',
    ...results.map((r) => `| ${r.id} | ${gradeText(r.grade)} | ${r.probability.toFixed(3)} | ${r.decision} | ${threeDecimals(r.faithfulness?.deletionAuc)} | ${threeDecimals(r.faithfulness?.insertionAuc)} |`),
    '',
    '![board](board.png)',
    '',
    ...(failed.length ? [`## Not explained (${failed.length})`, '', '| id | reason |', '|---|---|', ...failed.map((f) => `| ${f.id} | ${f.reason.replace(/\|/g, '\\|')} |`), ''] : []),
  ].join('\n');
  const mdFile = path.join(opts.outDir, 'report.md');
  await writeFileAtomic(mdFile, md);
  files.push(mdFile, await writeHtmlReport(mdFile));
  return report;
}
