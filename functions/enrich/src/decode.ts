/**
 * Stage 1: a Kafka record's value becomes a `LogEvent`, or a dead letter with the reasons. Anything can be
 * written to a topic, so the log contract that ingest applies (#shared/schemas/log.ts: our shape, ECS, the
 * common shippers' fields) is applied here again, and the pipeline fields a record from another producer lacks
 * are derived from its Kafka record (./log-event.ts). What fails is never dropped and never fails the batch
 * (retrying a record that can never decode would only block its partition).
 */
import type { FieldProblem } from '#shared/errors.ts';
import { parseRawLogRecord } from '#shared/schemas/log.ts';
import { fastLogEvent } from './fast-validate.ts';
import type { KafkaEventRecord } from './kafka-event.ts';
import { derivedEventId, type LogEvent, toLogEvent } from './log-event.ts';

export type DecodeFailureReason = 'undecodable' | 'invalid';

export type Decoded =
  | { ok: true; log: LogEvent }
  | { ok: false; reason: DecodeFailureReason; problems: FieldProblem[]; eventId: string | undefined };

/**
 * @example
 * const decoded = decodeRecord(event.records['raw-logs-0'][0]);
 * if (!decoded.ok) deadLetters.push(deadLetterMessage(record, decoded, topic, now));
 */
export function decodeRecord(record: KafkaEventRecord): Decoded {
  const value = record.value;
  if (value === undefined || value === null || value.length === 0) {
    return { ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: 'is empty' }], eventId: undefined };
  }
  let parsed: unknown;
  try {
    // JSON.parse once per record, straight from the base64 bytes.
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'is not JSON';
    return { ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: `is not valid JSON: ${reason}` }], eventId: undefined };
  }
  return decodeValue(parsed, record);
}

/** A parsed value: the fast path for our own ingest's records, else the contract (normalise → zod → derive). */
function decodeValue(parsed: unknown, record: KafkaEventRecord): Decoded {
  const fast = fastLogEvent(parsed);
  if (fast !== undefined) return { ok: true, log: fast };
  const result = parseRawLogRecord(parsed);
  if (result.ok) return { ok: true, log: toLogEvent(result.log, record) };
  return { ok: false, reason: 'invalid', problems: result.problems, eventId: eventIdOf(parsed, record) };
}

/**
 * The event id of an invalid record, so the dead letter can still be accounted for: its own when it has a
 * usable one, else the one a valid record at these coordinates would have been given.
 */
function eventIdOf(parsed: unknown, record: KafkaEventRecord): string | undefined {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const id = (parsed as { event_id?: unknown }).event_id;
  if (id === undefined || id === null) return derivedEventId(record);
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}
