/**
 * The screening HTTP server: the JSON API over a bounded worker pool, the web page (web/dist)
 * and the files the page needs to run the same model in the browser (the .onnx and ONNX
 * Runtime's WASM). createServer is the library entry; `dr-xai serve` is a thin shell over it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCors from '@fastify/cors';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { readFileOrFail } from '../core/index.ts';
import type { FundusModel } from '../models/index.ts';
import { ScreeningPool } from '../screening/index.ts';
import { installErrorHandler } from './errors.ts';
import { DEFAULT_LIMITS, type ServeLimits } from './limits.ts';
import { installGuards } from './guards.ts';
import { registerModelRoutes } from './model-routes.ts';
import { openApiDocument } from './openapi.ts';
import { registerScreeningRoutes } from './screen-routes.ts';

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

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_WEB_ROOT = path.join(REPO_ROOT, 'web', 'dist');
/** ONNX Runtime Web's dist folder (the node condition resolves to a file inside it). */
const ORT_WEB_DIST = path.dirname(fileURLToPath(import.meta.resolve('onnxruntime-web')));
/** The only ORT files the page loads: the SIMD WASM build and the one its WebGPU path loads (asyncify or jsep, by ONNX Runtime Web version), with their loaders. */
const ORT_FILES = /^\/ort-wasm-simd-threaded(\.asyncify|\.jsep)?\.(wasm|mjs)$/;

/** Pino's options: request ids, methods, paths, sizes, status codes and timings only. */
function loggerOptions(opts: ServerOptions) {
  if (!opts.logLevel) return false as const;
  return {
    level: opts.logLevel,
    ...(opts.logStream ? { stream: opts.logStream } : {}),
    // Never bodies, query strings, file names, client addresses or headers (they can carry identifiers).
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
  };
}

/** The page from web/dist and ONNX Runtime Web's WASM from its package; a 503 at / when the page is not built. */
async function registerStaticFiles(app: FastifyInstance, webRoot: string): Promise<void> {
  // Static files only from web/dist: @fastify/static (send) refuses paths that leave the root,
  // and directory listing stays off.
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
}

export async function createServer(opts: ServerOptions): Promise<FastifyInstance> {
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(opts.limits ?? {}).filter(([, v]) => v !== undefined)) };
  const { model } = opts;
  const onnxBytes = await readFileOrFail(model.onnxPath, 'model file');
  const pool = new ScreeningPool({ modelPath: model.onnxPath, workers: limits.workers, maxQueue: limits.maxQueue });
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
    logger: loggerOptions(opts),
  });
  app.server.maxConnections = limits.maxConnections;
  app.addHook('onClose', async () => pool.close());
  installGuards(app, {
    allowedHosts: new Set((opts.allowedHosts ?? LOOPBACK_HOSTS).map((h) => h.toLowerCase())),
    pool,
    crossOriginIsolation: opts.crossOriginIsolation !== false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  await app.register(fastifyMultipart, {
    limits: { fileSize: limits.maxBodyBytes, files: 1, fields: 4, fieldSize: 1024, parts: 5 },
  });
  if (opts.corsOrigin !== undefined) await app.register(fastifyCors, { origin: opts.corsOrigin, methods: ['GET', 'POST'] });
  installErrorHandler(app, limits.maxBodyBytes);
  registerScreeningRoutes(app, { model, pool, limits });
  await registerModelRoutes(app, { model, onnxBytes, catalog: opts.catalog, limits });
  app.get('/openapi.json', async () => openApiDocument(limits));
  await registerStaticFiles(app, opts.webRoot ?? DEFAULT_WEB_ROOT);
  return app;
}

/** The message createServer logs when web/dist is missing, or undefined when the page is there. */
export function pageMissingMessage(app: FastifyInstance): string | undefined {
  return (app as unknown as { pageMissing?: string }).pageMissing;
}
