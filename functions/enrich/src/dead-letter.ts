/**
 * The dead-letter record: the original bytes (base64, exactly as received), why it failed, and where it came
 * from, so an operator can fix and replay it. Keyed by the event id when the value had one (accounting joins
 * on it), else by the source coordinates, which are stable across retries.
 *
 * Two kinds of failure end here: a value that does not decode to a valid log (`undecodable`, `invalid`), and a
 * record that is not what the poller documents (`malformed`: a coordinate missing or of the wrong type, a value
 * that is not base64, a header byte out of range…). A malformed record carries whatever could still be read:
 * `source` fields it could not tell are null (its topic and partition then come from the records-map key
 * `<topic>-<partition>` where that parses), and `original.malformed` holds the fields named in `problems`
 * exactly as received, so nothing that arrived is lost.
 */
import type { FieldProblem } from '#shared/errors.ts';
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { DecodeFailureReason } from './decode.ts';
import { type KafkaEventRecord, type KafkaHeaders, type MalformedRecord, type RecordCoordinates, recordId, safeJson } from './kafka-event.ts';

export type DeadLetterReason = DecodeFailureReason | 'malformed';

export interface DeadLetter {
  reason: DeadLetterReason;
  problems: FieldProblem[];
  event_id: string | null;
  source: RecordCoordinates;
  /**
   * `key`/`value`: base64 as received; `headers`: as received (bytes may be signed: decode with `b & 0xff`).
   * `malformed` (malformed records only): the fields named in `problems`, as received.
   */
  original: { key: string | null; value: string | null; headers: KafkaHeaders | null; malformed?: Record<string, unknown> };
  failed_at: string;
}

export function deadLetterMessage(
  record: KafkaEventRecord,
  failure: { reason: DecodeFailureReason; problems: FieldProblem[]; eventId: string | undefined },
  topic: string,
  failedAt: string,
): OutgoingMessage {
  const letter: DeadLetter = {
    reason: failure.reason,
    problems: failure.problems,
    event_id: failure.eventId ?? null,
    source: { topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp },
    original: { key: record.key ?? null, value: record.value ?? null, headers: record.headers ?? null },
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
  const letter: DeadLetter = {
    reason: 'malformed',
    problems: record.problems,
    event_id: eventId ?? null,
    source: record.source,
    original: { key: record.key, value: record.value, headers: record.headers, malformed: record.malformed },
    failed_at: failedAt,
  };
  // safeJson: `malformed` holds whatever arrived, which a local caller may have built with bigints.
  return { topic, key: eventId ?? record.id, value: safeJson(letter) };
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
