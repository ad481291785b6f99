/**
 * One error type for everything a user can get wrong (bad file, bad CSV, bad option).
 * The CLI prints `message` as a single line and exits non-zero; `where` names the file
 * (and line, when known) so the user can go straight to the problem.
 */
/**
 * What kind of bad input an error is about, for callers that answer differently per kind (the
 * HTTP API maps them to 400/413/415) without parsing the wording of the message.
 */
export type InputErrorKind =
  | 'empty'
  | 'not-an-image'
  | 'corrupt'
  | 'too-large'
  | 'unsupported-depth'
  | 'greyscale'
  | 'transparent'
  | 'no-retina';

export class DrXaiError extends Error {
  readonly where?: string;
  readonly kind?: InputErrorKind;
  constructor(message: string, where?: { file?: string; line?: number; kind?: InputErrorKind }) {
    const loc = where?.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}` : undefined;
    super(loc ? `${loc}: ${message}` : message);
    this.name = 'DrXaiError';
    this.where = loc;
    this.kind = where?.kind;
  }
}

/** True for errors we raise on purpose (as opposed to bugs). */
export function isUserError(e: unknown): e is DrXaiError {
  return e instanceof DrXaiError;
}
