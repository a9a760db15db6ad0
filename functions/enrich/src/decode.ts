/**
 * Stage 1: a Kafka record's value becomes a `RawLogRecord`, or a dead letter with the reasons. Anything can be
 * written to a topic, so ingest's validation is repeated here; what fails is never dropped and never fails
 * the batch (retrying a record that can never decode would only block its partition).
 */
import type { FieldProblem } from '#shared/errors.ts';
import { RawLogRecord, zodProblems } from '#shared/schemas/log.ts';
import { fastRawLogRecord } from './fast-validate.ts';
import type { KafkaEventRecord } from './kafka-event.ts';

export type DecodeFailureReason = 'undecodable' | 'invalid';

export type Decoded =
  | { ok: true; log: RawLogRecord }
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
  const fast = fastRawLogRecord(parsed);
  if (fast !== undefined) return { ok: true, log: fast };
  const result = RawLogRecord.safeParse(parsed);
  if (result.success) return { ok: true, log: result.data };
  return { ok: false, reason: 'invalid', problems: zodProblems(result.error, parsed), eventId: eventIdOf(parsed) };
}

/** The event id of an invalid record when it has a usable one, so the dead letter can still be accounted for. */
function eventIdOf(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const id = (parsed as { event_id?: unknown }).event_id;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}
