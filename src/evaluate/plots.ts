import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { classNamesFor, findPlotFont, FONT_FAMILY } from '../core/index.ts';
import type { ReliabilityBin } from './calibration.ts';
import type { PrCurve, RocCurve } from './curves.ts';
import type { Interval } from './intervals.ts';

/** Plots are PLOT_SIZE x PLOT_SIZE CSS pixels (autosize 'fit'), rasterised at PLOT_SCALE. */
export const PLOT_SIZE = 520;
export const PLOT_SCALE = 2;
/** Pixel size of every PNG written by `renderPlot`. */
export const PLOT_PIXELS = PLOT_SIZE * PLOT_SCALE;

/**
 * Advance widths of DejaVu Sans 2.37 for ASCII 32..126, in font units (2048 per em), from
 *   /usr/bin/python3 -c "from fontTools.ttLib import TTFont; f = TTFont('DejaVuSans.ttf');
 *     print([f['hmtx'][f.getBestCmap()[c]][0] for c in range(32, 127)])"
 * Headless vega has no canvas to measure text and guesses 0.8 em per character, about a third
 * too wide, so 'fit' layouts shrink the plot to make room for titles that would have fitted.
 * Vega lets a host replace `textMetrics.width` (vl-convert does the same); this table makes
 * the layout match what resvg draws with DejaVu Sans.
 */
const DEJAVU_ADVANCE = [
  651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303,
  1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532,
  1612, 1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260,
  721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];
/** Characters outside ASCII: assume a wide glyph (capital M is 1767), so nothing is clipped. */
const DEJAVU_FALLBACK = 1767;

function dejavuTextWidth(text: string, fontSize: number): number {
  let units = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    units += c >= 32 && c < 127 ? DEJAVU_ADVANCE[c - 32] : DEJAVU_FALLBACK;
  }
  return (units / 2048) * fontSize;
}

function useDejaVuTextMetrics(): void {
  // vega re-exports vega-scenegraph's textMetrics at run time; vega-typings does not declare it.
  const { textMetrics } = vega as unknown as { textMetrics: { width: (item: { fontSize?: number }, line?: unknown) => number } };
  // Vega calls width(item, line) once per line; font size 11 is vega's default.
  textMetrics.width = (item, line) => dejavuTextWidth(line == null ? '' : String(line).trim(), item.fontSize ?? 11);
}

export interface RenderedPlot {
  svg: string;
  png: Buffer;
}

/** Vega-Lite spec -> Vega (headless, renderer 'none') -> SVG string -> PNG via resvg. */
export async function renderPlot(spec: vl.TopLevelSpec): Promise<RenderedPlot> {
  const fontFile = findPlotFont();
  useDejaVuTextMetrics();
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: 'zoom', value: PLOT_SCALE },
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
    })
      .render()
      .asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

const BASE = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  width: PLOT_SIZE,
  height: PLOT_SIZE,
  autosize: { type: 'fit', contains: 'padding' },
  padding: 12,
  background: 'white',
  config: {
    font: `${FONT_FAMILY}, sans-serif`,
    title: { fontSize: 15, subtitleFontSize: 12, anchor: 'start', offset: 10 },
    axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridColor: '#e6e6e6' },
    legend: { labelFontSize: 12, titleFontSize: 12 },
  },
} as const;

const UNIT = { type: 'quantitative', scale: { domain: [0, 1], nice: false } } as const;
const fmt = (x: number) => x.toFixed(3);
const ci = (i: Interval) => `[${fmt(i.lo)}, ${fmt(i.hi)}]`;
/** Put a point's label on the side with room, so it never leaves the plot (which 'fit' would shrink for). */
const labelSide = (x: number) => (x > 0.5 ? { align: 'right' as const, dx: -10 } : { align: 'left' as const, dx: 10 });

/** What to mark at the operating point; intervals are drawn as error bars. */
export interface PlotOperatingPoint {
  threshold: number;
  sensitivity: number;
  sensitivityCi: Interval;
  specificity: number;
  specificityCi: Interval;
  ppv: number | null;
}

/**
 * ROC curve (straight segments between scikit-learn's ROC points, whose trapezoids are the
 * AUROC), the chance diagonal, and the operating point with its bootstrap CIs as error bars.
 */
export function rocSpec(split: string, roc: RocCurve, aurocValue: number, aurocCi: Interval, op: PlotOperatingPoint): vl.TopLevelSpec {
  const curve = roc.fpr.map((x, i) => ({ x, y: roc.tpr[i], order: i }));
  const opX = 1 - op.specificity;
  return {
    ...BASE,
    title: {
      text: `${split}: ROC, AUROC ${fmt(aurocValue)} ${ci(aurocCi)}`,
      subtitle: [
        `Operating point (red): score >= ${fmt(op.threshold)}`,
        `sensitivity ${fmt(op.sensitivity)} ${ci(op.sensitivityCi)}`,
        `specificity ${fmt(op.specificity)} ${ci(op.specificityCi)}`,
      ],
    },
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [6, 4], color: '#888888', strokeWidth: 1.5 },
        encoding: { x: { field: 'x', ...UNIT, title: '1 - specificity (false-positive rate)' }, y: { field: 'y', ...UNIT, title: 'sensitivity (true-positive rate)' } },
      },
      {
        data: { values: [{ x: 0.62, y: 0.56, text: 'chance' }] },
        mark: { type: 'text', color: '#777777', fontSize: 12, angle: -45 },
        encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, text: { field: 'text' } },
      },
      {
        data: { values: curve },
        mark: { type: 'line', color: '#1f5fa8', strokeWidth: 2.5 },
        encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, order: { field: 'order', type: 'quantitative' } },
      },
      {
        data: { values: [{ x: opX, y: op.sensitivityCi.lo, y2: op.sensitivityCi.hi, x1: 1 - op.specificityCi.hi, x2: 1 - op.specificityCi.lo, yc: op.sensitivity }] },
        layer: [
          { mark: { type: 'rule', color: '#c0392b', strokeWidth: 2 }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, y2: { field: 'y2' } } },
          { mark: { type: 'rule', color: '#c0392b', strokeWidth: 2 }, encoding: { x: { field: 'x1', ...UNIT }, x2: { field: 'x2' }, y: { field: 'yc', ...UNIT } } },
        ],
      },
      {
        data: { values: [{ x: opX, y: op.sensitivity, label: `operating point (>= ${fmt(op.threshold)})` }] },
        layer: [
          { mark: { type: 'point', filled: true, color: '#c0392b', size: 110, stroke: 'white', strokeWidth: 1 }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT } } },
          { mark: { type: 'text', ...labelSide(opX), dy: 16, fontSize: 12, color: '#c0392b' }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, text: { field: 'label' } } },
        ],
      },
    ],
  } as unknown as vl.TopLevelSpec; // layered literals are checked by vl.compile at render time
}

/**
 * PR curve drawn as scikit-learn's step function (precision P_n held over (R_{n-1}, R_n], the
 * area that AP sums), the prevalence baseline (a no-skill classifier's precision), and the
 * operating point (sensitivity = recall, PPV = precision) with the sensitivity CI.
 */
export function prSpec(split: string, pr: PrCurve, ap: number, apCi: Interval, prevalence: number, op: PlotOperatingPoint): vl.TopLevelSpec {
  const n = pr.recall.length;
  // pr arrays run from high recall to (0, 1); draw them in increasing recall.
  const curve = pr.recall.map((r, i) => ({ x: r, y: pr.precision[i], order: n - 1 - i }));
  const layers: unknown[] = [
    {
      data: { values: [{ y: prevalence }] },
      mark: { type: 'rule', strokeDash: [6, 4], color: '#888888', strokeWidth: 1.5 },
      encoding: { y: { field: 'y', ...UNIT } },
    },
    {
      data: { values: [{ x: 0.98, y: prevalence, text: `prevalence ${fmt(prevalence)} (no skill)` }] },
      mark: { type: 'text', align: 'right', dy: -8, color: '#777777', fontSize: 12 },
      encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, text: { field: 'text' } },
    },
    {
      data: { values: curve },
      mark: { type: 'line', interpolate: 'step-before', color: '#1f5fa8', strokeWidth: 2.5 },
      encoding: { x: { field: 'x', ...UNIT, title: 'recall (sensitivity)' }, y: { field: 'y', ...UNIT, title: 'precision (PPV)' }, order: { field: 'order', type: 'quantitative' } },
    },
  ];
  if (op.ppv !== null) {
    layers.push({
      data: { values: [{ x: op.sensitivity, x1: op.sensitivityCi.lo, x2: op.sensitivityCi.hi, y: op.ppv, label: `operating point (>= ${fmt(op.threshold)})` }] },
      layer: [
        { mark: { type: 'rule', color: '#c0392b', strokeWidth: 2 }, encoding: { x: { field: 'x1', ...UNIT }, x2: { field: 'x2' }, y: { field: 'y', ...UNIT } } },
        { mark: { type: 'point', filled: true, color: '#c0392b', size: 110, stroke: 'white', strokeWidth: 1 }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT } } },
        { mark: { type: 'text', ...labelSide(op.sensitivity), dy: 16, fontSize: 12, color: '#c0392b' }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, text: { field: 'label' } } },
      ],
    });
  }
  return {
    ...BASE,
    title: {
      text: `${split}: precision-recall, AP ${fmt(ap)} ${ci(apCi)}`,
      subtitle: op.ppv === null
        ? ['Operating point calls nothing positive', '(PPV undefined, not drawn)']
        : [`Operating point (red): score >= ${fmt(op.threshold)}`, `recall ${fmt(op.sensitivity)} ${ci(op.sensitivityCi)}, PPV ${fmt(op.ppv)}`],
    },
    layer: layers,
  } as unknown as vl.TopLevelSpec; // layered literals are checked by vl.compile at render time
}

/** Reliability diagram: fraction positive against mean predicted probability per bin, one line per split. */
export function calibrationSpec(splits: Array<{ split: string; bins: ReliabilityBin[]; ece: number; brier: number }>): vl.TopLevelSpec {
  const points = splits.flatMap(({ split, bins }) =>
    bins.filter((b) => b.count > 0).map((b) => ({ split, x: b.meanPredicted, y: b.fractionPositive, count: b.count })),
  );
  return {
    ...BASE,
    title: {
      text: `Calibration, ${splits[0]?.bins.length ?? 0} equal-width bins`,
      subtitle: splits.map((s) => `${s.split}: ECE ${fmt(s.ece)}, Brier ${fmt(s.brier)}`),
    },
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [6, 4], color: '#888888', strokeWidth: 1.5 },
        encoding: { x: { field: 'x', ...UNIT, title: 'mean predicted probability (referable)' }, y: { field: 'y', ...UNIT, title: 'fraction referable (observed)' } },
      },
      {
        data: { values: [{ x: 0.62, y: 0.56, text: 'perfect calibration' }] },
        mark: { type: 'text', color: '#777777', fontSize: 12, angle: -45 },
        encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, text: { field: 'text' } },
      },
      {
        data: { values: points },
        layer: [
          { mark: { type: 'line', strokeWidth: 2 }, encoding: { x: { field: 'x', ...UNIT }, y: { field: 'y', ...UNIT }, color: { field: 'split', type: 'nominal', title: 'split', legend: { orient: 'bottom-right' } } } },
          {
            mark: { type: 'point', filled: true, opacity: 0.85 },
            encoding: {
              x: { field: 'x', ...UNIT },
              y: { field: 'y', ...UNIT },
              color: { field: 'split', type: 'nominal' },
              size: { field: 'count', type: 'quantitative', title: 'images in bin', scale: { range: [20, 300] }, legend: { orient: 'bottom-right' } },
            },
          },
        ],
      },
    ],
  } as unknown as vl.TopLevelSpec; // layered literals are checked by vl.compile at render time
}

/**
 * Five-grade confusion matrix as a heat map: rows the true grade, columns the predicted grade,
 * each cell's count with its share of the true grade's row as the colour, so rare grades
 * (severe, proliferative) read as clearly as the common ones.
 */
export function gradeConfusionSpec(split: string, matrix: number[][], qwk: number): vl.TopLevelSpec {
  const names = classNamesFor('grade');
  const cells = matrix.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ truth: names[t], predicted: names[p], count, share: total ? count / total : 0 }));
  });
  const axis = { type: 'ordinal', sort: names } as const;
  return {
    ...BASE,
    title: { text: `Grade confusion, ${split}`, subtitle: `quadratic weighted kappa ${fmt(qwk)}; colour: share of the true grade` },
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', ...axis, title: 'predicted grade', axis: { grid: false, labelAngle: -30 } },
      y: { field: 'truth', ...axis, title: 'true grade', axis: { grid: false } },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'share', type: 'quantitative', scale: { scheme: 'blues', domain: [0, 1] }, title: 'row share' } } },
      { mark: { type: 'text', fontSize: 14 }, encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' } } },
    ],
  } as unknown as vl.TopLevelSpec;
}
