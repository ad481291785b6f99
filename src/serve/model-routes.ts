/**
 * The models the page may run in the browser: GET /v1/model (the served one), /v1/models (the
 * served one first, then a catalog's packages), their .onnx bytes and their explanation graphs
 * (the gradient graph of the sidecar's explain layer, built on first request and kept).
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DISCLAIMER, readFileOrFail } from '../core/index.ts';
import { toOnnxBytes } from '../engine/index.ts';
import { DEFAULT_CAM_METHOD, defaultExplainLayer, explanationGraph } from '../explain/index.ts';
import { listPackagedModels, modelPreprocessConfig, readSidecar, type FundusModel, type ModelSidecar } from '../models/index.ts';
import { HttpError, problem } from './errors.ts';
import type { ModelResponseT, ModelsResponseT } from './schemas.ts';
import type { ServeLimits } from './limits.ts';

/** A model the page may fetch: the served one, or a packaged one of the catalog. */
interface ListedModel {
  id: string;
  onnxPath: string;
  info: ModelSidecar;
  default: boolean;
}

export interface ModelRouteOptions {
  model: FundusModel;
  /** The served model's .onnx bytes (already read). */
  onnxBytes: Uint8Array;
  /** A models/ folder whose packages are listed too. */
  catalog?: string;
  limits: ServeLimits;
}

const sendOnnx = (reply: FastifyReply, bytes: Uint8Array) => reply.type('application/octet-stream').header('cache-control', 'no-cache').send(bytes);

export async function registerModelRoutes(app: FastifyInstance, opts: ModelRouteOptions): Promise<void> {
  const { model, limits } = opts;
  const served: ListedModel = { id: path.basename(model.onnxPath).replace(/\.onnx$/i, ''), onnxPath: model.onnxPath, info: model.info, default: false };
  const listed = new Map<string, ListedModel>([[served.id, served]]);
  if (opts.catalog) {
    for (const p of await listPackagedModels(opts.catalog)) {
      if (path.resolve(p.path) === path.resolve(model.onnxPath)) served.default = p.default;
      else if (!listed.has(p.name)) listed.set(p.name, { id: p.name, onnxPath: p.path, info: await readSidecar(p.path), default: p.default });
    }
  }
  const bytesCache = new Map<string, Promise<Uint8Array>>([[served.id, Promise.resolve(opts.onnxBytes)]]);
  const bytesOf = (m: ListedModel): Promise<Uint8Array> => {
    let b = bytesCache.get(m.id);
    if (!b) bytesCache.set(m.id, (b = readFileOrFail(m.onnxPath, 'model file')));
    return b;
  };
  // Explanation graphs are built on first request (a second or two for MobileNetV2), then kept.
  const graphCache = new Map<string, Promise<Uint8Array>>();
  async function sendExplanationGraph(m: ListedModel, reply: FastifyReply): Promise<FastifyReply> {
    const layer = defaultExplainLayer(m.info);
    if (!layer) throw new HttpError(problem(404, `model '${m.id}' names no layer to explain`));
    let g = graphCache.get(m.id);
    if (!g) graphCache.set(m.id, (g = bytesOf(m).then((bytes) => toOnnxBytes(explanationGraph(bytes, m.info, layer, 1, m.onnxPath).graph))));
    return sendOnnx(reply, await g);
  }
  function describe(m: ListedModel, base: string): ModelResponseT {
    const layer = defaultExplainLayer(m.info);
    const method = m.info.explain?.method ?? DEFAULT_CAM_METHOD;
    const explain = layer && method !== 'scorecam' ? { method, layer, graphUrl: `${base}/explain.onnx` } : null;
    return {
      name: m.info.name,
      version: m.info.version,
      task: m.info.task,
      inputSize: m.info.input.size,
      operatingPoint: m.info.operatingPoint ?? null,
      numClasses: m.info.numClasses,
      input: { size: m.info.input.size, mean: [...m.info.input.mean], std: [...m.info.input.std] },
      preprocess: modelPreprocessConfig(m.info),
      tta: m.info.tta ?? [],
      onnxUrl: `${base}/onnx`,
      explainMethod: method,
      explain,
      limits: { maxBodyBytes: limits.maxBodyBytes, maxPixels: limits.maxPixels, requestTimeoutMs: limits.requestTimeoutMs },
      disclaimer: DISCLAIMER,
    };
  }
  const modelResponse: ModelResponseT = describe(served, '/v1/model');
  app.get('/v1/model', async () => modelResponse);
  app.get('/v1/model/onnx', async (_request, reply) => sendOnnx(reply, opts.onnxBytes));
  app.get('/v1/model/explain.onnx', async (_request, reply) => sendExplanationGraph(served, reply));
  app.get('/v1/models', async (): Promise<ModelsResponseT> => ({
    served: served.id,
    models: [...listed.values()].map((m) => ({ ...(m === served ? modelResponse : describe(m, `/v1/models/${encodeURIComponent(m.id)}`)), id: m.id, default: m.default })),
  }));
  const listedModel = (request: FastifyRequest): ListedModel => {
    const { id } = request.params as { id: string };
    const m = listed.get(id);
    if (!m) throw new HttpError(problem(404, `no model '${id}' (GET /v1/models lists them)`));
    return m;
  };
  app.get('/v1/models/:id/onnx', async (request, reply) => sendOnnx(reply, await bytesOf(listedModel(request))));
  app.get('/v1/models/:id/explain.onnx', async (request, reply) => sendExplanationGraph(listedModel(request), reply));
}
