/**
 * `dr-xai screen` as a library: photographs by path through a screening backend (the local worker
 * pool on every core, or BullMQ workers on other machines: queue.ts), each photograph screened by
 * screenPhotograph, written to one output folder:
 *
 *   results.jsonl   one JSON object per photograph (also the journal of a running batch)
 *   results.csv     the same, flat, for a spreadsheet
 *   report.html     self-contained: summary, sortable table with thumbnails, heat maps
 *   thumbnails/     the network's input per photograph, small JPEG (what report.html shows)
 *   heatmaps/       with `explain`: the heat map over the network's input, PNG
 *
 * Resuming: every finished photograph is appended to results.jsonl at once, keyed by the sha256
 * of its bytes and the model's fingerprint, so a re-run with the same `out` screens only what is
 * not done yet (a killed run loses at most the photographs in flight). results.jsonl, results.csv
 * and report.html are rewritten atomically at the end, in input order.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError, isUserError, readFileOrFail, toCsv, writeFileAtomic } from '../core/index.ts';
import { modelFingerprint, readSidecar, type ModelSidecar } from '../models/index.ts';
import type { PhotographPath } from './inputs.ts';
import { ScreeningPool } from './pool.ts';
import { screeningReportHtml } from './report.ts';
import type { Screening } from './screen.ts';
import type { ScreenOutcome } from './worker.ts';

/** One photograph for a backend: its bytes, where it lives, and its content hash. */
export interface BackendJob {
  bytes: Uint8Array;
  /** The path as given (messages) and the absolute path (for workers that read it themselves). */
  source: string;
  path: string;
  sha256: string;
  explain: boolean;
  thumbnailPx: number;
  maxPixels?: number;
}

/** Where screenBatch sends photographs: screen one, at most `capacity` in flight. */
export interface ScreeningBackend {
  readonly capacity: number;
  run(job: BackendJob): Promise<ScreenOutcome>;
  close(): Promise<void>;
}

/** The local backend: the worker-thread pool on this machine. */
export function localBackend(modelPath: string, workers?: number): ScreeningBackend {
  const pool = new ScreeningPool({ modelPath, workers });
  return {
    capacity: pool.capacity,
    run: (job) => pool.run({ bytes: job.bytes, source: job.source, maxPixels: job.maxPixels, explain: job.explain, thumbnail: job.thumbnailPx }, 10 * 60_000),
    close: () => pool.close(),
  };
}

/** One line of results.jsonl. */
export interface ScreenRecord {
  id: string;
  status: 'ok' | 'failed';
  /** Why the photograph could not be screened (status 'failed'). */
  error?: string;
  sha256: string | null;
  probability: number | null;
  referable: boolean | null;
  gradable: boolean | null;
  reasons: string[];
  /** Grade models: the predicted grade (null when ungradable) and P(grade = 0..4). */
  predictedGrade?: number | null;
  gradeProbabilities?: number[] | null;
  quality: { retinaFraction: number; exposureMean: number; darkFraction: number; saturatedFraction: number; sharpness: number } | null;
  image: { format: string; width: number; height: number } | null;
  model: string;
  modelFingerprint: string;
  threshold: number | null;
  /** Files under the output folder. */
  thumbnail: string | null;
  heatmap: string | null;
}

export interface ScreenBatchOptions {
  modelPath: string;
  photographs: PhotographPath[];
  /** Arguments that named nothing: reported as failed inputs. */
  missing?: Array<{ id: string; reason: string }>;
  out: string;
  explain?: boolean;
  /** Worker threads of the local backend (default: every core). */
  workers?: number;
  /** Another backend (default: the local pool), e.g. queueBackend for BullMQ workers. */
  backend?: (fingerprint: string) => Promise<ScreeningBackend>;
  /** DICOM: the SOP Instance UID as `id` instead of the path. */
  idFromUid?: boolean;
  maxPixels?: number;
  /** Thumbnail width in report.html, px (default 112). */
  thumbnailPx?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ScreenBatchResult {
  records: ScreenRecord[];
  /** Photographs screened in this run; the rest of the ok records came from an earlier run. */
  screened: number;
  resumed: number;
  failed: number;
  files: { jsonl: string; csv: string; html: string };
}

const RESULT_COLUMNS = [
  'id', 'status', 'probability', 'referable', 'gradable', 'reasons', 'error', 'retina_fraction', 'exposure_mean', 'dark_fraction',
  'saturated_fraction', 'sharpness', 'width', 'height', 'format', 'model', 'threshold', 'sha256', 'heatmap',
] as const;

function modelLabel(modelPath: string, info: ModelSidecar): string {
  return `${path.basename(modelPath).replace(/\.onnx$/i, '')} (${info.name}, ${info.task})`;
}

/** A file name for a photograph's outputs: readable and unique (content hash + base name). */
function outputName(id: string, sha256: string, ext: string): string {
  const base = path.basename(id).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return `${sha256.slice(0, 12)}-${base}${ext}`;
}

const fromDataUrl = (url: string): Buffer => Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');

async function readJournal(file: string): Promise<Map<string, ScreenRecord>> {
  const done = new Map<string, ScreenRecord>();
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ScreenRecord;
      // Only successful screenings are kept: a failure is tried again (the file may be fixed).
      if (r.status === 'ok' && r.sha256) done.set(`${r.sha256}:${r.modelFingerprint}`, r);
    } catch {
      // the last line of a killed run may be cut short; everything before it stands
    }
  }
  return done;
}

function failedRecord(id: string, error: string, sha256: string | null, model: string, fingerprint: string, threshold: number | null): ScreenRecord {
  return { id, status: 'failed', error, sha256, probability: null, referable: null, gradable: null, reasons: [], quality: null, image: null, model, modelFingerprint: fingerprint, threshold, thumbnail: null, heatmap: null };
}

export async function screenBatch(opts: ScreenBatchOptions): Promise<ScreenBatchResult> {
  // No photograph at all (none given, or arguments that all name nothing, e.g. a typo in the only
  // path) is a usage error, not a batch of failures: say which, write nothing.
  if (opts.photographs.length === 0) {
    const missing = (opts.missing ?? []).map((m) => `${m.id}: ${m.reason}`);
    throw new DrXaiError(`nothing to screen: ${missing.length ? missing.join('; ') : 'no photographs were given'}`);
  }
  const info = await readSidecar(opts.modelPath);
  const fingerprint = modelFingerprint(await readFileOrFail(opts.modelPath, 'model file'), info);
  const model = modelLabel(opts.modelPath, info);
  const threshold = info.operatingPoint?.threshold ?? null;
  const out = path.resolve(opts.out);
  await fsp.mkdir(path.join(out, 'thumbnails'), { recursive: true });
  if (opts.explain) await fsp.mkdir(path.join(out, 'heatmaps'), { recursive: true });
  const files = { jsonl: path.join(out, 'results.jsonl'), csv: path.join(out, 'results.csv'), html: path.join(out, 'report.html') };
  const done = await readJournal(files.jsonl);

  const total = opts.photographs.length;
  const records: ScreenRecord[] = new Array(total);
  let finished = 0;
  let screened = 0;
  let resumed = 0;
  const tick = () => opts.onProgress?.(++finished, total);
  const journal = await fsp.open(files.jsonl, 'a');
  const append = async (r: ScreenRecord) => {
    await journal.write(`${JSON.stringify(r)}\n`);
  };

  const backend = opts.backend ? await opts.backend(fingerprint) : localBackend(opts.modelPath, opts.workers);
  try {
    // At most `capacity` photographs in memory at once; the backend never refuses within it.
    const slots = backend.capacity;
    let next = 0;
    const runOne = async (i: number): Promise<void> => {
      const p = opts.photographs[i];
      let bytes: Buffer;
      try {
        bytes = await readFileOrFail(p.path, 'photograph');
      } catch (e) {
        if (!isUserError(e)) throw e;
        records[i] = failedRecord(p.id, e.message, null, model, fingerprint, threshold);
        await append(records[i]);
        return tick();
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const previous = done.get(`${sha256}:${fingerprint}`);
      if (previous && (!opts.explain || previous.heatmap)) {
        records[i] = { ...previous, id: opts.idFromUid ? previous.id : p.id };
        resumed++;
        return tick();
      }
      const outcome = await backend.run({
        bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
        source: p.id,
        path: path.resolve(p.path),
        sha256,
        maxPixels: opts.maxPixels,
        explain: opts.explain ?? false,
        thumbnailPx: opts.thumbnailPx ?? 112,
      });
      if (!outcome.ok) {
        records[i] = failedRecord(p.id, outcome.reason, sha256, model, fingerprint, threshold);
      } else {
        const s: Screening = outcome.result;
        const thumbnail = s.thumbnail ? path.join('thumbnails', outputName(p.id, sha256, '.jpg')) : null;
        if (thumbnail && s.thumbnail) await writeFileAtomic(path.join(out, thumbnail), fromDataUrl(s.thumbnail));
        const heatmap = s.heatmap ? path.join('heatmaps', outputName(p.id, sha256, '.png')) : null;
        if (heatmap && s.heatmap) await writeFileAtomic(path.join(out, heatmap), fromDataUrl(s.heatmap.overlay));
        const q = s.quality;
        records[i] = {
          id: opts.idFromUid && s.sopInstanceUid ? s.sopInstanceUid : p.id,
          status: 'ok',
          sha256,
          probability: s.probability,
          referable: s.referable,
          gradable: s.gradable,
          reasons: s.reasons,
          ...(info.task === 'grade' ? { predictedGrade: s.predictedGrade, gradeProbabilities: s.classProbabilities } : {}),
          quality: q ? { retinaFraction: q.retinaFraction, exposureMean: q.exposure.mean, darkFraction: q.exposure.darkFraction, saturatedFraction: q.exposure.saturatedFraction, sharpness: q.blur.sharpness } : null,
          image: s.image,
          model,
          modelFingerprint: fingerprint,
          threshold: s.threshold,
          thumbnail,
          heatmap,
        };
        screened++;
      }
      await append(records[i]);
      tick();
    };
    const lanes = Array.from({ length: Math.min(slots, total) }, async () => {
      while (next < total) await runOne(next++);
    });
    await Promise.all(lanes);
  } finally {
    await journal.close();
    await backend.close();
  }

  for (const m of opts.missing ?? []) records.push(failedRecord(m.id, `${m.id}: ${m.reason}`, null, model, fingerprint, threshold));
  await writeFileAtomic(files.jsonl, records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : ''));
  await writeFileAtomic(files.csv, resultsCsv(records));
  await writeFileAtomic(files.html, await screeningReportHtml(records, { out, model, info, explain: opts.explain ?? false }));
  const failed = records.filter((r) => r.status === 'failed').length;
  return { records, screened, resumed, failed, files };
}

function resultsCsv(records: ScreenRecord[]): string {
  const grade = records.some((r) => r.gradeProbabilities);
  const header = [...RESULT_COLUMNS, ...(grade ? ['predicted_grade', 'p_grade0', 'p_grade1', 'p_grade2', 'p_grade3', 'p_grade4'] : [])];
  return toCsv(
    header,
    records.map((r) => [
      r.id, r.status, r.probability, r.referable, r.gradable, r.reasons.join('; '), r.error ?? '', r.quality?.retinaFraction ?? null,
      r.quality?.exposureMean ?? null, r.quality?.darkFraction ?? null, r.quality?.saturatedFraction ?? null, r.quality?.sharpness ?? null,
      r.image?.width ?? null, r.image?.height ?? null, r.image?.format ?? null, r.model, r.threshold, r.sha256, r.heatmap,
      ...(grade ? [r.predictedGrade ?? null, ...Array.from({ length: 5 }, (_, g) => r.gradeProbabilities?.[g] ?? null)] : []),
    ]),
  );
}
