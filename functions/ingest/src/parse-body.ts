/**
 * Turns a request body into candidate records: one JSON object, a JSON array, or NDJSON (one object per
 * line). Only the shape of the body is checked here; each record is validated by the use case.
 *
 * Bytes are decoded as enrich decodes a Kafka value (#shared/text/utf8.ts): strict UTF-8, so a body that is
 * not UTF-8 (a Latin-1 `caf\xE9`) is refused with 400 rather than stored with U+FFFD in place of its bytes,
 * and one leading BOM is dropped in both formats (NDJSON lines are trimmed, which drops a BOM anyway).
 */
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';
import type { FieldProblem } from '#shared/errors.ts';
import { parseJson } from '#shared/http/request.ts';
import { decodeUtf8, withoutBomText } from '#shared/text/utf8.ts';

export const JSON_TYPE = 'application/json';
export const NDJSON_TYPE = 'application/x-ndjson';

export type BodyFormat = 'json' | 'ndjson';

/** A record as found in the body: its value, or why it could not even be read (a malformed NDJSON line). */
export type Candidate =
  | { readonly index: number; readonly value: unknown }
  | { readonly index: number; readonly problem: FieldProblem & { index: number } };

/**
 * The body format for a media type; anything else is refused with 415 before the body is read.
 *
 * @example
 * bodyFormat('application/x-ndjson'); // 'ndjson'
 */
export function bodyFormat(mediaType: string | undefined): BodyFormat {
  if (mediaType === JSON_TYPE) return 'json';
  if (mediaType === NDJSON_TYPE) return 'ndjson';
  throw new UnsupportedMediaTypeError(
    `content-type must be ${JSON_TYPE} or ${NDJSON_TYPE}, got ${mediaType === undefined ? 'none' : mediaType}`,
  );
}

/**
 * Splits a body into candidates, indexed by their position in the batch (for NDJSON, blank lines are
 * skipped and do not count). Refuses an unreadable or empty body (400/422) and more than `maxRecords`
 * records (413, counted before any line is parsed).
 *
 * @example
 * parseLogBody('ndjson', '{"level":"INFO"}\nnot json\n', 1000);
 * // [{ index: 0, value: { level: 'INFO' } }, { index: 1, problem: { index: 1, field: '(record)', reason: 'is not valid JSON' } }]
 */
export function parseLogBody(format: BodyFormat, body: string | Buffer, maxRecords: number): Candidate[] {
  const text = typeof body === 'string' ? withoutBomText(body) : utf8Body(body);
  return format === 'json' ? parseJsonBody(text, maxRecords) : parseNdjsonBody(text, maxRecords);
}

/** The body's text; 400 naming the first byte that is not UTF-8. */
function utf8Body(bytes: Buffer): string {
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) throw new ValidationError([{ field: 'body', reason: decoded.reason }], 400);
  return decoded.text;
}

function parseJsonBody(text: string, maxRecords: number): Candidate[] {
  const parsed = parseJson(text);
  if (!Array.isArray(parsed)) return [{ index: 0, value: parsed }];
  if (parsed.length === 0) {
    throw new ValidationError([{ field: 'body', reason: 'is an empty array; send at least one log' }], 422);
  }
  checkBatchLength(parsed.length, maxRecords);
  return parsed.map((value: unknown, index) => ({ index, value }));
}

function parseNdjsonBody(text: string, maxRecords: number): Candidate[] {
  // trim() also drops the \r of CRLF line ends.
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  if (lines.length === 0) {
    throw new ValidationError([{ field: 'body', reason: 'is empty; send one JSON log object per line' }], 400);
  }
  checkBatchLength(lines.length, maxRecords);
  return lines.map((line, index): Candidate => {
    try {
      return { index, value: JSON.parse(line) };
    } catch {
      // One bad line must not cost the others: it is reported, the rest go on.
      return { index, problem: { index, field: '(record)', reason: 'is not valid JSON' } };
    }
  });
}

function checkBatchLength(length: number, maxRecords: number): void {
  if (length > maxRecords) {
    throw new PayloadTooLargeError(`batch has ${length} records; the limit is ${maxRecords} records`, maxRecords);
  }
}
