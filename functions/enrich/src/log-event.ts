/**
 * The log the enrich stages work on: a `RawLogRecord` with every pipeline field filled. A record that did not
 * come through our ingest (kcat, Fluent Bit, Vector, a Java producer) may lack them; they are derived from the
 * Kafka record, so that a redelivered batch derives the same values and downstream deduplication on event_id
 * still works, and the output says which were derived (`enrichment.derived`).
 *
 * - event_id: UUID v5 (RFC 9562) of `<topic>/<partition>/<offset>` in EVENT_ID_NAMESPACE. The coordinates are
 *   what the record IS on the log; nothing else about it is stable (a producer may send the same bytes twice,
 *   and those are two events).
 * - received_at: the Kafka record's timestamp (producer create time or broker append time, per the topic's
 *   `message.timestamp.type`); a record without one (-1, pre-0.10 producers) gets the time it is decoded.
 * - timestamp: received_at.
 */
import type { RawLogRecord } from '#shared/schemas/log.ts';
import { parse as parseUuid, v5 as uuidV5 } from 'uuid';

/**
 * Namespace of derived event ids: `uuidv5('https://log-enrichment.example/raw-logs', uuid.URL)`, fixed here
 * (tests/unit/enrich/log-event.test.ts recomputes it). Changing it changes every derived id: never do.
 */
export const EVENT_ID_NAMESPACE = '144062ea-2026-50cf-9071-c92f216ac379';
const NAMESPACE_BYTES = parseUuid(EVENT_ID_NAMESPACE);

export const DERIVABLE = ['event_id', 'received_at', 'timestamp'] as const;
export type DerivedField = (typeof DERIVABLE)[number];

export interface LogEvent extends Omit<RawLogRecord, 'event_id' | 'received_at' | 'timestamp' | 'dropped_attributes'> {
  event_id: string;
  timestamp: string;
  received_at: string;
  /** Pipeline fields this record did not carry, derived from its Kafka record (in DERIVABLE order). */
  derived: readonly DerivedField[];
  /** Extra fields that did not fit under `attributes` (at ingest or here). */
  dropped_attributes: readonly string[];
}

export interface RecordPosition {
  topic: string;
  partition: number;
  offset: number;
  /** Epoch milliseconds; negative when the record has none. */
  timestamp: number;
}

export const NONE: readonly never[] = Object.freeze([]);

/**
 * @example
 * derivedEventId({ topic: 'raw-logs', partition: 0, offset: 1 }); // '6229f364-b388-56f8-85c6-3af2cc4cfd50'
 */
export function derivedEventId(record: Pick<RecordPosition, 'topic' | 'partition' | 'offset'>): string {
  return uuidV5(`${record.topic}/${record.partition}/${record.offset}`, NAMESPACE_BYTES);
}

/** The record's fields, in the order the fast path (./fast-validate.ts) builds them too. */
export function toLogEvent(raw: RawLogRecord, record: RecordPosition): LogEvent {
  const derived: DerivedField[] = [];
  let eventId = raw.event_id;
  if (eventId === undefined) {
    eventId = derivedEventId(record);
    derived.push('event_id');
  }
  let receivedAt = raw.received_at;
  if (receivedAt === undefined) {
    receivedAt = (Number.isFinite(record.timestamp) && record.timestamp >= 0 ? new Date(record.timestamp) : new Date()).toISOString();
    derived.push('received_at');
  }
  let timestamp = raw.timestamp;
  if (timestamp === undefined) {
    timestamp = receivedAt;
    derived.push('timestamp');
  }
  const log: LogEvent = { level: raw.level, message: raw.message, service: raw.service } as LogEvent;
  if (raw.source_ip !== undefined) log.source_ip = raw.source_ip;
  log.timestamp = timestamp;
  if (raw.hostname !== undefined) log.hostname = raw.hostname;
  if (raw.trace_id !== undefined) log.trace_id = raw.trace_id;
  if (raw.attributes !== undefined) log.attributes = raw.attributes;
  log.event_id = eventId;
  log.received_at = receivedAt;
  log.derived = derived.length === 0 ? NONE : derived;
  log.dropped_attributes = raw.dropped_attributes ?? NONE;
  return log;
}
