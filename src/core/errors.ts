/**
 * One error type for everything a user can get wrong (bad file, bad CSV, bad option).
 * The CLI prints `message` as a single line and exits non-zero; `where` names the file
 * (and line, when known) so the user can go straight to the problem.
 */
export class DrXaiError extends Error {
  readonly where?: string;
  constructor(message: string, where?: { file?: string; line?: number }) {
    const loc = where?.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}` : undefined;
    super(loc ? `${loc}: ${message}` : message);
    this.name = 'DrXaiError';
    this.where = loc;
  }
}

/** True for errors we raise on purpose (as opposed to bugs). */
export function isUserError(e: unknown): e is DrXaiError {
  return e instanceof DrXaiError;
}
