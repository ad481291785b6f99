/**
 * Run logs: one record per epoch as JSON lines (log.jsonl) and CSV (log.csv), both rewritten
 * whole from the checkpointed history after every epoch (so a resumed run never holds a line
 * twice), and the learning curve (learning_curve.png) drawn with src/evaluate's vega-lite
 * renderer.
 */
import path from 'node:path';
import { NUM_GRADES, toCsv, writeFileAtomic } from '../core/index.ts';
import { renderPlot } from '../evaluate/index.ts';
import type { EpochRecord } from './checkpoint.ts';
import type { ValidationPredictions } from './trainer.ts';

export const LOG_COLUMNS = ['epoch', 'trainLoss', 'valLoss', 'valAuroc', 'valQwk', 'lr', 'imagesPerSecond', 'seconds'] as const;

export async function writeLogs(dir: string, history: EpochRecord[]): Promise<void> {
  const jsonl = history.map((r) => JSON.stringify(r)).join('\n') + (history.length ? '\n' : '');
  const csv = toCsv(LOG_COLUMNS, history.map((r) => LOG_COLUMNS.map((c) => (r[c] === undefined || Number.isNaN(r[c]) ? null : r[c]))));
  await writeFileAtomic(path.join(dir, 'log.jsonl'), jsonl);
  await writeFileAtomic(path.join(dir, 'log.csv'), csv);
}

/**
 * val_predictions.csv (and the CV's oof_predictions.csv, with the fold of each image): id, [fold,]
 * grade, label, probability, and p_grade0..4 for grade models.
 */
export async function writeValidationPredictions(file: string, v: ValidationPredictions, folds?: readonly number[]): Promise<void> {
  const gradeCols = v.gradeProbs ? Array.from({ length: NUM_GRADES }, (_, g) => `p_grade${g}`) : [];
  const rows = v.ids.map((id, i) => [id, ...(folds ? [folds[i]] : []), v.grades[i], v.labels[i], v.scores[i], ...(v.gradeProbs ? v.gradeProbs[i] : [])]);
  await writeFileAtomic(file, toCsv(['id', ...(folds ? ['fold'] : []), 'grade', 'label', 'probability', ...gradeCols], rows));
}

/** Loss (train, val) and the validation metric per epoch, two panels side by side. */
export async function writeLearningCurve(dir: string, history: EpochRecord[], task: string): Promise<string> {
  const losses = history.flatMap((r) => [
    { epoch: r.epoch, series: 'train loss', value: r.trainLoss },
    ...(Number.isFinite(r.valLoss) ? [{ epoch: r.epoch, series: 'validation loss', value: r.valLoss }] : []),
  ]);
  const metrics = history.flatMap((r) => [
    ...(Number.isFinite(r.valAuroc) ? [{ epoch: r.epoch, series: task === 'grade' ? 'val AUROC (referable)' : 'val AUROC', value: r.valAuroc }] : []),
    ...(r.valQwk !== undefined ? [{ epoch: r.epoch, series: 'val QWK', value: r.valQwk }] : []),
  ]);
  const panel = (title: string, values: object[], domain?: [number, number]) => ({
    title,
    width: 240,
    height: 240,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: null, ...(domain ? { scale: { domain } } : { scale: { zero: false } }) },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
    },
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 12,
    config: { font: 'DejaVu Sans, sans-serif' },
    title: 'Learning curve',
    hconcat: [panel('loss', losses), panel('validation metric', metrics, [0, 1])],
    resolve: { scale: { color: 'independent' } },
  };
  const { png } = await renderPlot(spec as Parameters<typeof renderPlot>[0]);
  const file = path.join(dir, 'learning_curve.png');
  await writeFileAtomic(file, png);
  return file;
}
