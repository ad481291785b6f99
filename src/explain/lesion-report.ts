/**
 * `dr-xai cam-score`: heat maps of every photograph of a lesion folder, scored against its
 * masks, next to two trivial maps (seeded uniform noise in the retina, a centre Gaussian), so the
 * table says whether the model's maps beat them. Writes cam_score.md, cam_score.csv, board.png
 * and report.html (cam_score.md with the board inlined)
 * and cases/<id>.png.
 */
import path from 'node:path';
import { composeBoard, Rng, progressBar, toCsv, writeFileAtomic, writeHtmlReport, type BoardCell, type CsvValue } from '../core/index.ts';
import type { PreprocessConfig } from '../preprocess/index.ts';
import type { CamExplainer } from './explainer.ts';
import { listLesionCases, prepareLesionCase, MASK_KINDS, type MaskKind } from './lesions.ts';
import { imageAndOverlay, shrink, sixDigits } from './pictures.ts';
import { LESION_KINDS, anyLesion, centreGaussianHeatmap, randomHeatmap, scoreHeatmap, summariseScores, type HeatScore, type ScoreSummary } from './score.ts';
import { REFERABLE_TARGET, targetLabel, type CamTarget } from './targets.ts';

export const MAP_KINDS = ['cam', 'random', 'centre'] as const;
export type MapKind = (typeof MAP_KINDS)[number];

export interface LesionReportOptions {
  outDir: string;
  /** Footer of the board (the research-use disclaimer). */
  disclaimer: string;
  target?: CamTarget;
  tolerance?: number;
  /** Seed of the random baseline (default 0). */
  seed?: number;
  /** Board tile size (default 224). */
  tile?: number;
  quiet?: boolean;
}

export interface LesionCaseScores {
  id: string;
  probability: number;
  area: Record<MaskKind, number>;
  /**
   * Share of the lesion pixels (any of MA, HE, EX, SE) outside the preprocessing's retina mask:
   * those are black in the model input and left out of every score.
   */
  lesionOutsideRetina: number | null;
  scores: Record<MapKind, HeatScore>;
}

function lesionOutside(lesions: Parameters<typeof anyLesion>[0], retina: Uint8Array): number | null {
  const union = anyLesion(lesions);
  let all = 0;
  let outside = 0;
  for (let i = 0; i < union.length; i++) {
    if (!union[i]) continue;
    all++;
    if (!retina[i]) outside++;
  }
  return all ? outside / all : null;
}

export interface LesionReport {
  cases: LesionCaseScores[];
  summaries: Record<MapKind, ScoreSummary>;
  markdown: string;
  files: string[];
}

const fmt = (v: number | null, digits = 2) => (v === null ? 'n/a' : v.toFixed(digits));
const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`);

/** The summary table (markdown), one row per map kind. */
export function formatLesionTable(summaries: Record<MapKind, ScoreSummary>, methodName: string): string {
  const head = ['map', 'pointing game', ...LESION_KINDS.map((k) => `${k} heat/area`), 'any lesion heat/area', 'OD heat share', 'OD area share', 'heat outside retina'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const label: Record<MapKind, string> = { cam: methodName, random: 'random (baseline)', centre: 'centre Gaussian (baseline)' };
  for (const kind of MAP_KINDS) {
    const s = summaries[kind];
    const pg = s.pointingGame === null ? 'n/a' : `${pct(s.pointingGame)} (${Math.round(s.pointingGame * s.pointingImages)}/${s.pointingImages})`;
    lines.push(`| ${[label[kind], pg, ...LESION_KINDS.map((k) => fmt(s.energyRatio[k])), fmt(s.energyRatio.any), pct(s.odHeatShare), pct(s.odAreaShare), pct(s.outsideRetina)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * The random baseline's seed for one photograph: the seed mixed with its id (FNV-1a), so that each
 * photograph's noise map is the same whatever else is in the folder and however many retina pixels
 * (draws) the others' masks have.
 */
function caseSeed(seed: number, id: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export async function scoreLesionFolder(explainer: CamExplainer, root: string, opts: LesionReportOptions): Promise<LesionReport> {
  const cases = await listLesionCases(root);
  const config = { ...(explainer.info.preprocess as Partial<PreprocessConfig>), size: explainer.size };
  const target = opts.target ?? REFERABLE_TARGET;
  const size = explainer.size;
  const centre = centreGaussianHeatmap(size, size);
  const tile = opts.tile ?? 224;
  const bar = progressBar('cam-score', cases.length, { quiet: opts.quiet });
  const results: LesionCaseScores[] = [];
  const cells: BoardCell[] = [];
  const files: string[] = [];
  for (const c of cases) {
    const prepared = await prepareLesionCase(c, config);
    const [a] = await explainer.attribute([prepared.image], { target });
    const maps: Record<MapKind, Float32Array> = { cam: a.map, random: randomHeatmap(new Rng(caseSeed(opts.seed ?? 0, c.id)), size, size, prepared.retina), centre };
    const scores = {} as Record<MapKind, HeatScore>;
    for (const kind of MAP_KINDS) scores[kind] = scoreHeatmap(maps[kind], size, size, prepared.lesions, prepared.retina, { tolerance: opts.tolerance });
    results.push({ id: c.id, probability: a.probability, area: prepared.area, lesionOutsideRetina: lesionOutside(prepared.lesions, prepared.retina), scores });
    const [plain, over] = imageAndOverlay(prepared.image, a.map, prepared.retina, prepared.lesions);
    const s = scores.cam;
    const caption = [
      `${c.id}  P(${targetLabel(target)}) ${a.probability.toFixed(2)}`,
      `max on lesion: ${s.pointingHit === null ? 'n/a' : s.pointingHit ? 'yes' : 'no'}  lesion heat/area ${fmt(s.energyRatio.any)}  OD ${pct(s.odHeatShare)}`,
    ];
    const file = path.join(opts.outDir, 'cases', `${c.id}.png`);
    const pair = await composeBoard([{ images: [plain, over], caption: [...caption, 'outlines: white lesions (MA, HE, EX, SE), magenta optic disc'] }], { title: `${c.id}: ${explainer.method.name}`, footer: [opts.disclaimer], columns: 1 });
    await writeFileAtomic(file, pair);
    files.push(file);
    cells.push({ images: [await shrink(plain, tile), await shrink(over, tile)], caption });
    bar.tick();
  }
  bar.stop();
  const summaries = {} as Record<MapKind, ScoreSummary>;
  for (const kind of MAP_KINDS) summaries[kind] = summariseScores(results.map((r) => r.scores[kind]));
  const table = formatLesionTable(summaries, explainer.method.name);
  const clipped = results.filter((r) => (r.lesionOutsideRetina ?? 0) >= 0.05);
  const clippedNote = clipped.length
    ? `- lesion pixels outside the preprocessing's retina mask (black in the model input, left out of the scores): ${clipped.map((r) => `${r.id} ${pct(r.lesionOutsideRetina)}`).join(', ')}.`
    : '- every image keeps at least 95% of its lesion pixels inside the retina mask.';
  const markdown = [
    `# Heat maps against lesion masks: ${path.basename(explainer.onnxPath)}`,
    '',
    `${results.length} photographs from \`${root}\`, ${explainer.method.name} on layer \`${explainer.layer}\` for ${targetLabel(target)}, at ${size} px after the model's preprocessing (masks moved by the same geometry).`,
    '',
    table,
    '',
    '- pointing game: the maximum of the map inside the retina lies within 1% of the width of a lesion pixel (MA, HE, EX or SE); images without lesions are not counted.',
    '- heat/area: share of the retina\'s heat on the lesion type divided by its share of the retina\'s area (1 = a uniform map); mean over images where the type is present.',
    '- baselines: seeded uniform noise in the retina; a Gaussian at the centre with sigma = width/4.',
    clippedNote,
    '',
    '![heat maps over the lesion masks](board.png)',
    '',
    `_${opts.disclaimer}_`,
    '',
  ].join('\n');
  const header = ['id', 'map', 'probability', 'pointing_hit', 'max_x', 'max_y', ...LESION_KINDS.map((k) => `ratio_${k}`), 'ratio_any', 'od_heat_share', 'od_area_share', 'outside_retina', 'lesion_outside_retina_mask', ...MASK_KINDS.map((k) => `area_${k}`)];
  const rows = results.flatMap((r) =>
    MAP_KINDS.map((kind) => {
      const s = r.scores[kind];
      return [r.id, kind, r.probability, s.pointingHit, s.maxAt.x, s.maxAt.y, ...LESION_KINDS.map((k) => s.energyRatio[k]), s.energyRatio.any, s.odHeatShare, s.odAreaShare, s.outsideRetina, r.lesionOutsideRetina, ...MASK_KINDS.map((k) => r.area[k])].map((v) =>
        sixDigits(v as CsvValue),
      );
    }),
  );
  const md = path.join(opts.outDir, 'cam_score.md');
  const csv = path.join(opts.outDir, 'cam_score.csv');
  const board = path.join(opts.outDir, 'board.png');
  await writeFileAtomic(csv, toCsv(header, rows));
  await writeFileAtomic(board, await composeBoard(cells, { title: `${explainer.method.name} on ${results.length} lesion photographs (white: lesions, magenta: optic disc)`, footer: [opts.disclaimer], columns: 4 }));
  await writeFileAtomic(md, markdown);
  files.push(csv, board, md, await writeHtmlReport(md));
  return { cases: results, summaries, markdown, files };
}
