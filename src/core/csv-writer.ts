import { stringify } from 'csv-stringify/sync';

export type CsvValue = string | number | boolean | null | undefined;

/**
 * CSV text from a header and rows, the one CSV writer of dr-xai (reading is csv-parse, in
 * src/data). RFC 4180 quoting by csv-stringify: a field is quoted when it holds a comma, quote or
 * line break, or starts or ends with white space (so ids round-trip exactly); '\n' line ends.
 * null/undefined become `nullAs` (default empty); booleans are written as true/false; numbers as
 * JavaScript prints them, so callers that want fewer digits round before passing them in.
 */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[], opts: { nullAs?: string } = {}): string {
  const nullAs = opts.nullAs ?? '';
  const cells = rows.map((row) => row.map((v) => (v === null || v === undefined ? nullAs : v)));
  return stringify([header as string[], ...(cells as (string | number | boolean)[][])], {
    record_delimiter: '\n',
    quoted_match: /^\s|\s$/,
    cast: { boolean: (v: boolean) => String(v), number: (v: number) => String(v) },
  });
}
