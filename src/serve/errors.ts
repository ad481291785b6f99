/**
 * HTTP status for each kind of bad upload. decodeImage (src/core) raises one DrXaiError per kind
 * of bad image; the kinds are told apart here by their wording, and test/serve/bad-input.test.ts
 * sends one file of each kind so a change of wording in core shows up as a failing test.
 */
export interface HttpProblem {
  statusCode: number;
  error: string;
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function problem(statusCode: number, message: string): HttpProblem {
  return { statusCode, error: REASONS[statusCode] ?? 'Error', message };
}

/** 413 over the pixel limit, 415 not an image or an image kind we refuse, 400 empty or corrupt. */
export function decodeProblem(message: string): HttpProblem {
  if (/image too large/.test(message)) return problem(413, message);
  if (/not a recognised image|unsupported bit depth|greyscale image|transparent pixels/.test(message)) return problem(415, message);
  return problem(400, message);
}
