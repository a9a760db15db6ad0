/**
 * The two file formats of the bulk import and export (CSV with a header row, NDJSON), read into rows that carry
 * their line number and written back from stored records. No validation here beyond the file's own structure:
 * each row's values go through the same zod schemas as the single-record routes (`bulk.ts`).
 *
 * Rules:
 * - CSV is read and written by csv-parse and csv-stringify (RFC 4180 quoting, BOM), never by hand. Columns are
 *   named as the JSON fields (`hostname,ipAddress,…`); `tags` is a JSON object in one cell; an empty cell of an
 *   optional column (`tags`, `description`, `createdAt`, `updatedAt`) means "not given" (its default), an empty
 *   cell of a required one is the empty string (and the schema says "must not be empty"). `\r\n` is read as `\n`:
 *   metadata values may not contain line breaks anyway (no control characters).
 * - A CSV syntax error (an unclosed quote) rejects the whole file, in every mode: after it, the parser cannot tell
 *   where the following records begin, so no row after it can be trusted or reported.
 * - CSV cells are escaped against spreadsheet formula injection (OWASP "CSV Injection"): on export, a cell that
 *   starts with `=`, `+`, `-`, `@`, TAB or CR gets a leading single quote (`'=SUM(1)`), so a spreadsheet shows it
 *   as text instead of running it; on import, ONE leading single quote followed by one of those characters is
 *   stripped (`'=SUM(1)` reads as `=SUM(1)`), so an export imports back to the same values. The quotes before
 *   the character are counted: a value that itself is quotes then one of those characters (`'=x`) is exported
 *   with one more (`''=x`) and read back with one less, so it round-trips too. A cell without such a quote is
 *   read as it is (a hand-written `=x` stays `=x`). NDJSON is not escaped (no spreadsheet opens it).
 * - NDJSON: one JSON object per line, blank lines skipped; a line that is not JSON is that line's problem; one
 *   leading UTF-8 BOM is ignored, as in CSV.
 * - Line numbers count from 1, the CSV header being line 1; a quoted CSV value spanning lines is reported at
 *   the line its record starts on.
 */
import { CsvError } from 'csv-parse';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

export type BulkKind = 'hosts' | 'services' | 'networks';
export const BULK_KINDS: readonly BulkKind[] = ['hosts', 'services', 'networks'];

export type BulkFormat = 'csv' | 'ndjson';

/** One problem of one line of an import. */
export interface ImportProblem {
  line: number;
  field: string;
  reason: string;
}

/** A row as read: its line and the object its values make, not yet validated. */
export interface ImportRow {
  line: number;
  input: Record<string, unknown>;
}

export interface ParsedImport {
  rows: ImportRow[];
  problems: ImportProblem[];
  /** The file itself is unreadable (header, CSV syntax): nothing may be applied, whatever the mode. */
  fatal: boolean;
}

/** How a CSV column maps to the JSON field of the same name. */
type ColumnType = 'required' | 'optional' | 'json' | 'nullable';

const READ_ONLY = { createdAt: 'optional', updatedAt: 'optional' } as const;

/** The columns of each kind, in the order an export writes them: the key first, the timestamps last. */
export const COLUMNS: Record<BulkKind, Readonly<Record<string, ColumnType>>> = {
  hosts: {
    hostname: 'required',
    ipAddress: 'required',
    datacenter: 'required',
    environment: 'required',
    costCenter: 'required',
    tags: 'json',
    ...READ_ONLY,
  },
  services: {
    name: 'required',
    team: 'required',
    owner: 'required',
    tier: 'required',
    version: 'required',
    costCenter: 'required',
    tags: 'json',
    ...READ_ONLY,
  },
  networks: {
    cidr: 'required',
    datacenter: 'required',
    environment: 'required',
    zone: 'required',
    description: 'nullable',
    ...READ_ONLY,
  },
};

/**
 * Reads an import body into rows with their line numbers.
 *
 * @example
 * parseImport('hosts', 'csv', 'hostname,ipAddress,datacenter,environment,costCenter\nweb-1,10.0.0.5,eu-1,prod,ops\n');
 * // { rows: [{ line: 2, input: { hostname: 'web-1', ipAddress: '10.0.0.5', … } }], problems: [], fatal: false }
 */
export function parseImport(kind: BulkKind, format: BulkFormat, text: string): ParsedImport {
  return format === 'csv' ? parseCsv(kind, text) : parseNdjson(text);
}

function parseCsv(kind: BulkKind, text: string): ParsedImport {
  const columns = COLUMNS[kind];
  let records: { record: string[]; raw: string; info: { lines: number } }[];
  try {
    records = parse(text.replaceAll('\r\n', '\n'), {
      bom: true,
      info: true,
      raw: true,
      record_delimiter: '\n',
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as typeof records; // with info and raw, each record comes as { record, raw, info }
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const line = (error as CsvError & { lines?: number }).lines ?? 1;
    return { rows: [], problems: [{ line, field: '(csv)', reason: `is not valid CSV: ${error.message}` }], fatal: true };
  }
  const [head, ...body] = records;
  if (head === undefined) return { rows: [], problems: [{ line: 1, field: '(header)', reason: 'is missing: the first line must name the columns' }], fatal: true };
  const header = head.record.map((name) => name.trim());
  const problems: ImportProblem[] = [];
  const headerLine = startLine(head);
  const seen = new Set<string>();
  for (const name of header) {
    if (!Object.hasOwn(columns, name)) problems.push({ line: headerLine, field: name || '(empty)', reason: `is not a known column; the columns are ${Object.keys(columns).join(', ')}` });
    else if (seen.has(name)) problems.push({ line: headerLine, field: name, reason: 'is named twice in the header' });
    seen.add(name);
  }
  for (const [name, type] of Object.entries(columns)) {
    if (type === 'required' && !seen.has(name)) problems.push({ line: headerLine, field: name, reason: 'is a required column and the header does not name it' });
  }
  if (problems.length > 0) return { rows: [], problems, fatal: true };

  const rows: ImportRow[] = [];
  for (const entry of body) {
    const line = startLine(entry);
    if (entry.record.length !== header.length) {
      problems.push({ line, field: '(row)', reason: `has ${entry.record.length} values; the header names ${header.length} columns` });
      continue;
    }
    const input: Record<string, unknown> = {};
    let readable = true;
    header.forEach((name, index) => {
      const cell = unescapeFormula(entry.record[index] as string);
      const type = columns[name] as ColumnType;
      if (cell === '' && type !== 'required') return; // not given: the schema's default
      if (type !== 'json') {
        input[name] = cell;
        return;
      }
      try {
        input[name] = JSON.parse(cell);
      } catch {
        problems.push({ line, field: name, reason: 'must be a JSON object such as {"rack":"r1"}' });
        readable = false;
      }
    });
    if (readable) rows.push({ line, input });
  }
  return { rows, problems, fatal: false };
}

/** The line a CSV record starts on: where it ends, less the line breaks inside it (blank lines before it excluded). */
function startLine({ raw, info }: { raw: string; info: { lines: number } }): number {
  const inside = raw.replace(/^\n+/, '').replace(/\n$/, '');
  return info.lines - (inside.match(/\n/g)?.length ?? 0);
}

/**
 * A value a spreadsheet would read as a formula once its leading single quotes are removed (OWASP "CSV
 * Injection"): the quotes are counted so that escaping stays reversible for a value that starts with a quote.
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;

/** The export's cell for a value: one more leading single quote before a formula start (see the rules above). */
function escapeFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The value of an imported cell: one leading single quote before a formula start is removed. */
function unescapeFormula(cell: string): string {
  return cell.startsWith("'") && FORMULA_START.test(cell) ? cell.slice(1) : cell;
}

function parseNdjson(text: string): ParsedImport {
  const rows: ImportRow[] = [];
  const problems: ImportProblem[] = [];
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (content.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch (error) {
      problems.push({ line, field: '(line)', reason: `is not valid JSON (${error instanceof Error ? error.message : String(error)})` });
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ line, field: '(line)', reason: 'must be a JSON object' });
      return;
    }
    rows.push({ line, input: value as Record<string, unknown> });
  });
  return { rows, problems, fatal: false };
}

/**
 * The CSV header line of an export (with its line break).
 *
 * @example
 * csvHeader('networks'); // 'cidr,datacenter,environment,zone,description,createdAt,updatedAt\n'
 */
export function csvHeader(kind: BulkKind): string {
  return stringify([Object.keys(COLUMNS[kind])]);
}

/**
 * The export line of each record (CSV rows without the header, or NDJSON), each ending in a line break.
 *
 * @example
 * exportLines('hosts', 'ndjson', page); // ['{"hostname":"web-1",…}\n', '{"hostname":"web-2",…}\n']
 */
export function exportLines(kind: BulkKind, format: BulkFormat, records: readonly object[]): string[] {
  if (format === 'ndjson') return records.map((record) => `${JSON.stringify(record)}\n`);
  const columns = Object.entries(COLUMNS[kind]);
  return records.map((record) =>
    stringify([
      columns.map(([name, type]) => {
        const value = (record as Record<string, unknown>)[name];
        if (value === null || value === undefined) return '';
        return escapeFormula(type === 'json' ? JSON.stringify(value) : String(value));
      }),
    ]),
  );
}

/** The media type of each format, as the import accepts and the export answers. */
export const MEDIA_TYPES: Record<BulkFormat, string> = { csv: 'text/csv', ndjson: 'application/x-ndjson' };
