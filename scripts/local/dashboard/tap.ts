/**
 * What the dashboard reads from the messages enrich published (no I/O): the `enrichment.missing` of a partial
 * output (our JSON, v1 or v2, or OTLP: protobuf or JSON) and the summary of a dead letter (its JSON envelope,
 * ../../../functions/enrich/src/dead-letter.ts). Unreadable input gives nothing, never an exception: the
 * dashboard must not fail a publish it only watches.
 */
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import { kvlist, otlpRequestOf, type ReadRecord } from '../../../functions/enrich/src/replay/rebuild.ts';
import type { PartialReason, RecentDeadLetter } from './contract.ts';

export type MissingReason = PartialReason['reason'];
const REASONS: ReadonlySet<string> = new Set<MissingReason>(['not_found', 'unavailable', 'stale']);

/** How many characters of a preview or a problem are kept. */
export const PREVIEW_CHARS = 200;
/** Base64 characters decoded for a preview: 800 bytes, enough for 200 characters of anything but the widest UTF-8. */
const PREVIEW_BASE64_CHARS = 4 * Math.ceil(800 / 3);

/**
 * The `enrichment.missing` of each log of a partial output (field → reason), one entry per log; an OTLP output
 * holds one or more logs. Empty when the message is not a partial enrich wrote.
 *
 * @example
 * missingOf({ topic: 'enriched-logs-partial', key: 'e1', value: '{"enrichment":{"missing":{"service.team":"not_found"}}}' });
 * // [{ 'service.team': 'not_found' }]
 */
export function missingOf(message: OutgoingMessage): Record<string, MissingReason>[] {
  const value = typeof message.value === 'string' ? Buffer.from(message.value) : message.value;
  const record: ReadRecord = { value, headers: Object.entries(message.headers ?? {}).map(([name, text]) => [name, Buffer.from(text, 'latin1')] as const) };
  const request = otlpRequestOf(record);
  if (request !== undefined) {
    const out: Record<string, MissingReason>[] = [];
    for (const resourceLogs of request.resourceLogs) {
      const resource = resourceLogs.resource?.attributes ?? [];
      for (const scopeLogs of resourceLogs.scopeLogs) {
        for (const log of scopeLogs.logRecords) {
          // encode-otlp writes `enrichment.*` on the log record; the resource is read too, as replay does.
          const attribute = log.attributes.find((each) => each.key === 'enrichment.missing') ?? resource.find((each) => each.key === 'enrichment.missing');
          if (attribute !== undefined) out.push(reasons(kvlist(attribute.value)));
        }
      }
    }
    return out;
  }
  let event: unknown;
  try {
    event = JSON.parse(value.toString('utf8'));
  } catch {
    return [];
  }
  const missing = objectOf(objectOf(objectOf(event)?.enrichment)?.missing);
  return missing === undefined ? [] : [reasons(missing)];
}

/**
 * A dead letter as the dashboard lists it; `at` is when it was seen. A value that is not a dead letter's JSON
 * is listed as `unreadable dead letter` with a preview of its own bytes.
 *
 * @example
 * deadLetterOf({ topic: 'raw-logs-dlq', key: 'raw-logs-0@7', value: letterJson }, Date.now());
 * // { reason: 'undecodable', topic: 'raw-logs', partition: 0, offset: 7, problem: 'value: is not JSON', preview: 'not json{', at }
 */
export function deadLetterOf(message: OutgoingMessage, at: number): RecentDeadLetter {
  const text = typeof message.value === 'string' ? message.value : message.value.toString('utf8');
  let letter: Record<string, unknown> | undefined;
  try {
    letter = objectOf(JSON.parse(text));
  } catch {
    letter = undefined;
  }
  if (letter === undefined) return { at, reason: 'unreadable dead letter', topic: null, partition: null, offset: null, problem: null, preview: printable(text) };
  const source = objectOf(letter.source);
  const first = Array.isArray(letter.problems) ? objectOf(letter.problems[0]) : undefined;
  const value = objectOf(letter.original)?.value;
  return {
    at,
    reason: typeof letter.reason === 'string' ? letter.reason : 'unknown',
    topic: typeof source?.topic === 'string' ? source.topic : null,
    partition: integerOf(source?.partition),
    offset: integerOf(source?.offset),
    problem: first === undefined ? null : printable(`${String(first.field)}: ${String(first.reason)}`),
    preview: typeof value === 'string' ? previewOf(value) : null,
  };
}

/**
 * The start of a base64 value as text: at most PREVIEW_CHARS, bytes that are not UTF-8 as U+FFFD. A
 * malformed record's value may not be base64 at all (that is why it was dead-lettered): then it is shown as it is.
 */
export function previewOf(base64: string): string {
  const head = base64.slice(0, PREVIEW_BASE64_CHARS);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(head)) return printable(base64);
  let text = Buffer.from(head, 'base64').toString('utf8');
  // A character cut by the prefix decodes as U+FFFD: not part of the value.
  if (head.length < base64.length) text = text.replace(/\uFFFD+$/, '');
  return printable(text);
}

/**
 * Characters that change how the text around them reads without showing themselves: zero-width ones
 * (U+200B–U+200F) and the bidirectional controls (U+202A–U+202E, U+2066–U+2069, which turn "reversed" into
 * "desrever"), shown escaped like control characters.
 */
function isInvisible(code: number): boolean {
  return (code >= 0x200b && code <= 0x200f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code === 0xfeff;
}

/**
 * At most `max` characters, every control character escaped (`\n`, `\r`, `\t`, else `\xHH` / `\uHHHH`), so a
 * preview is one printable line; an escape is never cut.
 */
export function printable(text: string, max = PREVIEW_CHARS): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const piece =
      char === '\n'
        ? '\\n'
        : char === '\r'
          ? '\\r'
          : char === '\t'
            ? '\\t'
            : code < 0x20 || (code >= 0x7f && code < 0xa0)
              ? `\\x${code.toString(16).padStart(2, '0')}`
              : code === 0x2028 || code === 0x2029 || isInvisible(code)
                ? `\\u${code.toString(16).padStart(4, '0')}`
                : char;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  return out;
}

function reasons(missing: Record<string, unknown>): Record<string, MissingReason> {
  const out: Record<string, MissingReason> = {};
  for (const [field, reason] of Object.entries(missing)) if (typeof reason === 'string' && REASONS.has(reason)) out[field] = reason as MissingReason;
  return out;
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function integerOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}
