import { open } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { DrXaiError, readFileOrFail } from '../core/index.ts';

/** One data row of a label CSV: its 1-based line in the file (header = line 1) and its fields by column. */
export interface CsvRow {
  line: number;
  get(column: string): string;
}

export interface CsvTable {
  file: string;
  /** Header names as written, trimmed. */
  header: string[];
  rows: CsvRow[];
}

/** Header cells compare trimmed and case-insensitively: IDRiD writes `Risk of macular edema ` with a trailing space. */
function normaliseHeader(cell: string): string {
  return cell.trim().toLowerCase();
}

/**
 * Read a label CSV whose header must contain `columns` (in any order; extra and empty trailing
 * columns are ignored, as in IDRiD's `...,Risk of macular edema ,,,,`). Handles a UTF-8 BOM,
 * CRLF line ends and blank lines. Every problem is one DrXaiError naming the file and line.
 */
export async function readCsvTable(file: string, columns: readonly string[], what = 'label CSV'): Promise<CsvTable> {
  const text = (await readFileOrFail(file, what)).toString('utf8');
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, bom: true, skip_empty_lines: true, relax_column_count: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    const reason = err.message.replace(/\s+at line \d+.*$/, '').replace(/ on line \d+$/, '');
    throw new DrXaiError(`malformed CSV (${reason})`, { file, line: err.lines });
  }
  if (records.length === 0) throw new DrXaiError(`empty ${what}: no header, expected columns ${columns.join(',')}`, { file, line: 1 });
  const headerRecord = records[0];
  const header = headerRecord.record.map((c) => c.trim());
  const index = new Map<string, number>();
  header.forEach((cell, i) => {
    const key = normaliseHeader(cell);
    if (key !== '' && !index.has(key)) index.set(key, i);
  });
  const missing = columns.filter((c) => !index.has(normaliseHeader(c)));
  if (missing.length > 0) {
    throw new DrXaiError(
      `wrong header: expected columns ${columns.join(',')}, found ${header.filter((c) => c !== '').join(',') || '(none)'}`,
      { file, line: headerRecord.info.lines },
    );
  }
  if (records.length === 1) throw new DrXaiError(`empty ${what}: a header but no rows`, { file, line: 1 });
  const needed = Math.max(...columns.map((c) => index.get(normaliseHeader(c))!)) + 1;
  const rows = records.slice(1).map(({ record, info }): CsvRow => {
    if (record.length < needed) {
      throw new DrXaiError(`expected at least ${needed} fields, found ${record.length}`, { file, line: info.lines });
    }
    return {
      line: info.lines,
      get(column: string): string {
        const i = index.get(normaliseHeader(column));
        if (i === undefined) throw new Error(`column ${column} was not requested`);
        return (record[i] ?? '').trim();
      },
    };
  });
  return { file, header, rows };
}

/** The first line of a text file (for format detection), or null when it cannot be read. */
export async function readFirstLine(file: string): Promise<string | null> {
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      const text = buf.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '');
      return text.split(/\r?\n/)[0];
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

/** True when a CSV header line holds all `columns` (trimmed, case-insensitive). */
export function headerHas(firstLine: string | null, columns: readonly string[]): boolean {
  if (firstLine === null) return false;
  const cells = new Set(firstLine.split(',').map((c) => normaliseHeader(c.replace(/^"|"$/g, ''))));
  return columns.every((c) => cells.has(normaliseHeader(c)));
}
