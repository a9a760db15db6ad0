/**
 * The dead-letter record: the original bytes (base64, exactly as received), why it failed, and where it came
 * from, so an operator can fix and replay it. Keyed by the event id when the value had one (accounting joins
 * on it), else by the source coordinates, which are stable across retries.
 */
import type { FieldProblem } from '#shared/errors.ts';
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { DecodeFailureReason } from './decode.ts';
import { type KafkaEventRecord, recordId } from './kafka-event.ts';

export interface DeadLetter {
  reason: DecodeFailureReason;
  problems: FieldProblem[];
  event_id: string | null;
  source: { topic: string; partition: number; offset: number; timestamp: number };
  original: { key: string | null; value: string | null; headers: KafkaEventRecord['headers'] | null };
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
