/**
 * The screening HTTP server: the JSON API over a bounded worker pool, the web page (web/dist)
 * and the files the page needs to run the same model in the browser (the .onnx and ONNX
 * Runtime's WASM). createServer is the library entry; `dr-xai serve` is a thin shell over it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCors from '@fastify/cors';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { DISCLAIMER, isDicom, readFileOrFail, sniffImageFormat } from '../core/index.ts';
import { toOnnxBytes } from '../engine/index.ts';
import { listPackagedModels, modelPreprocessConfig, readSidecar, type FundusModel, type ModelSidecar } from '../models/index.ts';
import { outcomeProblem, problem, type HttpProblem } from './errors.ts';
import { DEFAULT_CAM_METHOD, defaultExplainLayer, explanationGraph } from '../explain/index.ts';
import { openApiDocument } from './openapi.ts';
import { QueueFullError, ScreeningPool, ScreeningTimeoutError } from '../screening/index.ts';
import type { ExplainResponseT, ModelResponseT, ModelsResponseT } from './schemas.ts';

export interface ServeLimits {
  /** Largest request body (raw or the one multipart file), bytes. */
  maxBodyBytes: number;
  /** Largest image, width x height, checked from the header before decoding. */
  maxPixels: number;
  /** Per-request time limit for queue wait plus screening, ms. */
  requestTimeoutMs: number;
  /** Screenings at once (default: cores). */
  workers?: number;
  /** Screenings allowed to wait (default: 4 per worker). */
  maxQueue?: number;
  /** Open connections at once; more are refused by the socket layer (default 512). */
  maxConnections: number;
  /** A connection that sends nothing for this long is closed (idle keep-alive, stalled uploads), ms. */
  idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxBodyBytes: 20 * 1024 * 1024,
  maxPixels: 50_000_000,
  requestTimeoutMs: 30_000,
  maxConnections: 512,
  idleTimeoutMs: 10_000,
});

/** How long a request that finds the screening queue full waits for a slot before its 503, and how often it looks. */
const REFUSAL_DELAY_MS = 1000;
const REFUSAL_POLL_MS = 50;

/** Host names the API answers by default: loopback only (a DNS-rebinding page gets 421). */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]', '::1'];

export interface ServerOptions {
  model: FundusModel;
  limits?: Partial<ServeLimits>;
  /** Origins allowed to call the API from other sites; none (CORS closed) by default. */
  corsOrigin?: string | string[];
  /** The built page (default web/dist of this repository). */
  webRoot?: string;
  /** Fastify/pino logger: false (default) or a level. Uploads are never logged. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | false;
  /** Where log lines go (default stdout). */
  logStream?: { write(line: string): void };
  /** A models/ folder whose packages the page may run in the browser (default: only the served model). */
  catalog?: string;
  /**
   * Host names (the Host header without its port) the server answers; anything else gets 421, so
   * a web page that rebinds its own DNS name to this address cannot drive the API. Default
   * LOOPBACK_HOSTS; add the names clients use when serving beyond this machine.
   */
  allowedHosts?: readonly string[];
  /**
   * Send the cross-origin isolation headers (COOP same-origin, COEP require-corp; default on):
   * they give the page SharedArrayBuffer, which ONNX Runtime Web needs to run its WASM on more than
   * one thread. Off only to embed the page where a cross-origin opener or resource must work.
   */
  crossOriginIsolation?: boolean;
}

/** A model the page may fetch: the served one, or a packaged one of the catalog. */
interface ListedModel {
  id: string;
  onnxPath: string;
  info: ModelSidecar;
  default: boolean;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_WEB_ROOT = path.join(REPO_ROOT, 'web', 'dist');
/** ONNX Runtime Web's dist folder (the node condition resolves to a file inside it). */
const ORT_WEB_DIST = path.dirname(fileURLToPath(import.meta.resolve('onnxruntime-web')));
/** The only ORT files the page loads: the SIMD WASM build and the one its WebGPU path loads (asyncify or jsep, by ONNX Runtime Web version), with their loaders. */
const ORT_FILES = /^\/ort-wasm-simd-threaded(\.asyncify|\.jsep)?\.(wasm|mjs)$/;

/** The page loads scripts and WASM from this server only; no inline script, no CDN. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

class HttpError extends Error {
  constructor(readonly problem: HttpProblem, readonly headers: Record<string, string> = {}) {
    super(problem.message);
  }
}

export async function createServer(opts: ServerOptions): Promise<FastifyInstance> {
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(opts.limits ?? {}).filter(([, v]) => v !== undefined)) };
  const { model } = opts;
  const webRoot = opts.webRoot ?? DEFAULT_WEB_ROOT;
  const onnxBytes = await readFileOrFail(model.onnxPath, 'model file');
  const pool = new ScreeningPool({ modelPath: model.onnxPath, workers: limits.workers, maxQueue: limits.maxQueue });
  const startedAt = Date.now();

  const allowedHosts = new Set((opts.allowedHosts ?? LOOPBACK_HOSTS).map((h) => h.toLowerCase()));
  const app = Fastify({
    bodyLimit: limits.maxBodyBytes,
    // Slow or stalled uploads are cut off too (slowloris), not only slow screenings; idle
    // sockets are closed, and past maxConnections new ones are refused (the file-descriptor limit
    // is never reached, so /healthz keeps answering).
    requestTimeout: limits.requestTimeoutMs + 30_000,
    connectionTimeout: limits.idleTimeoutMs + limits.requestTimeoutMs + 30_000,
    keepAliveTimeout: limits.idleTimeoutMs,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    logger: opts.logLevel
      ? {
          level: opts.logLevel,
          ...(opts.logStream ? { stream: opts.logStream } : {}),
          // Request ids, methods, paths, sizes, status codes and timings only: never bodies,
          // query strings, file names, client addresses or headers (they can carry identifiers).
          serializers: {
            req: (req: { id: string; method: string; url: string; headers: Record<string, unknown> }) => ({
              id: req.id,
              method: req.method,
              path: req.url.split('?')[0],
              contentLength: req.headers['content-length'] ? Number(req.headers['content-length']) : undefined,
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            err: (err: Error & { statusCode?: number; code?: string }) => ({ type: err.name, code: err.code, statusCode: err.statusCode, message: err.message, stack: err.stack ?? '' }),
          },
        }
      : false,
  });
  app.server.maxConnections = limits.maxConnections;
  app.addHook('onClose', async () => pool.close());
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (opts.crossOriginIsolation !== false) {
      reply.header('cross-origin-opener-policy', 'same-origin');
      reply.header('cross-origin-embedder-policy', 'require-corp');
      reply.header('cross-origin-resource-policy', 'same-origin');
    }
    if (request.url.startsWith('/v1/') || request.url === '/healthz') reply.header('cache-control', 'no-store');
    else reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    return payload;
  });

  // Any content type is taken as raw image bytes (sniffed below); multipart gets its own parser.
  // A body sent with no Content-Type at all is raw bytes too.
  app.addHook('onRequest', async (request) => {
    const host = (request.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!allowedHosts.has(host)) throw new HttpError(problem(421, `this server does not answer for host '${host.slice(0, 100)}' (dr-xai serve --allow-host adds names)`));
    // Overload is answered before the body is read, and slowly: a request that finds the queue
    // full waits (a timer, no CPU) up to REFUSAL_DELAY_MS for a free slot, then gets its 503. A
    // client that retries at once can then cost at most one cheap refusal per second per
    // connection, so the cores stay with the screenings in hand instead of turning thousands of
    // uploads a second away (measured by npm run bench:soak).
    if (request.method === 'POST' && (request.url.startsWith('/v1/screen') || request.url.startsWith('/v1/explain'))) {
      const full = () => pool.running + pool.waiting >= pool.capacity;
      for (let waited = 0; full() && waited < REFUSAL_DELAY_MS; waited += REFUSAL_POLL_MS) await new Promise((r) => setTimeout(r, REFUSAL_POLL_MS));
      if (full()) throw new HttpError(problem(503, 'server busy: the screening queue is full; retry in a moment'), { 'retry-after': '1' });
    }
    if (!request.headers['content-type'] && (request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined)) {
      request.headers['content-type'] = 'application/octet-stream';
    }
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  await app.register(fastifyMultipart, {
    limits: { fileSize: limits.maxBodyBytes, files: 1, fields: 4, fieldSize: 1024, parts: 5 },
  });
  if (opts.corsOrigin !== undefined) await app.register(fastifyCors, { origin: opts.corsOrigin, methods: ['GET', 'POST'] });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const headers = error instanceof HttpError ? error.headers : {};
    let p: HttpProblem;
    if (error instanceof HttpError) p = error.problem;
    else if (error.code === 'FST_REQ_FILE_TOO_LARGE' || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      p = problem(413, `upload larger than the limit of ${limits.maxBodyBytes} bytes`);
    } else if (error.code === 'FST_FILES_LIMIT' || error.code === 'FST_FIELDS_LIMIT' || error.code === 'FST_PARTS_LIMIT') {
      p = problem(413, 'too many multipart parts: send one file part (and at most 4 small fields)');
    } else if (/multipart|boundary|unexpected end of form|malformed part header/i.test(error.message)) {
      // busboy's errors for a multipart body without a boundary, or one that ends early.
      p = problem(400, `malformed multipart body (${error.message.split('\n')[0].slice(0, 200)})`);
    } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) p = problem(error.statusCode, error.message);
    else {
      request.log.error({ err: error }, 'internal error');
      p = problem(500, 'internal error; the request id identifies it in the server log');
    }
    void reply.code(p.statusCode).headers(headers).send({ ...p, requestId: request.id });
  });

  const modelSummary = {
    name: model.info.name,
    version: model.info.version,
    task: model.info.task,
    inputSize: model.info.input.size,
    operatingPoint: model.info.operatingPoint ?? null,
  };

  async function readUpload(request: FastifyRequest): Promise<Buffer> {
    if (request.isMultipart()) {
      const file = await request.file();
      if (!file) throw new HttpError(problem(400, 'multipart request without a file part'));
      const bytes = await file.toBuffer();
      return bytes;
    }
    return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  }

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

  // The models the page may run in the browser: the served one first, then the catalog's.
  const served: ListedModel = { id: path.basename(model.onnxPath).replace(/\.onnx$/i, ''), onnxPath: model.onnxPath, info: model.info, default: false };
  const listed = new Map<string, ListedModel>([[served.id, served]]);
  if (opts.catalog) {
    for (const p of await listPackagedModels(opts.catalog)) {
      if (path.resolve(p.path) === path.resolve(model.onnxPath)) served.default = p.default;
      else if (!listed.has(p.name)) listed.set(p.name, { id: p.name, onnxPath: p.path, info: await readSidecar(p.path), default: p.default });
    }
  }
  const bytesCache = new Map<string, Promise<Uint8Array>>([[served.id, Promise.resolve(onnxBytes)]]);
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
    return reply.type('application/octet-stream').header('cache-control', 'no-cache').send(await g);
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
  app.get('/v1/model/onnx', async (_request, reply) => reply.type('application/octet-stream').header('cache-control', 'no-cache').send(onnxBytes));
  app.get('/v1/model/explain.onnx', async (_request, reply) => sendExplanationGraph(served, reply));
  app.get('/v1/models', async (): Promise<ModelsResponseT> => ({
    served: served.id,
    models: [...listed.values()].map((m) => ({ ...(m === served ? modelResponse : describe(m, `/v1/models/${encodeURIComponent(m.id)}`)), id: m.id, default: m.default })),
  }));
  const listedModel = (request: FastifyRequest): ListedModel => {
    const m = listed.get((request.params as { id: string }).id);
    if (!m) throw new HttpError(problem(404, `no model '${(request.params as { id: string }).id}' (GET /v1/models lists them)`));
    return m;
  };
  app.get('/v1/models/:id/onnx', async (request, reply) => {
    const m = listedModel(request);
    return reply.type('application/octet-stream').header('cache-control', 'no-cache').send(await bytesOf(m));
  });
  app.get('/v1/models/:id/explain.onnx', async (request, reply) => sendExplanationGraph(listedModel(request), reply));
  app.get('/openapi.json', async () => openApiDocument(limits));

  // The page. Static files only from web/dist: @fastify/static (send) refuses paths that leave
  // the root, and directory listing stays off.
  if (existsSync(path.join(webRoot, 'index.html'))) {
    await app.register(fastifyStatic, { root: webRoot, prefix: '/', list: false, dotfiles: 'deny', index: ['index.html'] });
  } else {
    const message = `the web page is not built (${path.relative(process.cwd(), webRoot) || webRoot}/index.html missing): run \`npm run build:web\`; the API works without it`;
    app.log.warn(message);
    app.get('/', async (_request, reply) => reply.code(503).type('text/plain; charset=utf-8').send(`${message}\n`));
    app.decorate('pageMissing', message);
  }
  await app.register(fastifyStatic, {
    root: ORT_WEB_DIST,
    prefix: '/ort/',
    decorateReply: false,
    list: false,
    allowedPath: (pathName) => ORT_FILES.test(pathName),
  });
  return app;
}

/** The message createServer logs when web/dist is missing, or undefined when the page is there. */
export function pageMissingMessage(app: FastifyInstance): string | undefined {
  return (app as unknown as { pageMissing?: string }).pageMissing;
}
