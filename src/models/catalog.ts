/**
 * The packaged models shipped in the repository's models/ folder, and which one each task uses
 * when a command is given no --model. The choice lives in models/defaults.json
 * ({"referable": "<file>.onnx", "grade": "<file>.onnx"}), next to the packages and the model card,
 * so releasing a better model is one line there, not a code change.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DrXaiError, readFileOrFail } from '../core/index.ts';
import { readSidecar, type ModelSidecar } from './package.ts';

/**
 * sha256 of a package's ONNX bytes and its validated sidecar: what a result was computed with.
 * Two packages with the same weights but another threshold or preprocessing differ here.
 */
export function modelFingerprint(onnxBytes: Uint8Array, info: ModelSidecar): string {
  return createHash('sha256').update(onnxBytes).update(JSON.stringify(info)).digest('hex');
}

/** The repository's models/ folder. */
export const MODELS_DIR = path.resolve(import.meta.dirname, '../../models');

/** Tasks a default model is kept for: binary referable DR and the 5-grade scale. */
export type DefaultTask = 'referable' | 'grade';

const DefaultsSchema = z.object({ referable: z.string().min(1), grade: z.string().min(1) }).strict();

export interface PackagedModel {
  /** Absolute path of the .onnx. */
  path: string;
  /** File stem, e.g. 'mobilenet_v2-aptos224-referable'. */
  name: string;
  architecture: string;
  task: ModelSidecar['task'];
  /** Size of the .onnx in MB (10^6 bytes). */
  sizeMb: number;
  inputSize: number;
  metrics: Record<string, unknown>;
  operatingPoint?: ModelSidecar['operatingPoint'];
  /** The task's default (models/defaults.json). */
  default: boolean;
}

async function readDefaults(dir: string): Promise<z.infer<typeof DefaultsSchema>> {
  const file = path.join(dir, 'defaults.json');
  let json: unknown;
  try {
    json = JSON.parse((await readFileOrFail(file, 'default models list')).toString('utf8'));
  } catch (e) {
    if (e instanceof DrXaiError) throw e;
    throw new DrXaiError(`not valid JSON (${(e as Error).message})`, { file });
  }
  const parsed = DefaultsSchema.safeParse(json);
  if (!parsed.success) throw new DrXaiError(`expected {"referable": "<file>.onnx", "grade": "<file>.onnx"}: ${parsed.error.issues[0].message}`, { file });
  return parsed.data;
}

/** Every package in `dir` (an .onnx with its sidecar), sorted by name. */
export async function listPackagedModels(dir = MODELS_DIR): Promise<PackagedModel[]> {
  const defaults = await readDefaults(dir);
  const files = (await fsp.readdir(dir)).filter((f) => f.toLowerCase().endsWith('.onnx')).sort();
  const out: PackagedModel[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    const info = await readSidecar(file);
    out.push({
      path: file,
      name: f.replace(/\.onnx$/i, ''),
      architecture: info.name,
      task: info.task,
      sizeMb: (await fsp.stat(file)).size / 1e6,
      inputSize: info.input.size,
      metrics: info.metrics ?? {},
      operatingPoint: info.operatingPoint,
      default: defaults.referable === f || defaults.grade === f,
    });
  }
  return out;
}

/** Path of the default model of a task (what --model falls back to). */
export async function defaultModelPath(task: DefaultTask = 'referable', dir = MODELS_DIR): Promise<string> {
  const defaults = await readDefaults(dir);
  const file = path.join(dir, defaults[task]);
  if (!existsSync(file)) throw new DrXaiError(`the default ${task} model ${defaults[task]} is missing`, { file: path.join(dir, 'defaults.json') });
  return file;
}
