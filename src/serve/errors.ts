/**
 * HTTP status for each kind of bad upload. decodeImage (src/core) raises one DrXaiError per kind
 * of bad image and tags it with its `kind`; test/serve/bad-input.test.ts sends one file of each.
 */
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
