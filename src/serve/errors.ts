/**
 * HTTP status for each kind of bad upload. decodeImage (src/core) raises one DrXaiError per kind
 * of bad image and tags it with its `kind`; test/serve/bad-input.test.ts sends one file of each.
 */
import type { FastifyInstance } from 'fastify';
import type { ScreenOutcome } from '../screening/index.ts';

export interface HttpProblem {
  statusCode: number;
  error: string;
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function problem(statusCode: number, message: string): HttpProblem {
  return { statusCode, error: REASONS[statusCode] ?? 'Error', message };
}

/**
 * 413 over the pixel limit, 415 not an image or an image kind we refuse, 400 empty or corrupt,
 * 504 a screening stopped at its deadline.
 */
export function outcomeProblem(outcome: Extract<ScreenOutcome, { ok: false }>): HttpProblem {
  const message = outcome.reason;
  switch (outcome.kind) {
    case 'stopped':
      return problem(504, 'screening stopped at its deadline');
    case 'too-large':
      return problem(413, message);
    case 'not-an-image':
    case 'unsupported-depth':
    case 'greyscale':
    case 'transparent':
      return problem(415, message);
    default:
      return problem(400, message);
  }
}

/** A refusal with its problem body and extra headers (e.g. retry-after), thrown by hooks and routes. */
export class HttpError extends Error {
  constructor(readonly problem: HttpProblem, readonly headers: Record<string, string> = {}) {
    super(problem.message);
  }
}

/**
 * Every error becomes one problem body with the request id: HttpErrors as thrown, Fastify's and
 * busboy's upload errors as 413 / 400, other 4xx as they are, anything else a logged 500.
 */
export function installErrorHandler(app: FastifyInstance, maxBodyBytes: number): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const headers = error instanceof HttpError ? error.headers : {};
    let p: HttpProblem;
    if (error instanceof HttpError) p = error.problem;
    else if (error.code === 'FST_REQ_FILE_TOO_LARGE' || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      p = problem(413, `upload larger than the limit of ${maxBodyBytes} bytes`);
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
}
