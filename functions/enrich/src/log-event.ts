/**
 * The log the enrich stages work on: a `RawLogRecord` with every pipeline field filled. A record that did not
 * come through our ingest (kcat, Fluent Bit, Vector, a Java producer) may lack them; they are derived from the
 * Kafka record, so that a redelivered batch derives the same values and downstream deduplication on event_id
 * still works, and the output says which were derived (`enrichment.derived`).
 *
 * - event_id: UUID v5 (RFC 9562) of `<topic>/<partition>/<offset>` in EVENT_ID_NAMESPACE. The coordinates are
 *   what the record IS on the log; nothing else about it is stable (a producer may send the same bytes twice,
 *   and those are two events). A log decoded from an OTLP request, one of many in its record, is
 *   `<topic>/<partition>/<offset>/<index>` (its position in the request: ./otlp/decode-otlp.ts), always.
 * - received_at: the Kafka record's timestamp (producer create time or broker append time, per the topic's
 *   `message.timestamp.type`); a record without one (-1, pre-0.10 producers), or with one outside
 *   1970-01-01..9999-12-31 (a producer's clock or bug: beyond Date's range `toISOString` throws, past year
 *   9999 it writes `+010000-…`, which is no date-time), gets the time it is decoded. The log itself is fine:
 *   the Kafka timestamp is only where received_at comes from, so the record is enriched, not dead-lettered.
 * - timestamp: received_at.
 * - level (OTLP logs only): INFO, for a log record with neither a severity number nor a severity text our
 *   levels know.
 */
import { boundedKeyList } from '#shared/schemas/normalise.ts';
import { LIMITS, type RawLogRecord } from '#shared/schemas/log.ts';
import { parse as parseUuid, v5 as uuidV5 } from 'uuid';
import type { OtlpOrigin } from './otlp/types.ts';

/**
 * Namespace of derived event ids: `uuidv5('https://log-enrichment.example/raw-logs', uuid.URL)`, fixed here
 * (tests/unit/enrich/log-event.test.ts recomputes it). Changing it changes every derived id: never do.
 */
export const EVENT_ID_NAMESPACE = '144062ea-2026-50cf-9071-c92f216ac379';
const NAMESPACE_BYTES = parseUuid(EVENT_ID_NAMESPACE);

export const DERIVABLE = ['event_id', 'received_at', 'timestamp', 'level'] as const;
export type DerivedField = (typeof DERIVABLE)[number];

export interface LogEvent extends Omit<RawLogRecord, 'event_id' | 'received_at' | 'timestamp' | 'dropped_attributes'> {
  event_id: string;
  timestamp: string;
  received_at: string;
  /** Pipeline fields this record did not carry, derived from its Kafka record (in DERIVABLE order). */
  derived: readonly DerivedField[];
  /** Extra fields that did not fit under `attributes` (at ingest or here). */
  dropped_attributes: readonly string[];
  /** A log decoded from an OTLP request: its log record, resource and scope as received, and its index. */
  origin?: OtlpOrigin;
}

export interface RecordPosition {
  topic: string;
  partition: number;
  offset: number;
  /** Epoch milliseconds; negative when the record has none. */
  timestamp: number;
}

export const NONE: readonly never[] = Object.freeze([]);

/** 9999-12-31T23:59:59.999Z, the last instant `toISOString` writes as a four-digit-year date-time. */
export const LAST_ISO_MS = 253_402_300_799_999;

/** A Kafka record timestamp that gives received_at: 1970-01-01..9999-12-31 (negative is Kafka's "none"). */
export function usableRecordTimestamp(timestamp: number): boolean {
  return timestamp >= 0 && timestamp <= LAST_ISO_MS;
}

/** received_at of a record that has none: its Kafka timestamp when usable, else now (module comment). */
export function derivedReceivedAt(record: Pick<RecordPosition, 'timestamp'>): string {
  return (usableRecordTimestamp(record.timestamp) ? new Date(record.timestamp) : new Date()).toISOString();
}

/**
 * @param index the log's position in its OTLP request, for a log decoded from one (never for a JSON record:
 *   existing ids must not change)
 * @example
 * derivedEventId({ topic: 'raw-logs', partition: 0, offset: 1 }); // '6229f364-b388-56f8-85c6-3af2cc4cfd50'
 * derivedEventId({ topic: 'raw-logs', partition: 0, offset: 1 }, 0); // the UUID v5 of 'raw-logs/0/1/0'
 */
export function derivedEventId(record: Pick<RecordPosition, 'topic' | 'partition' | 'offset'>, index?: number): string {
  const name = `${record.topic}/${record.partition}/${record.offset}`;
  return uuidV5(index === undefined ? name : `${name}/${index}`, NAMESPACE_BYTES);
}

/** The record's fields in a fixed order; the fast path (./fast-validate.ts) builds its events with this too. */
export function toLogEvent(raw: RawLogRecord, record: RecordPosition): LogEvent {
  // Allocated only when something is derived (never on the fast path: ./fast-validate.ts).
  let derived: DerivedField[] | undefined;
  let eventId = raw.event_id;
  if (eventId === undefined) {
    eventId = derivedEventId(record);
    derived = ['event_id'];
  }
  let receivedAt = raw.received_at;
  if (receivedAt === undefined) {
    receivedAt = derivedReceivedAt(record);
    derived = derived === undefined ? ['received_at'] : [...derived, 'received_at'];
  }
  let timestamp = raw.timestamp;
  if (timestamp === undefined) {
    timestamp = receivedAt;
    derived = derived === undefined ? ['timestamp'] : [...derived, 'timestamp'];
  }
  const log: LogEvent = { level: raw.level, message: raw.message, service: raw.service } as LogEvent;
  if (raw.source_ip !== undefined) log.source_ip = raw.source_ip;
  log.timestamp = timestamp;
  if (raw.hostname !== undefined) log.hostname = raw.hostname;
  if (raw.trace_id !== undefined) log.trace_id = raw.trace_id;
  if (raw.attributes !== undefined) log.attributes = raw.attributes;
  log.event_id = eventId;
  log.received_at = receivedAt;
  log.derived = derived ?? NONE;
  log.dropped_attributes = raw.dropped_attributes ?? NONE;
  return log;
}

/**
 * The log with another producer's own `event_id` (not a UUID, so not a pipeline id) kept under `attributes`,
 * as ingest keeps a client's: added after the log's other attributes while the whole fits in
 * LIMITS.attributesBytes, else, or when `attributes` already has an `event_id`, named in `dropped_attributes`.
 * The log's event_id is then the derived one (`toLogEvent` listed it in `derived`).
 *
 * @example
 * withForeignEventId(log, 'evt-123').attributes; // { …, event_id: 'evt-123' }
 */
export function withForeignEventId(log: LogEvent, foreignId: unknown): LogEvent {
  const attributes = log.attributes;
  if (attributes !== undefined && Object.hasOwn(attributes, 'event_id')) {
    return { ...log, dropped_attributes: boundedKeyList([...log.dropped_attributes, 'event_id']) };
  }
  const bytes = attributes === undefined ? 2 : Buffer.byteLength(JSON.stringify(attributes));
  const entry = Buffer.byteLength(`"event_id":${JSON.stringify(foreignId)}`) + (attributes === undefined || Object.keys(attributes).length === 0 ? 0 : 1);
  if (bytes + entry > LIMITS.attributesBytes) {
    return { ...log, dropped_attributes: boundedKeyList([...log.dropped_attributes, 'event_id']) };
  }
  return { ...log, attributes: { ...attributes, event_id: foreignId } };
}
