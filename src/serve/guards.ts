/**
 * What every request passes before a route sees it, and every response on its way out: the Host
 * allow-list, the slow refusal under overload, raw bodies without a Content-Type, and the
 * security headers (cross-origin isolation, CSP for the page, no caching of API answers).
 */
import type { FastifyInstance } from 'fastify';
import type { ScreeningPool } from '../screening/index.ts';
import { HttpError, problem } from './errors.ts';

/** How long a request that finds the screening queue full waits for a slot before its 503, and how often it looks. */
const REFUSAL_DELAY_MS = 1000;
const REFUSAL_POLL_MS = 50;

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

export interface GuardOptions {
  /** Host names (lower case, no port) the server answers; others get 421. */
  allowedHosts: ReadonlySet<string>;
  /** The screening pool whose queue decides the 503. */
  pool: ScreeningPool;
  /** Send COOP / COEP / CORP (default on). */
  crossOriginIsolation: boolean;
}

export function installGuards(app: FastifyInstance, opts: GuardOptions): void {
  const { allowedHosts, pool } = opts;
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (opts.crossOriginIsolation) {
      reply.header('cross-origin-opener-policy', 'same-origin');
      reply.header('cross-origin-embedder-policy', 'require-corp');
      reply.header('cross-origin-resource-policy', 'same-origin');
    }
    if (request.url.startsWith('/v1/') || request.url === '/healthz') reply.header('cache-control', 'no-store');
    else reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    return payload;
  });

  // Any content type is taken as raw image bytes (sniffed by the routes); multipart gets its own
  // parser. A body sent with no Content-Type at all is raw bytes too.
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
}
