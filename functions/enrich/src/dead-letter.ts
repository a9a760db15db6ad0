/**
 * The dead-letter record: the original bytes (base64, exactly as received), why it failed, and where it came
 * from, so an operator can fix and replay it. Keyed by the event id when the value had one (accounting joins
 * on it), else by the source coordinates, which are stable across retries.
 *
 * A log record of an OTLP request (./otlp/decode-otlp.ts) that fails is a dead letter of its own: keyed by its
 * derived event id, `source.index` its position in the request, and `original.value` a request holding only
 * that record with its resource and scope, in the encoding the record came in, so that it can be replayed
 * alone (a whole OTLP record that cannot be read keeps its own value, as any other record). Those requests
 * repeat their resource, so the dead letters of one Kafka record keep them only within a budget (the
 * record's value size, at least 64 KiB: ./otlp/decode-otlp.ts): past it a dead letter has `original.value`
 * null, `original.truncated` true and `original.value_omitted` saying that the log is in the source record
 * (at `source.partition`/`source.offset`, `source.index` its position in the request); and such a letter
 * keeps the record's key only when it is at most DEAD_LETTER_LIMITS.perLogKeyBytes (else `key` null and
 * `key_bytes` its length). So N logs of a resource without a service cannot make N copies of the resource.
 *
 * Two kinds of failure end here: a value that does not decode to a valid log (`undecodable`, `invalid`), and a
 * record that is not what the poller documents (`malformed`: a coordinate missing or of the wrong type, a value
 * that is not base64, a header byte out of range…). A malformed record carries whatever could still be read:
 * `source` fields it could not tell are null (its topic and partition then come from the records-map key
 * `<topic>-<partition>` where that parses), and `original.malformed` holds the fields named in `problems`
 * exactly as received, so nothing that arrived is lost.
 *
 * Bounded: a dead letter must fit where the record came from and more (base64 is 4/3 of the bytes, and the
 * broker's message.max.bytes, 1 MiB by default, applies to the dead-letter topic too): a key or value of more
 * than DEAD_LETTER_LIMITS.originalBytes (or a key and value that are together: then each of more than
 * prefixBytes) keeps only its first DEAD_LETTER_LIMITS.prefixBytes, with its byte length and sha256, and
 * `original.truncated` is true; headers of more than headersBytes as JSON are not kept (`headers` null,
 * `headers_bytes` their JSON size); `problems` keep their first entries within problemsBytes as JSON, each
 * field and reason cut at problemChars, and a last entry `(problems)` saying how many more there were. So no
 * dead letter written by `deadLetterMessage` is larger than MAX_DEAD_LETTER_BYTES, whatever the record.
 * The whole record stays on raw-logs, at its coordinates (`source`), for the topic's retention. Without the
 * bound a 900 KB value made a 1.2 MB dead letter that the broker refused on every redelivery: the record was
 * reported as a batch item failure forever (so did a 240 KB attribute key quoted in a problem's path).
 */
import { createHash } from 'node:crypto';
import type { FieldProblem } from '#shared/errors.ts';
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { DecodeFailureReason } from './decode.ts';
import { type KafkaEventRecord, type KafkaHeaders, type MalformedRecord, type RecordCoordinates, recordId, safeJson } from './kafka-event.ts';

export type DeadLetterReason = DecodeFailureReason | 'malformed';

export const DEAD_LETTER_LIMITS = {
  /** A key or value of more bytes than this is kept as a prefix, its length and its sha256. */
  originalBytes: 512 * 1024,
  /** How much of such a key or value is kept (base64 in the dead letter). */
  prefixBytes: 64 * 1024,
  /** `problems` as JSON keep their first entries within this many bytes (then one entry saying how many more). */
  problemsBytes: 16 * 1024,
  /** A problem's `field` or `reason` longer than this many characters is cut (then `…(N chars)`). */
  problemChars: 1024,
  /** Headers of more bytes than this as JSON are not kept (they stay on the source record). */
  headersBytes: 16 * 1024,
  /** The dead letter of one log of an OTLP request keeps its record's key only up to this many bytes. */
  perLogKeyBytes: 1024,
} as const;

/** Said by `original.value_omitted`: the log is in the source record, at `source` and `source.index`. */
export const VALUE_IN_SOURCE = 'in the source record (source + index)';

/**
 * The most bytes a dead letter from `deadLetterMessage` takes: key and value (base64 of at most originalBytes
 * together), problems, headers, and a fixed allowance for the rest (coordinates, ids, names, JSON syntax).
 */
export const MAX_DEAD_LETTER_BYTES = Math.ceil(DEAD_LETTER_LIMITS.originalBytes / 3) * 4 + DEAD_LETTER_LIMITS.problemsBytes + DEAD_LETTER_LIMITS.headersBytes + 4 * 1024;

/** What a dead letter keeps of a key or value: all of it (base64) when small enough, else a prefix. */
export interface OriginalBytes {
  key: string | null;
  value: string | null;
  /**
   * True when `key` or `value` holds only a prefix (then `key_bytes`/`value_bytes` and sha256 describe the
   * whole), or a field of `malformed` is `{ json_prefix, json_bytes, json_sha256 }` instead of itself; or
   * when something is not kept at all: `value` (`value_omitted`), a large key of one OTLP log's letter (`key`
   * null, `key_bytes` only), large headers (`headers` null, `headers_bytes`). All of it is on the source record.
   */
  truncated?: true;
  key_bytes?: number;
  key_sha256?: string;
  value_bytes?: number;
  value_sha256?: string;
  /**
   * One log of an OTLP request whose dead letter keeps no value (the dead letters of its record kept their
   * budget): it is in the source record, at `source`, `source.index` its position in the request.
   */
  value_omitted?: typeof VALUE_IN_SOURCE;
  /** Set when `headers` is null because the headers were larger than DEAD_LETTER_LIMITS.headersBytes as JSON. */
  headers_bytes?: number;
}

export interface DeadLetter {
  reason: DeadLetterReason;
  problems: FieldProblem[];
  event_id: string | null;
  /** `index`: the failed log record's position in its OTLP request (OTLP log records only). */
  source: RecordCoordinates & { index?: number };
  /**
   * `key`/`value`: base64 as received; `headers`: as received (bytes may be signed: decode with `b & 0xff`).
   * `malformed` (malformed records only): the fields named in `problems`, as received.
   */
  original: OriginalBytes & { headers: KafkaHeaders | null; malformed?: Record<string, unknown> };
  failed_at: string;
}

/**
 * @param failure `index` and `value` for one log record of an OTLP request: its position, and the base64
 *   value of the request of that record alone (kept instead of the record's)
 * @example
 * const decoded = decodeRecord(record);
 * if (decoded.ok === false) messages.push(deadLetterMessage(record, decoded, 'raw-logs-dlq', now));
 */
export function deadLetterMessage(
  record: KafkaEventRecord,
  failure: { reason: DecodeFailureReason; problems: FieldProblem[]; eventId: string | undefined; index?: number; value?: string; valueOmitted?: true },
  topic: string,
  failedAt: string,
): OutgoingMessage {
  const source: DeadLetter['source'] = { topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp };
  if (failure.index !== undefined) source.index = failure.index;
  const key = record.key ?? null;
  let original: OriginalBytes;
  if (failure.index === undefined) original = bounded(key, record.value ?? null);
  else {
    // One log of a request: its own request (or none: VALUE_IN_SOURCE), and the record's key only when small.
    const keyBytes = key === null ? 0 : decodedLength(key);
    const keep = keyBytes <= DEAD_LETTER_LIMITS.perLogKeyBytes ? key : null;
    original = failure.valueOmitted === true ? { key: keep, value: null, truncated: true, value_omitted: VALUE_IN_SOURCE } : bounded(keep, failure.value ?? record.value ?? null);
    if (keep === null && key !== null) Object.assign(original, { truncated: true, key_bytes: keyBytes });
  }
  const letter: DeadLetter = {
    reason: failure.reason,
    problems: boundedProblems(failure.problems),
    event_id: failure.eventId ?? null,
    source,
    original: { ...original, ...boundedHeaders(record.headers ?? null) },
    failed_at: failedAt,
  };
  return { topic, key: failure.eventId ?? recordId(record), value: JSON.stringify(letter) };
}

/**
 * The dead letter of a record `checkRecord` refused. Its event id, when its value is still a readable log with
 * one, keys it (as for any other dead letter) so that end-to-end accounting finds it.
 *
 * @example
 * const checked = checkRecord(raw, 'raw-logs-0');
 * if (checked instanceof MalformedRecord) messages.push(malformedRecordMessage(checked, 'raw-logs-dlq', now));
 */
export function malformedRecordMessage(record: MalformedRecord, topic: string, failedAt: string): OutgoingMessage {
  const eventId = eventIdOfValue(record.value);
  const original: DeadLetter['original'] = { ...bounded(record.key, record.value), headers: record.headers, malformed: {} };
  for (const name in record.malformed) {
    // A field as received is kept whole up to the same bound as a value (a 900 KB value that is not base64).
    const json = safeJson(record.malformed[name]);
    if (Buffer.byteLength(json) <= DEAD_LETTER_LIMITS.originalBytes) (original.malformed as Record<string, unknown>)[name] = record.malformed[name];
    else {
      (original.malformed as Record<string, unknown>)[name] = { json_prefix: json.slice(0, DEAD_LETTER_LIMITS.prefixBytes), json_bytes: Buffer.byteLength(json), json_sha256: createHash('sha256').update(json).digest('hex') };
      original.truncated = true;
    }
  }
  const letter: DeadLetter = { reason: 'malformed', problems: boundedProblems(record.problems), event_id: eventId ?? null, source: record.source, original, failed_at: failedAt };
  // safeJson: `malformed` holds whatever arrived, which a local caller may have built with bigints.
  return { topic, key: eventId ?? record.id, value: safeJson(letter) };
}

/**
 * The dead letter of a malformed record that could not be written as received (a field nested too deep for
 * JSON.stringify): its problems, coordinates, key, value and headers (all checked, so writable), without the
 * malformed fields, and why. So that even then the record is dead-lettered rather than failing the batch.
 */
export function unwritableRecordMessage(record: MalformedRecord, error: unknown, topic: string, failedAt: string): OutgoingMessage {
  const reason = `could not be kept as received: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  const letter: DeadLetter = {
    reason: 'malformed',
    problems: boundedProblems([...record.problems, { field: 'record', reason }]),
    event_id: null,
    source: record.source,
    original: { ...bounded(record.key, record.value), headers: record.headers },
    failed_at: failedAt,
  };
  return { topic, key: recordId(record.source), value: JSON.stringify(letter) };
}

/**
 * Problems as a dead letter keeps them: within DEAD_LETTER_LIMITS.problemsBytes as JSON, each field and reason
 * within problemChars; the same list when it already is.
 *
 * @example
 * boundedProblems([{ field: 'message', reason: 'is required' }]); // the same list
 * boundedProblems(tenThousandProblems); // the first ones, then { field: '(problems)', reason: 'and 9,9xx more…' }
 */
export function boundedProblems(problems: FieldProblem[]): FieldProblem[] {
  const kept: FieldProblem[] = [];
  let bytes = 2;
  let changed = false;
  for (let i = 0; i < problems.length; i++) {
    const problem = problems[i] as FieldProblem;
    const field = cut(problem.field);
    const reason = cut(problem.reason);
    const item = field === problem.field && reason === problem.reason ? problem : { ...problem, field, reason };
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes + size > DEAD_LETTER_LIMITS.problemsBytes) {
      kept.push({ field: '(problems)', reason: `and ${problems.length - i} more, not kept: a dead letter keeps its problems within ${DEAD_LETTER_LIMITS.problemsBytes} bytes` });
      return kept;
    }
    changed ||= item !== problem;
    kept.push(item);
    bytes += size;
  }
  return changed ? kept : problems;
}

function cut(text: string): string {
  return text.length <= DEAD_LETTER_LIMITS.problemChars ? text : `${text.slice(0, DEAD_LETTER_LIMITS.problemChars)}…(${text.length} chars)`;
}

/** JSON size of a record's headers, once per headers list (the dead letters of one record's logs share it). */
const headersSizes = new WeakMap<object, number>();

/** The headers as the dead letter keeps them: as received, or null (and their size) when too large. */
function boundedHeaders(headers: KafkaHeaders | null): Pick<DeadLetter['original'], 'headers' | 'truncated' | 'headers_bytes'> {
  if (headers === null || headers.length === 0) return { headers };
  let bytes = headersSizes.get(headers);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(safeJson(headers));
    headersSizes.set(headers, bytes);
  }
  return bytes <= DEAD_LETTER_LIMITS.headersBytes ? { headers } : { headers: null, truncated: true, headers_bytes: bytes };
}

/** The key and value as the dead letter keeps them (base64, well-formed: checked by `checkRecord`). */
function bounded(key: string | null, value: string | null): OriginalBytes {
  const original: OriginalBytes = { key, value };
  const keyBytes = key === null ? 0 : decodedLength(key);
  const valueBytes = value === null ? 0 : decodedLength(value);
  // Either over the limit, or both together: then each that is larger than a prefix keeps a prefix.
  const together = keyBytes + valueBytes > DEAD_LETTER_LIMITS.originalBytes;
  for (const name of ['key', 'value'] as const) {
    const base64 = original[name];
    const length = name === 'key' ? keyBytes : valueBytes;
    if (base64 === null || !together || length <= DEAD_LETTER_LIMITS.prefixBytes) continue;
    const bytes = Buffer.from(base64, 'base64');
    original[name] = bytes.subarray(0, DEAD_LETTER_LIMITS.prefixBytes).toString('base64');
    original[`${name}_bytes`] = bytes.length;
    original[`${name}_sha256`] = createHash('sha256').update(bytes).digest('hex');
    original.truncated = true;
  }
  return original;
}

/** Bytes a padded base64 string decodes to, without decoding it. */
function decodedLength(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.floor((base64.length * 3) / 4) - padding;
}

/** Best effort, on the dead-letter path only: the `event_id` of a base64 JSON log value. */
function eventIdOfValue(value: string | null): string | undefined {
  if (value === null || value.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const id = (parsed as { event_id?: unknown }).event_id;
    return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
  } catch {
    return undefined;
  }
}
