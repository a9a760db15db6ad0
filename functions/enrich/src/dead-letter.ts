/**
 * The dead-letter record: the original bytes (base64, exactly as received), why it failed, and where it came
 * from, so an operator can fix and replay it. Keyed by the event id when the value had one (accounting joins
 * on it), else by the source coordinates, which are stable across retries.
 *
 * A log record of an OTLP request (./otlp/decode-otlp.ts) that fails is a dead letter of its own: keyed by its
 * derived event id, `source.index` its position in the request, and `original.value` a request holding only
 * that record with its resource and scope, in the encoding the record came in, so that it can be replayed
 * alone (a whole OTLP record that cannot be read keeps its own value, as any other record).
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
 * than DEAD_LETTER_LIMITS.originalBytes keeps only its first DEAD_LETTER_LIMITS.prefixBytes, with its byte
 * length and sha256, and `original.truncated` is true. The whole record stays on raw-logs, at its coordinates
 * (`source`), for the topic's retention. Without the bound a 900 KB value made a 1.2 MB dead letter that the
 * broker refused on every redelivery: the record was reported as a batch item failure forever.
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
} as const;

/** What a dead letter keeps of a key or value: all of it (base64) when small enough, else a prefix. */
export interface OriginalBytes {
  key: string | null;
  value: string | null;
  /**
   * True when `key` or `value` holds only a prefix (then `key_bytes`/`value_bytes` and sha256 describe the
   * whole), or a field of `malformed` is `{ json_prefix, json_bytes, json_sha256 }` instead of itself.
   */
  truncated?: true;
  key_bytes?: number;
  key_sha256?: string;
  value_bytes?: number;
  value_sha256?: string;
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
  failure: { reason: DecodeFailureReason; problems: FieldProblem[]; eventId: string | undefined; index?: number; value?: string },
  topic: string,
  failedAt: string,
): OutgoingMessage {
  const source: DeadLetter['source'] = { topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp };
  if (failure.index !== undefined) source.index = failure.index;
  const letter: DeadLetter = {
    reason: failure.reason,
    problems: failure.problems,
    event_id: failure.eventId ?? null,
    source,
    original: { ...bounded(record.key ?? null, failure.value ?? record.value ?? null), headers: record.headers ?? null },
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
  const letter: DeadLetter = { reason: 'malformed', problems: record.problems, event_id: eventId ?? null, source: record.source, original, failed_at: failedAt };
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
    problems: [...record.problems, { field: 'record', reason }],
    event_id: null,
    source: record.source,
    original: { ...bounded(record.key, record.value), headers: record.headers },
    failed_at: failedAt,
  };
  return { topic, key: recordId(record.source), value: JSON.stringify(letter) };
}

/** The key and value as the dead letter keeps them (base64, well-formed: checked by `checkRecord`). */
function bounded(key: string | null, value: string | null): OriginalBytes {
  const original: OriginalBytes = { key, value };
  for (const name of ['key', 'value'] as const) {
    const base64 = original[name];
    if (base64 === null || decodedLength(base64) <= DEAD_LETTER_LIMITS.originalBytes) continue;
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
