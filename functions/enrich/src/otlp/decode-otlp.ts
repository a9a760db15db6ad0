/**
 * OTLP logs on raw-logs: a record whose value is an OpenTelemetry `ExportLogsServiceRequest`, as an OTel
 * Collector's Kafka exporter writes it (`otlp_proto`, its default, or `otlp_json`), becomes one log per log
 * record, each through the same contract as any other record (`parseRawLogRecord`: its limits and rules hold),
 * each carrying its `OtlpOrigin` so an OTLP output can keep the record with its types (./encode-otlp.ts).
 * The wire format is read by Protobuf-ES from the official .proto files (#shared/otlp/gen), never by hand.
 *
 * Recognition, per record (./../decode.ts applies it):
 * - Kafka header `content-type` (name in any case, parameters ignored): `application/x-protobuf` or
 *   `application/protobuf` → otlp_proto; `application/json` → JSON, whose shape then decides; any other value
 *   is ignored. Without a header that decides, the content does: a JSON object whose own `resourceLogs` is a
 *   list and that has none of the contract's message fields (`message`, `msg`, `log`, `short_message`:
 *   FIELD_ALIASES) is otlp_json (`isOtlpJson`), any other JSON is our contract (the fast path for our ingest's
 *   records runs first and never looks further), so that a log of ours with a field named `resourceLogs` is
 *   still a log (with `attributes.resourceLogs`, as before OTLP was read); a value that is not JSON whose first
 *   byte is 0x0A (field 1, length-delimited: how a serialised request begins) is tried as otlp_proto.
 *
 * Mapping, per log record (README "OpenTelemetry"):
 * - message ← body: a string as it is; any other value as its JSON text, kept as it is under `otlp.body` too;
 *   no body (or an empty string) ← eventName; neither is a problem on `body`.
 * - level ← severityNumber 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL; else
 *   severityText through the contract's `levelOf`; else INFO, listed in `enrichment.derived`.
 * - timestamp ← timeUnixNano, else observedTimeUnixNano, else derived from the Kafka record as for any record.
 * - trace_id ← traceId in lowercase hex (absent when empty or all zero). traceId and spanId of another
 *   length than 16 and 8 bytes are problems (OTLP/JSON writes them in hex: 32 and 16 digits).
 * - The lookup keys come from the RESOURCE only (the issue's "resource attributes … used as the lookup keys"):
 *   service ← `service.name`, hostname ← `host.name`, source_ip ← the first of `host.ip` (a string, or a list:
 *   the contract's `preferredIp`), `source.address`, `client.address` that holds an IP address (a name or
 *   socket path is skipped). A log record's own attributes are never lookup keys: an HTTP server's record
 *   whose `client.address` is its remote client must get the server's host metadata, not the client's; they
 *   stay under `attributes`.
 * - The SDKs' default service name, `unknown_service` or `unknown_service:<process>` (what
 *   @opentelemetry/resources writes when an app sets none; the contract's service-name rule refuses the
 *   colon), is the service `unknown_service`: its logs flow, partial (no service has that name), and the
 *   value as written is kept under `otlp.service_name` when it differs. An empty or absent `service.name`
 *   is still a problem.
 * - attributes ← the record's attributes as JSON (int64 a number when safe, else its decimal string; double
 *   NaN/±Infinity their proto3 JSON strings; bytes base64; kvlist an object; array an array), then
 *   OTLP_ATTRIBUTES below where present, while the whole fits in LIMITS.attributesBytes (the rest are named
 *   in `dropped_attributes`, as the contract does with extra fields; a repeated key keeps its first value).
 * - event_id ← UUID v5 of `<topic>/<partition>/<offset>/<index>`, always (listed in `derived`); `index` is
 *   the record's position in the request, counted over every resourceLogs and scopeLogs in order, so a
 *   redelivered record gives every log the same id again.
 *
 * What fails: a value that does not decode as a whole is one `undecodable` dead letter (its bytes); a request
 * whose containers are not what OTLP says (`resourceLogs` not a list…), or that holds no log records, is one
 * `invalid` dead letter. A log record that fails the contract is its own `invalid` dead letter, whose problems
 * name OTLP paths (`resourceLogs[0].scopeLogs[1].logRecords[3].body`,
 * `resourceLogs[0].resource.attributes["service.name"]`) and whose value is a request holding only that
 * resource, scope and record, in the encoding it came in, so that it can be replayed alone.
 *
 * Bounded, whatever the request: what is per resource (its fields, its problems) or per scope (its attributes)
 * is read once, a value shared by its logs that cannot fit in LIMITS.attributesBytes is measured once (then
 * named in each log's `dropped_attributes`), and a log takes at most MAX_RESOURCE_PROBLEMS of its resource's
 * problems, so decoding costs O(records), not O(records × resource); the
 * one-record requests that the dead letters of one Kafka record keep stay together within
 * `max(the record's value size, 64 KiB)` (ORIGINALS_MIN_BUDGET): past it a dead letter keeps no value and says
 * that its log is in the source record, at `source.index` (./../dead-letter.ts), so that a resource problem
 * shared by N logs cannot make N copies of the resource (500 logs of a 305 KB request made 200 MB of dead
 * letters). A key quoted in a problem's path keeps its first PATH_KEY_CHARS characters (`quotedKey`).
 *
 * OTLP/JSON differs from proto3 JSON (which Protobuf-ES `fromJson` reads) in trace and span ids, written in
 * hex rather than base64: they are converted first (a hex string is also valid base64, which `fromJson` would
 * silently read as other bytes). Unknown fields are ignored (OTLP's forward compatibility). Containers are
 * read by their OTLP/JSON names only (lowerCamelCase, as the specification requires), and each resource,
 * scope and log record is read on its own, so that a bad one names its own path and spoils only its logs.
 * Integers beyond 2^53 written as JSON numbers (the OTel JS serializer writes intValue so) keep every digit.
 */
import { create, type DescMessage, fromBinary, fromJson, type JsonValue, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { ATTR_CLIENT_ADDRESS, ATTR_OTEL_SCOPE_NAME, ATTR_OTEL_SCOPE_VERSION, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { ATTR_HOST_IP, ATTR_HOST_NAME, ATTR_SOURCE_ADDRESS } from '@opentelemetry/semantic-conventions/incubating';
import type { FieldProblem } from '#shared/errors.ts';
import { type ExportLogsServiceRequest, ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import type { AnyValue, InstrumentationScope, KeyValue } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import { type LogRecord, LogRecordSchema, type ResourceLogs, ResourceLogsSchema, type ScopeLogs, ScopeLogsSchema } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import type { Resource } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';
import { addWhileFits, boundedKeyList, FIELD_ALIASES, putOwn } from '#shared/schemas/normalise.ts';
import { IpAddress, LIMITS, LOG_LEVELS, type LogLevel, levelOf, NESTING_RULE, parseRawLogRecord, preferredIp } from '#shared/schemas/log.ts';
import type { DecodedLog, DecodedLogs, DecodeFailure } from '../decode.ts';
import { fastLogEvent } from '../fast-validate.ts';
import type { KafkaEventRecord } from '../kafka-event.ts';
import { DERIVABLE, type DerivedField, derivedEventId, derivedReceivedAt, type LogEvent, toLogEvent } from '../log-event.ts';
import type { InputEncoding, OtlpOrigin } from './types.ts';

export type OtlpEncoding = Exclude<InputEncoding, 'json'>;

/** What a record's `content-type` header says of its value: protobuf, JSON, or nothing that decides. */
export type DeclaredEncoding = 'otlp_proto' | 'json' | undefined;

/** A whole record that failed, or one result per log record of its request, in request order. */
export type OtlpDecoded = DecodeFailure | DecodedLogs;

/** The attributes an OTLP log's JSON form adds after the record's own, in this order, when present. */
export const OTLP_ATTRIBUTES = {
  scopeName: ATTR_OTEL_SCOPE_NAME,
  scopeVersion: ATTR_OTEL_SCOPE_VERSION,
  scopeAttributes: 'otlp.scope.attributes',
  resource: 'otlp.resource',
  spanId: 'otlp.span_id',
  traceFlags: 'otlp.trace_flags',
  severityNumber: 'otlp.severity_number',
  severityText: 'otlp.severity_text',
  eventName: 'otlp.event_name',
  timeUnixNano: 'otlp.time_unix_nano',
  observedTimeUnixNano: 'otlp.observed_time_unix_nano',
  droppedAttributesCount: 'otlp.dropped_attributes_count',
  body: 'otlp.body',
  /** The resource's `service.name` as written, when it was an SDK default mapped to UNKNOWN_SERVICE. */
  serviceName: 'otlp.service_name',
} as const;

/** The service a log of the SDKs' default service name (`unknown_service[:<process>]`) is given. */
export const UNKNOWN_SERVICE = 'unknown_service';
const SDK_DEFAULT_SERVICE = /^unknown_service(:.*)?$/;

/**
 * Where a log's source_ip is looked for, in this order, in its RESOURCE's attributes only (a log record's
 * `client.address` is the peer it talks of, not its host: it stays an attribute).
 */
export const ADDRESS_ATTRIBUTES = [ATTR_HOST_IP, ATTR_SOURCE_ADDRESS, ATTR_CLIENT_ADDRESS] as const;

const CONTENT_TYPE = 'content-type';
const PROTOBUF_TYPES: ReadonlySet<string> = new Set(['application/x-protobuf', 'application/protobuf']);
/** Longer header values are no media type this reads (and are not decoded). */
const MAX_CONTENT_TYPE_LENGTH = 256;

/** Our level for OTLP severity numbers 1-24: four numbers per level, in LOG_LEVELS order. */
const SEVERITY_LEVELS: readonly LogLevel[] = LOG_LEVELS;

const JSON_OPTIONS = { ignoreUnknownFields: true } as const;

/** The least budget for the one-record requests kept by the dead letters of one Kafka record (bytes). */
export const ORIGINALS_MIN_BUDGET = 64 * 1024;
/** A log's dead letter lists at most this many of its resource's problems (and then how many more). */
export const MAX_RESOURCE_PROBLEMS = 16;
/** A key quoted in a problem's path keeps this many characters (then `…(N chars)`). */
export const PATH_KEY_CHARS = 128;
const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

/**
 * The encoding a record's headers declare. A repeated header keeps its last value (as `decodeHeaders`).
 *
 * @example
 * declaredEncoding([{ 'Content-Type': [...Buffer.from('application/x-protobuf')] }]); // 'otlp_proto'
 * declaredEncoding([{ 'content-type': [...Buffer.from('application/json; charset=utf-8')] }]); // 'json'
 * declaredEncoding([{ 'content-type': [...Buffer.from('text/plain')] }]); // undefined (the content decides)
 */
export function declaredEncoding(headers: KafkaEventRecord['headers']): DeclaredEncoding {
  if (headers === undefined || headers === null) return undefined;
  let declared: DeclaredEncoding;
  for (const entry of headers) {
    for (const name in entry) {
      // Compared by length first: no string is made for the other headers (traceparent on every record).
      if (name.length !== CONTENT_TYPE.length || name.toLowerCase() !== CONTENT_TYPE) continue;
      declared = encodingOf(entry[name]);
    }
  }
  return declared;
}

function encodingOf(bytes: number[] | null | undefined): DeclaredEncoding {
  if (bytes === null || bytes === undefined || bytes.length > MAX_CONTENT_TYPE_LENGTH) return undefined;
  const text = Buffer.from(bytes).toString('latin1');
  const semicolon = text.indexOf(';');
  const type = (semicolon === -1 ? text : text.slice(0, semicolon)).trim().toLowerCase();
  if (PROTOBUF_TYPES.has(type)) return 'otlp_proto';
  return type === 'application/json' ? 'json' : undefined;
}

/** The contract's top-level message fields (FIELD_ALIASES): an object with one is a log of ours, never OTLP. */
const MESSAGE_KEYS: readonly string[] = FIELD_ALIASES.message.filter((path) => path.length === 1).map(([key]) => key);

/**
 * A parsed JSON value that is an OTLP/JSON request: an object whose own `resourceLogs` is a list, with none of
 * the contract's top-level message fields (`message`, `msg`, `log`, `short_message`). Anything else is for
 * the contract, so a log of ours that carries a `resourceLogs` field (a shipper forwarding something) is
 * enriched with it under `attributes`, as it was before OTLP was read.
 *
 * @example
 * isOtlpJson({ resourceLogs: [] }); // true (then dead-lettered: it holds no log records)
 * isOtlpJson({ message: 'hi', service: 'payment-api', hostname: 'web-1', resourceLogs: [] }); // false: ours
 * isOtlpJson({ resourceLogs: 'n/a' }); // false: the contract says what is missing
 */
export function isOtlpJson(parsed: unknown): parsed is Record<string, unknown> & { resourceLogs: unknown[] } {
  if (!isObject(parsed) || !Object.hasOwn(parsed, 'resourceLogs') || !Array.isArray(parsed.resourceLogs)) return false;
  for (const key of MESSAGE_KEYS) if (Object.hasOwn(parsed, key)) return false;
  return true;
}

/**
 * An otlp_proto value: every log record of the request, or why the record as a whole failed. Never throws.
 *
 * @param notJson when the content chose protobuf (no header did): why the value was not JSON, for the reason
 * @example
 * const decoded = decodeOtlpProto(Buffer.from(record.value, 'base64'), record);
 * if (decoded.ok === 'logs') for (const each of decoded.logs) if (each.ok) accept(each.log);
 */
export function decodeOtlpProto(bytes: Uint8Array, record: KafkaEventRecord, notJson?: string): OtlpDecoded {
  let request: ExportLogsServiceRequest;
  try {
    request = fromBinary(ExportLogsServiceRequestSchema, bytes);
  } catch (error) {
    const what = `an OTLP protobuf ExportLogsServiceRequest: ${messageOf(error)}`;
    const reason = notJson === undefined ? `is not ${what} (its content-type header says protobuf)` : `${notJson}; nor is it ${what}`;
    return { ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason }], eventId: undefined };
  }
  try {
    const entries: Entry[] = [];
    let index = 0;
    request.resourceLogs.forEach((resourceLogs, r) => {
      resourceLogs.scopeLogs.forEach((scopeLogs, s) => {
        scopeLogs.logRecords.forEach((logRecord, l) => {
          const at = pathsOf(r, s, l);
          const origin = originOf('otlp_proto', index++, resourceLogs, scopeLogs, logRecord);
          entries.push({ at, origin, problems: [], single: () => protoSingle(resourceLogs, scopeLogs, logRecord) });
        });
      });
    });
    return results('otlp_proto', entries, record);
  } catch (error) {
    return { ok: false, reason: 'invalid', problems: [{ field: '(value)', reason: `could not be decoded: ${messageOf(error)}` }], eventId: undefined };
  }
}

/**
 * An otlp_json value: every log record of the request, or why the record as a whole failed. Never throws.
 *
 * @param parsed `JSON.parse(text)`, which `isOtlpJson`
 * @example
 * const decoded = decodeOtlpJson(text, JSON.parse(text), record);
 */
export function decodeOtlpJson(text: string, parsed: Record<string, unknown>, record: KafkaEventRecord): OtlpDecoded {
  try {
    // A JSON number of 16 digits or more may be beyond 2^53, where JSON.parse loses digits: such a text is
    // parsed again, and those numbers keep their digits as strings (fromJson reads 64-bit fields from both).
    const request = LONG_NUMBER.test(text) ? (JSON.parse(text, exactIntegers) as Record<string, unknown>) : parsed;
    const walked = walkJson(request);
    if ('structure' in walked) return { ok: false, reason: 'invalid', problems: walked.structure, eventId: undefined };
    return results('otlp_json', walked.entries, record);
  } catch (error) {
    return { ok: false, reason: 'invalid', problems: [{ field: '(value)', reason: `could not be decoded: ${messageOf(error)}` }], eventId: undefined };
  }
}

/** A JSON number (after `:`, `,` or `[`) of 16 digits or more; a string holding one only costs a second parse. */
const LONG_NUMBER = /[:,[]\s*-?\d{16}/;

/** JSON.parse's reviver: an integer beyond 2^53 written as a number becomes its digits, as written. */
function exactIntegers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value) || !Number.isInteger(value)) return value;
  const source = context?.source;
  return source !== undefined && /^-?\d+$/.test(source) ? source : value;
}

/** Where a log record is in its request, as problems name it. */
interface Paths {
  resource: string;
  scope: string;
  record: string;
}

/** One log record of a request, decoded (`origin`) or not, with the problems found reading it. */
interface Entry {
  at: Paths;
  origin: OtlpOrigin | undefined;
  problems: FieldProblem[];
  /** The bytes of a request holding only this record, its scope and resource (its dead letter's value). */
  single: () => Uint8Array;
}

function pathsOf(r: number, s: number, l: number): Paths {
  const resource = `resourceLogs[${r}]`;
  const scope = `${resource}.scopeLogs[${s}]`;
  return { resource, scope, record: `${scope}.logRecords[${l}]` };
}

function originOf(encoding: OtlpEncoding, index: number, resourceLogs: ResourceLogs, scopeLogs: ScopeLogs, record: LogRecord): OtlpOrigin {
  return {
    encoding,
    index,
    resource: resourceLogs.resource,
    resourceSchemaUrl: resourceLogs.schemaUrl,
    scope: scopeLogs.scope,
    scopeSchemaUrl: scopeLogs.schemaUrl,
    record,
  };
}

/** The one-record request as protobuf (unknown fields of every message kept: Protobuf-ES writes them back). */
function protoSingle(resourceLogs: ResourceLogs, scopeLogs: ScopeLogs, record: LogRecord): Uint8Array {
  const request = create(ExportLogsServiceRequestSchema, { resourceLogs: [{ ...resourceLogs, scopeLogs: [{ ...scopeLogs, logRecords: [record] }] }] });
  return toBinary(ExportLogsServiceRequestSchema, request);
}

/**
 * What the dead letters of one Kafka record may keep of their one-record requests, together: the record's own
 * value size, at least ORIGINALS_MIN_BUDGET. Once one does not fit, no later one is built (each costs a copy
 * of its resource): building stops within the budget plus one request.
 */
class OriginalsBudget {
  #left: number;
  constructor(record: KafkaEventRecord) {
    this.#left = Math.max(Buffer.byteLength(record.value ?? '', 'base64'), ORIGINALS_MIN_BUDGET);
  }

  /** The base64 request to keep, or undefined: over the budget (or it could not be written), omitted. */
  keep(single: () => Uint8Array): string | undefined {
    if (this.#left <= 0) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = single();
    } catch {
      // Its log is still in the source record, which the dead letter then points to.
      return undefined;
    }
    this.#left -= bytes.length;
    return this.#left < 0 ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
}

function results(encoding: OtlpEncoding, entries: readonly Entry[], record: KafkaEventRecord): OtlpDecoded {
  if (entries.length === 0) return { ok: false, reason: 'invalid', problems: [{ field: 'resourceLogs', reason: 'holds no log records' }], eventId: undefined };
  // One received_at for every log of the record (it is the record's: its Kafka timestamp, else now).
  const receivedAt = derivedReceivedAt(record);
  const originals = new OriginalsBudget(record);
  return { ok: 'logs', encoding, logs: entries.map((entry, index) => decodeEntry(entry, index, record, receivedAt, originals)) };
}

function decodeEntry(entry: Entry, index: number, record: KafkaEventRecord, receivedAt: string, originals: OriginalsBudget): DecodedLog | DecodeFailure {
  const eventId = derivedEventId(record, index);
  let problems = entry.problems;
  if (entry.origin !== undefined) {
    try {
      const mapped = toLog(entry.origin, entry.at, eventId, receivedAt, record);
      if (mapped.ok && problems.length === 0) return mapped;
      if (!mapped.ok) problems = [...problems, ...mapped.problems];
    } catch (error) {
      // Whatever the record made the mapping or the contract throw is this log's problem, never the batch's.
      problems = [...problems, { field: entry.at.record, reason: `could not be decoded: ${messageOf(error)}` }];
    }
  }
  const value = originals.keep(entry.single);
  if (value === undefined) return { ok: false, reason: 'invalid', problems, eventId, index, valueOmitted: true };
  return { ok: false, reason: 'invalid', problems, eventId, index, value };
}

/**
 * The contract's LogEvent for one log record, or its problems named by OTLP paths. The fields are handed over
 * under our own names, every pipeline field filled (derived here, listed in `derived`), so that the contract's
 * fast path (./../fast-validate.ts: exactly the contract's answer, for what it accepts) takes most of them;
 * the rest go through `parseRawLogRecord`, where the normaliser takes each field from its own name only.
 */
function toLog(origin: OtlpOrigin, at: Paths, eventId: string, receivedAt: string, record: KafkaEventRecord): DecodedLog | { ok: false; problems: FieldProblem[] } {
  const fields = logFields(origin, at);
  const derived: DerivedField[] = ['event_id', 'received_at'];
  const raw = fields.raw;
  raw.event_id = eventId;
  raw.received_at = receivedAt;
  if (raw.timestamp === undefined) {
    raw.timestamp = raw.received_at;
    derived.push('timestamp');
  }
  if (fields.levelDerived) derived.push('level');
  if (fields.problems.length > 0) {
    const result = parseRawLogRecord(raw);
    return { ok: false, problems: [...fields.problems, ...(result.ok ? [] : result.problems.map((problem) => otlpProblem(problem, at, fields, origin.record)))] };
  }
  let log = fastOrNothing(raw);
  if (log === undefined) {
    const result = parseRawLogRecord(raw);
    if (!result.ok) return { ok: false, problems: result.problems.map((problem) => otlpProblem(problem, at, fields, origin.record)) };
    log = toLogEvent(result.log, record);
  }
  // In DERIVABLE order, as every log lists them.
  log.derived = DERIVABLE.filter((field) => derived.includes(field));
  log.origin = origin;
  return { ok: true, log };
}

/** The fast path's answer; nothing when it throws (as ./../decode.ts uses it): the contract says why. */
function fastOrNothing(raw: Record<string, unknown>): LogEvent | undefined {
  try {
    return fastLogEvent(raw);
  } catch {
    return undefined;
  }
}

interface LogFields {
  /** Our field names → values, for the contract. */
  raw: Record<string, unknown>;
  /** Problems found before the contract (ids of the wrong length, values nested too deep). */
  problems: FieldProblem[];
  levelDerived: boolean;
  /** Where `message` came from when not from the body. */
  messagePath: string | undefined;
}

/** What a log takes from its resource: the same for every log record of it (`resourceFieldsOf`). */
interface ResourceFields {
  service: unknown;
  /** `service.name` as written when it was an SDK default other than UNKNOWN_SERVICE itself. */
  writtenService: string | undefined;
  hostname: unknown;
  ip: string | undefined;
  /** `otlp.resource`: the attributes other than service.name and host.name (shared by its logs: never mutated). */
  rest: Record<string, unknown> | typeof TOO_LARGE | undefined;
  problems: readonly FieldProblem[];
}

const NO_RESOURCE: ResourceFields = Object.freeze({ service: undefined, writtenService: undefined, hostname: undefined, ip: undefined, rest: undefined, problems: [] });
/** Per decoded Resource message, whose log records all read it: built once per request, not once per record. */
const resourceFields = new WeakMap<Resource, ResourceFields>();

function resourceFieldsOf(resource: Resource | undefined, at: Paths): ResourceFields {
  if (resource === undefined) return NO_RESOURCE;
  let fields = resourceFields.get(resource);
  if (fields !== undefined) return fields;
  const problems: FieldProblem[] = [];
  let service: unknown;
  let hostname: unknown;
  const rest: Record<string, unknown> = {};
  let restCount = 0;
  for (const kv of resource.attributes) {
    try {
      if (kv.key === ATTR_SERVICE_NAME) service ??= jsonOf(kv.value, 0);
      else if (kv.key === ATTR_HOST_NAME) hostname ??= jsonOf(kv.value, 0);
      else if (!Object.hasOwn(rest, kv.key)) {
        putOwn(rest, kv.key, jsonOf(kv.value, 1));
        restCount++;
      }
    } catch (error) {
      if (!(error instanceof TooDeep)) throw error;
      problems.push({ field: `${at.resource}.resource.attributes[${quotedKey(kv.key)}]`, reason: NESTING_RULE });
    }
  }
  // The SDKs' default name: the service UNKNOWN_SERVICE (valid, and registered by nobody: partial).
  let writtenService: string | undefined;
  if (typeof service === 'string' && SDK_DEFAULT_SERVICE.test(service)) {
    if (service !== UNKNOWN_SERVICE) writtenService = service;
    service = UNKNOWN_SERVICE;
  }
  if (problems.length > MAX_RESOURCE_PROBLEMS) {
    const more = problems.length - (MAX_RESOURCE_PROBLEMS - 1);
    problems.splice(MAX_RESOURCE_PROBLEMS - 1, Infinity, { field: `${at.resource}.resource.attributes`, reason: `and ${more} more attributes nested deeper than ${LIMITS.nestingDepth} levels` });
  }
  fields = { service, writtenService, hostname, ip: addressOf(resource.attributes), rest: restCount > 0 ? sharedEntry(OTLP_ATTRIBUTES.resource, rest) : undefined, problems };
  resourceFields.set(resource, fields);
  return fields;
}

function logFields(origin: OtlpOrigin, at: Paths): LogFields {
  const { record, scope } = origin;
  const resource = resourceFieldsOf(origin.resource, at);
  const problems: FieldProblem[] = [...resource.problems];
  const raw: Record<string, unknown> = {};
  /** [key, value] in the order they are added to `attributes`. */
  const entries: [string, unknown][] = [];

  // Level.
  const level = levelOfRecord(record);
  raw.level = level ?? 'INFO';

  // Message.
  let messagePath: string | undefined;
  let structuredBody: { json: unknown } | undefined;
  const body = record.body?.value;
  if (body === undefined || body.case === undefined || (body.case === 'stringValue' && body.value === '')) {
    if (record.eventName !== '') {
      raw.message = record.eventName;
      messagePath = `${at.record}.eventName`;
    }
  } else if (body.case === 'stringValue') {
    raw.message = body.value;
  } else {
    // Any other value: its JSON text, and the value itself as otlp.body (added last, below).
    try {
      structuredBody = { json: jsonOf(record.body, 0) };
      raw.message = JSON.stringify(structuredBody.json);
    } catch (error) {
      if (!(error instanceof TooDeep)) throw error;
      problems.push({ field: `${at.record}.body`, reason: NESTING_RULE });
    }
  }

  // The lookup keys: the resource's service, host and first address (never the record's: see the module doc).
  if (resource.service !== undefined) raw.service = resource.service;
  if (resource.hostname !== undefined) raw.hostname = resource.hostname;
  if (resource.ip !== undefined) raw.source_ip = resource.ip;

  // Time and trace.
  const time = record.timeUnixNano !== 0n ? record.timeUnixNano : record.observedTimeUnixNano;
  if (time !== 0n) raw.timestamp = new Date(Number(time / 1_000_000n)).toISOString();
  const traceId = idOf(record.traceId, TRACE_ID_BYTES, at, 'traceId', problems);
  if (traceId !== undefined && !ALL_ZERO.test(traceId)) raw.trace_id = traceId;
  const spanId = idOf(record.spanId, SPAN_ID_BYTES, at, 'spanId', problems);

  // Attributes: the record's own, then what OTLP has beyond our fields (OTLP_ATTRIBUTES order).
  for (const kv of record.attributes) {
    try {
      entries.push([kv.key, jsonOf(kv.value, 0)]);
    } catch (error) {
      if (!(error instanceof TooDeep)) throw error;
      problems.push({ field: `${at.record}.attributes[${quotedKey(kv.key)}]`, reason: NESTING_RULE });
    }
  }
  if (scope !== undefined) {
    if (scope.name !== '') entries.push([OTLP_ATTRIBUTES.scopeName, scope.name]);
    if (scope.version !== '') entries.push([OTLP_ATTRIBUTES.scopeVersion, scope.version]);
    const attributes = scopeAttributesOf(scope);
    if (attributes === NESTED_TOO_DEEP) problems.push({ field: `${at.scope}.scope.attributes`, reason: NESTING_RULE });
    else if (attributes !== undefined) entries.push([OTLP_ATTRIBUTES.scopeAttributes, attributes]);
  }
  if (resource.rest !== undefined) entries.push([OTLP_ATTRIBUTES.resource, resource.rest]);
  if (resource.writtenService !== undefined) entries.push([OTLP_ATTRIBUTES.serviceName, resource.writtenService]);
  if (spanId !== undefined) entries.push([OTLP_ATTRIBUTES.spanId, spanId]);
  if (record.flags !== 0) entries.push([OTLP_ATTRIBUTES.traceFlags, record.flags]);
  if (record.severityNumber !== 0) entries.push([OTLP_ATTRIBUTES.severityNumber, record.severityNumber]);
  if (record.severityText !== '') entries.push([OTLP_ATTRIBUTES.severityText, record.severityText]);
  if (record.eventName !== '') entries.push([OTLP_ATTRIBUTES.eventName, record.eventName]);
  if (record.timeUnixNano !== 0n) entries.push([OTLP_ATTRIBUTES.timeUnixNano, record.timeUnixNano.toString()]);
  if (record.observedTimeUnixNano !== 0n) entries.push([OTLP_ATTRIBUTES.observedTimeUnixNano, record.observedTimeUnixNano.toString()]);
  if (record.droppedAttributesCount !== 0) entries.push([OTLP_ATTRIBUTES.droppedAttributesCount, record.droppedAttributesCount]);
  if (structuredBody !== undefined) entries.push([OTLP_ATTRIBUTES.body, structuredBody.json]);

  const { attributes, dropped } = packed(entries);
  if (attributes !== undefined) raw.attributes = attributes;
  if (dropped.length > 0) raw.dropped_attributes = boundedKeyList(dropped);
  return { raw, problems, levelDerived: level === undefined, messagePath };
}

const ALL_ZERO = /^0+$/;

/**
 * An attribute value shared by every log of its resource or scope that cannot fit in LIMITS.attributesBytes
 * on its own: `packed` names it in `dropped_attributes` without serialising it again for each log (a 300 KB
 * resource attribute would otherwise be serialised twice per log record).
 */
const TOO_LARGE: unique symbol = Symbol('larger than LIMITS.attributesBytes');
const NESTED_TOO_DEEP: unique symbol = Symbol('nested too deep');

/** A shared value as an attribute entry: itself, or TOO_LARGE when it alone exceeds the limit (measured once). */
function sharedEntry(key: string, value: Record<string, unknown>): Record<string, unknown> | typeof TOO_LARGE {
  const json = JSON.stringify(value);
  // `{"key":value}` alone; 3 bytes at most per UTF-16 unit spares the exact count for most.
  if ((json.length + key.length) * 3 + 5 <= LIMITS.attributesBytes) return value;
  return Buffer.byteLength(json) + Buffer.byteLength(JSON.stringify(key)) + 3 > LIMITS.attributesBytes ? TOO_LARGE : value;
}

/** `otlp.scope.attributes` of a scope, read once per scope (its log records share it: never mutated). */
const scopeAttributes = new WeakMap<InstrumentationScope, Record<string, unknown> | typeof TOO_LARGE | typeof NESTED_TOO_DEEP | undefined>();

function scopeAttributesOf(scope: InstrumentationScope): Record<string, unknown> | typeof TOO_LARGE | typeof NESTED_TOO_DEEP | undefined {
  if (scope.attributes.length === 0) return undefined;
  if (scopeAttributes.has(scope)) return scopeAttributes.get(scope);
  let attributes: Record<string, unknown> | typeof TOO_LARGE | typeof NESTED_TOO_DEEP;
  try {
    attributes = sharedEntry(OTLP_ATTRIBUTES.scopeAttributes, objectOf(scope.attributes, 0));
  } catch (error) {
    if (!(error instanceof TooDeep)) throw error;
    attributes = NESTED_TOO_DEEP;
  }
  scopeAttributes.set(scope, attributes);
  return attributes;
}

/** Where an OTLP attribute of a log's JSON form came from (for a problem the contract finds in it). */
const OTLP_ATTRIBUTE_PATHS: Readonly<Record<string, (at: Paths) => string>> = {
  [OTLP_ATTRIBUTES.scopeName]: (at) => `${at.scope}.scope.name`,
  [OTLP_ATTRIBUTES.scopeVersion]: (at) => `${at.scope}.scope.version`,
  [OTLP_ATTRIBUTES.scopeAttributes]: (at) => `${at.scope}.scope.attributes`,
  [OTLP_ATTRIBUTES.resource]: (at) => `${at.resource}.resource.attributes`,
  [OTLP_ATTRIBUTES.spanId]: (at) => `${at.record}.spanId`,
  [OTLP_ATTRIBUTES.traceFlags]: (at) => `${at.record}.flags`,
  [OTLP_ATTRIBUTES.severityNumber]: (at) => `${at.record}.severityNumber`,
  [OTLP_ATTRIBUTES.severityText]: (at) => `${at.record}.severityText`,
  [OTLP_ATTRIBUTES.eventName]: (at) => `${at.record}.eventName`,
  [OTLP_ATTRIBUTES.timeUnixNano]: (at) => `${at.record}.timeUnixNano`,
  [OTLP_ATTRIBUTES.observedTimeUnixNano]: (at) => `${at.record}.observedTimeUnixNano`,
  [OTLP_ATTRIBUTES.droppedAttributesCount]: (at) => `${at.record}.droppedAttributesCount`,
  [OTLP_ATTRIBUTES.body]: (at) => `${at.record}.body`,
  [OTLP_ATTRIBUTES.serviceName]: (at) => `${at.resource}.resource.attributes["service.name"]`,
};

/**
 * A key as a problem's path quotes it: JSON, its first PATH_KEY_CHARS characters only, then its length (an
 * attribute key may be as long as the request: a 240 KB key made a dead letter the broker refused).
 *
 * @example
 * quotedKey('http.route'); // '"http.route"'
 * quotedKey('k'.repeat(240_000)); // '"kkk…k"…(240000 chars)', 128 k
 */
export function quotedKey(key: string): string {
  return key.length <= PATH_KEY_CHARS ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, PATH_KEY_CHARS))}…(${key.length} chars)`;
}

/** The OTLP path of a key of a log's `attributes`: the record's own attribute first (it wins a repeated key). */
function attributePath(key: string, at: Paths, record: LogRecord): string {
  if (record.attributes.some((kv) => kv.key === key)) return `${at.record}.attributes[${quotedKey(key)}]`;
  return Object.hasOwn(OTLP_ATTRIBUTE_PATHS, key) ? (OTLP_ATTRIBUTE_PATHS[key] as (at: Paths) => string)(at) : `${at.record}.attributes`;
}

/** Our level for a log record's severity, or undefined when neither its number nor its text gives one. */
function levelOfRecord(record: LogRecord): LogLevel | undefined {
  const number = record.severityNumber;
  if (number >= 1 && number <= 24) return SEVERITY_LEVELS[(number - 1) >> 2];
  return record.severityText === '' ? undefined : levelOf(record.severityText);
}

/** The first IP address among ADDRESS_ATTRIBUTES, in that order; names, socket paths and other types are skipped. */
function addressOf(attributes: readonly KeyValue[] | undefined): string | undefined {
  if (attributes === undefined || attributes.length === 0) return undefined;
  for (const name of ADDRESS_ATTRIBUTES) {
    const value = attributes.find((kv) => kv.key === name)?.value?.value;
    let candidate: unknown;
    if (value?.case === 'stringValue') candidate = value.value;
    else if (value?.case === 'arrayValue' && name === ATTR_HOST_IP) {
      candidate = preferredIp(value.value.values.map((item) => (item.value.case === 'stringValue' ? item.value.value : undefined)));
    }
    if (typeof candidate === 'string' && IpAddress.safeParse(candidate).success) return candidate;
  }
  return undefined;
}

/** An id in lowercase hex; a problem (and undefined) when it is neither empty nor `bytes` long. */
function idOf(id: Uint8Array, bytes: number, at: Paths, name: string, problems: FieldProblem[]): string | undefined {
  if (id.length === 0) return undefined;
  if (id.length !== bytes) {
    problems.push({ field: `${at.record}.${name}`, reason: `must be empty or ${bytes} bytes (${bytes * 2} hexadecimal digits in OTLP/JSON), not ${id.length}` });
    return undefined;
  }
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/** Attributes kept while the whole fits in LIMITS.attributesBytes as JSON; the keys of the rest (and repeats). */
function packed(entries: readonly [string, unknown][]): { attributes: Record<string, unknown> | undefined; dropped: string[] } {
  if (entries.length === 0) return { attributes: undefined, dropped: [] };
  // Most logs fit whole, with no repeated key: one serialisation tells (3 bytes at most per UTF-16 unit).
  const whole: Record<string, unknown> = {};
  let distinct = 0;
  for (const [key, value] of entries) {
    if (value === TOO_LARGE) break;
    if (Object.hasOwn(whole, key)) continue;
    putOwn(whole, key, value);
    distinct++;
  }
  if (distinct === entries.length) {
    const json = JSON.stringify(whole);
    if (json.length * 3 <= LIMITS.attributesBytes || Buffer.byteLength(json) <= LIMITS.attributesBytes) return { attributes: whole, dropped: [] };
  }
  const attributes: Record<string, unknown> = {};
  const dropped: string[] = [];
  const used = { bytes: 2, count: 0 };
  addWhileFits(attributes, entries, dropped, used, (key, value) => {
    if (value !== TOO_LARGE) return false;
    dropped.push(key);
    return true;
  });
  return { attributes: used.count > 0 ? attributes : undefined, dropped };
}

/** Thrown by `jsonOf` past LIMITS.nestingDepth levels (the contract's bound; it also keeps the recursion short). */
class TooDeep extends Error {}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * An AnyValue as JSON. `levels`: the levels of objects and arrays already around it. An empty AnyValue (and
 * `string_value_strindex`, which only OTLP profiles use, with a dictionary a log request does not have) is null.
 */
function jsonOf(value: AnyValue | undefined, levels: number): unknown {
  const any = value?.value;
  switch (any?.case) {
    case 'stringValue':
    case 'boolValue':
      return any.value;
    case 'intValue':
      return any.value >= MIN_SAFE && any.value <= MAX_SAFE ? Number(any.value) : any.value.toString();
    case 'doubleValue':
      // NaN and ±Infinity as proto3 JSON writes them (JSON has no such numbers: JSON.stringify would write null).
      return Number.isFinite(any.value) ? any.value : String(any.value);
    case 'bytesValue':
      return Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength).toString('base64');
    case 'arrayValue':
      if (levels >= LIMITS.nestingDepth) throw new TooDeep();
      return any.value.values.map((item) => jsonOf(item, levels + 1));
    case 'kvlistValue':
      return objectOf(any.value.values, levels);
    default:
      return null;
  }
}

/** Key-value pairs as an object (a repeated key keeps its first value; `__proto__` stays an own key). */
function objectOf(values: readonly KeyValue[], levels: number): Record<string, unknown> {
  if (levels >= LIMITS.nestingDepth) throw new TooDeep();
  const object: Record<string, unknown> = {};
  for (const kv of values) if (!Object.hasOwn(object, kv.key)) putOwn(object, kv.key, jsonOf(kv.value, levels + 1));
  return object;
}


/** A contract problem (our field names) named by the OTLP path the value came from. */
function otlpProblem(problem: FieldProblem, at: Paths, fields: LogFields, record: LogRecord): FieldProblem {
  const resourceAttribute = (name: string) => `${at.resource}.resource.attributes[${JSON.stringify(name)}]`;
  const [head] = problem.field.split('.', 1);
  switch (head) {
    case 'message':
      if (fields.raw.message === undefined) return { field: `${at.record}.body`, reason: 'is required: a log record needs a body, or an eventName when it has none' };
      return { ...problem, field: fields.messagePath ?? `${at.record}.body` };
    case 'service':
      return { ...problem, field: resourceAttribute(ATTR_SERVICE_NAME) };
    case 'hostname':
      return { ...problem, field: resourceAttribute(ATTR_HOST_NAME) };
    case 'source_ip':
      // Only the contract's origin rule: an address is handed over only when it is one.
      return {
        ...problem,
        field: resourceAttribute(ATTR_HOST_NAME),
        reason: `is required when no ${ADDRESS_ATTRIBUTES.join(', ')} attribute of the resource holds an IP address`,
      };
    case 'attributes':
      if (problem.field === 'attributes') return { ...problem, field: `${at.record}.attributes` };
      return { ...problem, field: attributePath(problem.field.slice('attributes.'.length), at, record) };
    default:
      return { ...problem, field: problem.field === '(record)' ? at.record : `${at.record} (${problem.field})` };
  }
}

/** The JSON request's containers, each resource, scope and record read on its own; or what is wrong with them. */
function walkJson(request: Record<string, unknown>): { entries: Entry[] } | { structure: FieldProblem[] } {
  const structure: FieldProblem[] = [];
  const entries: Entry[] = [];
  const resourceList = listAt(request.resourceLogs, 'resourceLogs', structure);
  for (let r = 0; r < resourceList.length; r++) {
    const resourceJson = resourceList[r];
    const resourcePath = `resourceLogs[${r}]`;
    if (!isObject(resourceJson)) {
      structure.push({ field: resourcePath, reason: 'must be an object' });
      continue;
    }
    // The containers' own lists are walked here; their proto names (which fromJson would also read) are left out.
    const { scopeLogs: scopeJson, scope_logs: _scopeLogs, ...resourceRest } = resourceJson;
    const resourceLogs = messageAt(ResourceLogsSchema, resourceRest, resourcePath);
    const scopeList = listAt(scopeJson, `${resourcePath}.scopeLogs`, structure);
    for (let s = 0; s < scopeList.length; s++) {
      const scopeLogsJson = scopeList[s];
      const scopePath = `${resourcePath}.scopeLogs[${s}]`;
      if (!isObject(scopeLogsJson)) {
        structure.push({ field: scopePath, reason: 'must be an object' });
        continue;
      }
      const { logRecords: recordJson, log_records: _logRecords, ...scopeRest } = scopeLogsJson;
      const scopeLogs = messageAt(ScopeLogsSchema, scopeRest, scopePath);
      const recordList = listAt(recordJson, `${scopePath}.logRecords`, structure);
      for (let l = 0; l < recordList.length; l++) {
        const logRecordJson = recordList[l];
        const at = pathsOf(r, s, l);
        const problems = [...resourceLogs.problems, ...scopeLogs.problems];
        let origin: OtlpOrigin | undefined;
        if (!isObject(logRecordJson)) problems.push({ field: at.record, reason: 'must be an object' });
        else {
          const logRecord = messageAt(LogRecordSchema, withBinaryIds(logRecordJson, at.record, problems), at.record);
          problems.push(...logRecord.problems);
          if (resourceLogs.message !== undefined && scopeLogs.message !== undefined && logRecord.message !== undefined) {
            // Hex problems alone leave the record decoded (without the bad id): the mapping may find more.
            origin = originOf('otlp_json', entries.length, resourceLogs.message, scopeLogs.message, logRecord.message);
          }
        }
        // As it came (its containers' other fields too), so that the one log record can be replayed.
        const single = () => Buffer.from(JSON.stringify({ resourceLogs: [{ ...resourceJson, scopeLogs: [{ ...scopeLogsJson, logRecords: [logRecordJson] }] }] }));
        entries.push({ at, origin, problems, single });
      }
    }
  }
  return structure.length > 0 ? { structure } : { entries };
}

/** A container list: absent or null is empty (proto3 JSON); anything else but a list is the request's problem. */
function listAt(value: unknown, field: string, structure: FieldProblem[]): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  structure.push({ field, reason: 'must be a list' });
  return [];
}

/**
 * One message read by `fromJson`, or its problem: named by the field Protobuf-ES names when that is a field of
 * this message or of its one member of that message type (`resource`, `scope`); else by the message's path.
 */
function messageAt<Desc extends DescMessage>(schema: Desc, json: Record<string, unknown>, path: string): { message: MessageShape<Desc> | undefined; problems: FieldProblem[] } {
  try {
    return { message: fromJson(schema, json as JsonValue, JSON_OPTIONS), problems: [] };
  } catch (error) {
    const detail = messageOf(error, false);
    const named = /^cannot decode field ([\w.]+)\.(\w+) from JSON: ([\s\S]*)$/.exec(detail);
    const field = named === null ? undefined : fieldPath(schema, named[1] as string, named[2] as string);
    if (field !== undefined && named !== null) return { message: undefined, problems: [{ field: `${path}.${field}`, reason: `is not valid OTLP/JSON: ${named[3]}` }] };
    return { message: undefined, problems: [{ field: path, reason: `is not valid OTLP/JSON: ${detail}` }] };
  }
}

/** `timeUnixNano` for LogRecord's time_unix_nano; `resource.attributes` for ResourceLogs and Resource's attributes. */
function fieldPath(schema: DescMessage, typeName: string, protoName: string): string | undefined {
  if (typeName === schema.typeName) return schema.fields.find((field) => field.name === protoName)?.jsonName;
  const members = schema.fields.filter((field) => field.message?.typeName === typeName);
  const member = members.length === 1 ? members[0] : undefined;
  const inner = member?.message?.fields.find((field) => field.name === protoName);
  return member === undefined || inner === undefined ? undefined : `${member.jsonName}.${inner.jsonName}`;
}

/**
 * A copy of a JSON log record whose hex `traceId` and `spanId` (either case; also under their proto names,
 * which `fromJson` reads too) are base64, as `fromJson` reads bytes. An id that is not hex of the right
 * length is a problem, and left out so the rest of the record is still read.
 */
function withBinaryIds(json: Record<string, unknown>, path: string, problems: FieldProblem[]): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [jsonName, protoName, bytes] of [
    ['traceId', 'trace_id', TRACE_ID_BYTES],
    ['spanId', 'span_id', SPAN_ID_BYTES],
  ] as const) {
    for (const name of [jsonName, protoName]) {
      if (!Object.hasOwn(json, name)) continue;
      const value = json[name];
      copy ??= { ...json };
      if (value === null || value === '') continue;
      if (typeof value === 'string' && value.length === bytes * 2 && /^[0-9a-fA-F]*$/.test(value)) {
        copy[name] = Buffer.from(value, 'hex').toString('base64');
      } else {
        problems.push({ field: `${path}.${jsonName}`, reason: `must be ${bytes * 2} hexadecimal digits (OTLP/JSON writes ${jsonName} in hex), or empty` });
        delete copy[name];
      }
    }
  }
  return copy ?? json;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function messageOf(error: unknown, named = true): string {
  if (!(error instanceof Error)) return String(error);
  return named ? `${error.name}: ${error.message}` : error.message;
}
