/**
 * Latency and memory of a model package for edge deployment (the reference study's future work):
 * the network's latency at batch 1 and 8 with one thread and with every core (p50 / p95 over
 * repeated runs after a warm-up), images per second, the model's size, and the time of each
 * stage of the one screening path (decode, preprocess, network, heat map) on a photograph.
 * `dr-xai profile` runs this in a fresh process per model and round, so each peak RSS is that
 * model's own, and combines a model's rounds with combineRounds.
 */
import os from 'node:os';
import sharp from 'sharp';
import { readFileOrFail, type RgbImage } from '../core/index.ts';
import { generatePhantom } from '../data/index.ts';
import { loadModel, modelPreprocessConfig, readSidecar } from '../models/index.ts';
import { decodeFundus, preprocessFundus } from '../preprocess/index.ts';
import { screenPhotograph } from './screen.ts';

export interface LatencyFigures {
  batch: number;
  threads: number;
  p50Ms: number;
  p95Ms: number;
  imagesPerS: number;
}

/** One model's profile. The snake_case fields are the stable `--json` interface. */
export interface ModelProfile {
  model: string;
  /** Batch 1, every core. */
  latency_ms_p50: number;
  latency_ms_p95: number;
  /** Batch 8, every core: throughput of the network alone. */
  images_per_s: number;
  peak_rss_mb: number;
  size_mb: number;
  input_px: number;
  latency: LatencyFigures[];
  /** Median ms per stage of screenPhotograph on the photograph, every core. */
  stages_ms: { decode: number; preprocess: number; infer: number; explain: number | null };
  photo: string;
  cores: number;
  /** Rounds (fresh processes) the figures are the medians of. */
  rounds: number;
}

export interface ProfileOptions {
  /** A photograph to time the stages on (default: a generated 1024 px phantom, JPEG). */
  photo?: string;
  /** Timed runs per setting (default 30 at batch 1; a quarter of that, at least 5, at batch 8). */
  runs?: number;
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

async function photoBytes(file?: string): Promise<{ bytes: Uint8Array; name: string }> {
  if (file) return { bytes: new Uint8Array(await readFileOrFail(file, 'photograph')), name: file };
  const { image } = generatePhantom({ seed: 3, size: 1024, grade: 2 });
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
  return { bytes: new Uint8Array(jpeg), name: 'phantom 1024 px JPEG (generated)' };
}

export async function profileModel(onnxPath: string, opts: ProfileOptions = {}): Promise<ModelProfile> {
  const runs = opts.runs ?? 30;
  const cores = os.availableParallelism();
  await readSidecar(onnxPath); // a missing or bad package is one line, before any timing
  const photo = await photoBytes(opts.photo);
  const size = (await readFileOrFail(onnxPath, 'model file')).length / 1e6;
  const latency: LatencyFigures[] = [];
  let input: RgbImage | null = null;
  let stages: ModelProfile['stages_ms'] = { decode: 0, preprocess: 0, infer: 0, explain: null };
  for (const threads of [1, cores]) {
    const model = await loadModel(onnxPath, { intraOpNumThreads: threads });
    try {
      if (!input) {
        const d = await decodeFundus(photo.bytes, photo.name, model.info.input.size);
        input = preprocessFundus(d.image, modelPreprocessConfig(model.info), { decodeFactor: d.decodeFactor, sourceWidth: d.sourceWidth, sourceHeight: d.sourceHeight }).image;
      }
      for (const batch of [1, 8]) {
        const images = Array.from({ length: batch }, () => input as RgbImage);
        await model.predict(images); // warm-up: first-run allocations and kernel selection
        const n = batch === 1 ? runs : Math.max(5, Math.floor(runs / 4));
        const ms: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          await model.predict(images);
          ms.push(performance.now() - t0);
        }
        const p50 = percentile(ms, 0.5);
        latency.push({ batch, threads, p50Ms: p50, p95Ms: percentile(ms, 0.95), imagesPerS: (1000 * batch) / p50 });
      }
      if (threads === cores) {
        const explain = Boolean(model.info.explain?.layer ?? model.info.outputs.features);
        await screenPhotograph(model, { source: photo.name, bytes: photo.bytes }, { explain });
        const t: Array<{ decodeMs: number; preprocessMs: number; inferMs: number; explainMs?: number }> = [];
        for (let i = 0; i < Math.max(5, Math.floor(runs / 3)); i++) t.push((await screenPhotograph(model, { source: photo.name, bytes: photo.bytes }, { explain })).timings);
        stages = {
          decode: percentile(t.map((x) => x.decodeMs), 0.5),
          preprocess: percentile(t.map((x) => x.preprocessMs), 0.5),
          infer: percentile(t.map((x) => x.inferMs), 0.5),
          explain: explain ? percentile(t.map((x) => x.explainMs ?? 0), 0.5) : null,
        };
      }
    } finally {
      await model.release();
    }
  }
  const at = (batch: number, threads: number) => latency.find((l) => l.batch === batch && l.threads === threads) as LatencyFigures;
  return {
    model: onnxPath,
    latency_ms_p50: at(1, cores).p50Ms,
    latency_ms_p95: at(1, cores).p95Ms,
    images_per_s: at(8, cores).imagesPerS,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    size_mb: size,
    input_px: input?.width ?? 0,
    latency,
    stages_ms: stages,
    photo: photo.name,
    cores,
    rounds: 1,
  };
}

/**
 * One model's profile from several rounds of profileModel, each in a fresh process: the median
 * over the rounds of every latency, throughput and stage figure, and the largest peak RSS. The
 * caller alternates the models between rounds, so that a drift in the machine's speed (other
 * load, a turbo clock settling) reaches each model alike instead of whichever ran last.
 */
export function combineRounds(rounds: ModelProfile[]): ModelProfile {
  if (rounds.length === 0) throw new RangeError('combineRounds: no rounds');
  const med = (f: (p: ModelProfile) => number) => percentile(rounds.map(f), 0.5);
  const first = rounds[0];
  const explain = first.stages_ms.explain === null ? null : med((p) => p.stages_ms.explain ?? 0);
  return {
    ...first,
    latency_ms_p50: med((p) => p.latency_ms_p50),
    latency_ms_p95: med((p) => p.latency_ms_p95),
    images_per_s: med((p) => p.images_per_s),
    peak_rss_mb: Math.max(...rounds.map((p) => p.peak_rss_mb)),
    latency: first.latency.map((l, i) => ({
      batch: l.batch,
      threads: l.threads,
      p50Ms: med((p) => p.latency[i].p50Ms),
      p95Ms: med((p) => p.latency[i].p95Ms),
      imagesPerS: med((p) => p.latency[i].imagesPerS),
    })),
    stages_ms: { decode: med((p) => p.stages_ms.decode), preprocess: med((p) => p.stages_ms.preprocess), infer: med((p) => p.stages_ms.infer), explain },
    rounds: rounds.reduce((n, p) => n + p.rounds, 0),
  };
}
