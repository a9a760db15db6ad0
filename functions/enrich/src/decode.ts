/**
 * Stage 1: a Kafka record's value becomes a `LogEvent`, or a dead letter with the reasons. Anything can be
 * written to a topic, so the log contract that ingest applies (#shared/schemas/log.ts: our shape, ECS, the
 * common shippers' fields) is applied here again, and the pipeline fields a record from another producer lacks
 * are derived from its Kafka record (./log-event.ts). What fails is never dropped and never fails the batch
 * (retrying a record that can never decode would only block its partition): `decodeRecord` never throws,
 * whatever the value holds; an exception while decoding or applying the contract (a value nested too deep
 * for JSON.stringify, a bug in the contract) dead-letters this record with the error as its problem.
 *
 * Bytes: strict UTF-8 (a Latin-1 `caf\xE9` is `undecodable`, never silently U+FFFD), one leading BOM dropped.
 *
 * A record may also hold an OpenTelemetry `ExportLogsServiceRequest` (./otlp/decode-otlp.ts: how it is
 * recognised, by its `content-type` header or its content, and mapped): each of its log records is then a log
 * of its own, or a dead letter of its own. Recognising costs our own ingest's records nothing: they take the
 * fast path before anything looks for OTLP, and only a value that is not JSON is tried as protobuf.
 */
import type { FieldProblem } from '#shared/errors.ts';
import { parseRawLogRecord, RawLogRecord } from '#shared/schemas/log.ts';
import { decodeUtf8 } from '#shared/text/utf8.ts';
import { fastLogEvent } from './fast-validate.ts';
import { type KafkaEventRecord, valueBytes } from './kafka-event.ts';
import { derivedEventId, type LogEvent, toLogEvent, withForeignEventId } from './log-event.ts';
import { type DeclaredEncoding, decodeOtlpJson, decodeOtlpProto, declaredEncoding, isOtlpJson, type OtlpEncoding } from './otlp/decode-otlp.ts';

export type DecodeFailureReason = 'undecodable' | 'invalid';

export interface DecodedLog {
  ok: true;
  log: LogEvent;
}

export interface DecodeFailure {
  ok: false;
  reason: DecodeFailureReason;
  problems: FieldProblem[];
  eventId: string | undefined;
  /** A log record of an OTLP request: its position in the request (`source.index` of its dead letter). */
  index?: number;
  /** A log record of an OTLP request: the base64 value its dead letter keeps (a request of that record alone). */
  value?: string;
  /**
   * A log record of an OTLP request whose dead letter keeps no value: the dead letters of its Kafka record
   * already keep their budget of one-record requests (./otlp/decode-otlp.ts); the log is in the source record.
   */
  valueOmitted?: true;
}

/** A record holding an OTLP request with log records: one result per log record, in request order. */
export interface DecodedLogs {
  ok: 'logs';
  encoding: OtlpEncoding;
  logs: (DecodedLog | DecodeFailure)[];
}

export type Decoded = DecodedLog | DecodeFailure | DecodedLogs;

/**
 * @example
 * const decoded = decodeRecord(event.records['raw-logs-0'][0]);
 * if (decoded.ok === false) deadLetters.push(deadLetterMessage(record, decoded, topic, now));
 * else if (decoded.ok === 'logs') for (const each of decoded.logs) …; // an OTLP request
 */
export function decodeRecord(record: KafkaEventRecord): Decoded {
  const value = record.value;
  if (value === undefined || value === null || value.length === 0) {
    return { ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: 'is empty' }], eventId: undefined };
  }
  const declared = declaredEncoding(record.headers);
  if (declared === 'otlp_proto') return decodeOtlpProto(Buffer.from(value, 'base64'), record);
  let parsed: unknown;
  let text: string;
  try {
    const decoded = valueText(value);
    if (!decoded.ok) return notJson(value, record, declared, decoded.reason);
    text = decoded.text;
    // JSON.parse once per record (an OTLP/JSON request with long numbers is parsed again: ./otlp/decode-otlp.ts).
    parsed = JSON.parse(text);
  } catch (error) {
    return notJson(value, record, declared, `is not valid JSON: ${messageOf(error)}`);
  }
  try {
    return decodeValue(parsed, text, record);
  } catch (error) {
    // Whatever the value made the contract throw is this record's problem, never the batch's.
    return { ok: false, reason: 'invalid', problems: [{ field: '(value)', reason: `could not be validated: ${messageOf(error)}` }], eventId: eventIdOf(parsed, record) };
  }
}

/**
 * The value's text. Bytes all below 0x80 (most logs) are their own UTF-8 text: atob's one-character-per-byte
 * string IS the text, and checkRecord has just decoded it (`valueBytes`), so there is no Buffer, UTF-8 check or
 * second decode. Anything else is decoded strictly (a value that is not strict base64, decoded by Node's
 * lenient decoder, is what decodeRecord always did for callers that skip checkRecord).
 */
export function valueText(value: string): ReturnType<typeof decodeUtf8> {
  const bytes = valueBytes(value);
  // UTF-8 length equals the character count exactly when no character is above 0x7F.
  if (bytes !== undefined && Buffer.byteLength(bytes, 'utf8') === bytes.length) return { ok: true, text: bytes };
  return decodeUtf8(bytes === undefined ? Buffer.from(value, 'base64') : Buffer.from(bytes, 'latin1'));
}

/**
 * A value that is not JSON text: undecodable, unless no header said JSON and its first byte is how a
 * protobuf ExportLogsServiceRequest begins (0x0A: field 1, length-delimited), when it is tried as one.
 */
function notJson(value: string, record: KafkaEventRecord, declared: DeclaredEncoding, reason: string): Decoded {
  if (declared === undefined && valueBytes(value)?.charCodeAt(0) === 0x0a) return decodeOtlpProto(Buffer.from(value, 'base64'), record, reason);
  return { ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason }], eventId: undefined };
}

/**
 * A parsed value: the fast path for our own ingest's records, else an OTLP/JSON request, else the contract
 * (normalise → zod → derive).
 */
function decodeValue(parsed: unknown, text: string, record: KafkaEventRecord): Decoded {
  const fast = fastOrNothing(parsed);
  if (fast !== undefined) return { ok: true, log: fast };
  if (isOtlpJson(parsed)) return decodeOtlpJson(text, parsed, record);
  if (hasForeignEventId(parsed)) {
    // Another producer's own id that is not ours to keep as event_id: as ingest does with a client's, it is
    // kept under attributes and the record gets the id derived from its coordinates (listed in `derived`).
    const { event_id: foreignId, ...rest } = parsed;
    const result = parseRawLogRecord(rest);
    if (result.ok) return { ok: true, log: withForeignEventId(toLogEvent(result.log, record), foreignId) };
    return { ok: false, reason: 'invalid', problems: result.problems, eventId: derivedEventId(record) };
  }
  const result = parseRawLogRecord(parsed);
  if (result.ok) return { ok: true, log: toLogEvent(result.log, record) };
  return { ok: false, reason: 'invalid', problems: result.problems, eventId: eventIdOf(parsed, record) };
}

/** The fast path's answer; nothing when it throws (attributes too deep to serialise): the contract says why. */
function fastOrNothing(parsed: unknown): LogEvent | undefined {
  try {
    return fastLogEvent(parsed);
  } catch {
    return undefined;
  }
}

const eventIdSchema = RawLogRecord.shape.event_id;

/** A JSON object whose `event_id` is present but not a pipeline event id (a UUID, per the contract). */
function hasForeignEventId(parsed: unknown): parsed is Record<string, unknown> & { event_id: unknown } {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.hasOwn(parsed, 'event_id')) return false;
  const id = (parsed as { event_id?: unknown }).event_id;
  return id !== undefined && id !== null && !eventIdSchema.safeParse(id).success;
}

/**
 * The event id of an invalid record, so the dead letter can still be accounted for: its own when it is a
 * pipeline id (a UUID), else the one a valid record at these coordinates would have been given.
 */
function eventIdOf(parsed: unknown, record: KafkaEventRecord): string | undefined {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const id = (parsed as { event_id?: unknown }).event_id;
  return typeof id === 'string' && eventIdSchema.safeParse(id).success ? id : derivedEventId(record);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
