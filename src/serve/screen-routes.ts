/**
 * POST /v1/screen and /v1/explain (an upload through the one screening path on the worker pool)
 * and GET /healthz.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DISCLAIMER, isDicom, sniffImageFormat } from '../core/index.ts';
import type { FundusModel } from '../models/index.ts';
import { QueueFullError, ScreeningTimeoutError, type ScreeningPool } from '../screening/index.ts';
import { HttpError, outcomeProblem, problem } from './errors.ts';
import type { ExplainResponseT } from './schemas.ts';
import type { ServeLimits } from './limits.ts';

export interface ScreeningRouteOptions {
  model: FundusModel;
  pool: ScreeningPool;
  limits: ServeLimits;
}

async function readUpload(request: FastifyRequest): Promise<Buffer> {
  if (request.isMultipart()) {
    const file = await request.file();
    if (!file) throw new HttpError(problem(400, 'multipart request without a file part'));
    return file.toBuffer();
  }
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

export function registerScreeningRoutes(app: FastifyInstance, opts: ScreeningRouteOptions): void {
  const { model, pool, limits } = opts;
  const startedAt = Date.now();
  const modelSummary = {
    name: model.info.name,
    version: model.info.version,
    task: model.info.task,
    inputSize: model.info.input.size,
    operatingPoint: model.info.operatingPoint ?? null,
  };

  async function screenRoute(request: FastifyRequest, reply: FastifyReply, explain: boolean): Promise<ExplainResponseT | Record<string, unknown>> {
    const t0 = performance.now();
    const bytes = await readUpload(request);
    if (bytes.length === 0) throw new HttpError(problem(400, 'empty upload (0 bytes); send the image as the request body or as one multipart file'));
    if (!sniffImageFormat(bytes) && !isDicom(bytes)) throw new HttpError(problem(415, 'not a recognised image (expected PNG, JPEG, TIFF, WebP or DICOM); the type is read from the bytes, not the name or Content-Type'));
    const steps = explain && ['1', 'true'].includes(String((request.query as Record<string, unknown>).steps ?? ''));
    let outcome;
    // A client that hangs up cancels its screening at the next stage boundary (in the worker).
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onClose = () => {
      if (!reply.raw.writableEnded) Atomics.store(cancel, 0, 1);
    };
    request.raw.socket?.once('close', onClose);
    try {
      outcome = await pool.run({ bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), source: 'upload', maxPixels: limits.maxPixels, explain, steps, cancel }, limits.requestTimeoutMs);
    } catch (e) {
      if (e instanceof QueueFullError) throw new HttpError(problem(503, `${e.message}; retry in a moment`), { 'retry-after': '1' });
      if (e instanceof ScreeningTimeoutError) throw new HttpError(problem(504, `${e.message}; the server is overloaded or the image is unusually large`));
      throw e;
    } finally {
      request.raw.socket?.off('close', onClose);
    }
    if (!outcome.ok) throw new HttpError(outcomeProblem(outcome));
    // The API's shape: grade probabilities under their name; the DICOM UID and thumbnails stay out.
    const { classProbabilities, sopInstanceUid: _uid, thumbnail: _thumb, ...result } = outcome.result;
    const r = { ...result, gradeProbabilities: model.info.task === 'grade' ? classProbabilities : null };
    const totalMs = performance.now() - t0;
    const workMs = r.timings.decodeMs + r.timings.preprocessMs + r.timings.inferMs + (r.timings.explainMs ?? 0);
    const timings = { queueMs: Math.max(0, totalMs - workMs), ...r.timings, totalMs };
    request.log.info({ bytes: bytes.length, gradable: r.gradable, timings }, 'screened');
    void reply.code(200);
    return { requestId: request.id, ...r, model: modelSummary, timings, disclaimer: DISCLAIMER };
  }

  app.post('/v1/screen', (request, reply) => screenRoute(request, reply, false));
  app.post('/v1/explain', (request, reply) => screenRoute(request, reply, true));

  app.get('/healthz', async () => ({
    status: 'ok' as const,
    model: model.info.name,
    queue: { running: pool.running, waiting: pool.waiting, capacity: pool.capacity, workers: pool.workers },
    uptimeS: (Date.now() - startedAt) / 1000,
  }));
}
