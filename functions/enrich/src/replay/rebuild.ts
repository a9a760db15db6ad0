/**
 * What `npm run replay` sends through enrich again, from a record of the partial, dead-letter or on-failure
 * topic (no I/O). Each becomes a plan: a raw record to present to enrich at its ORIGINAL coordinates (so that
 * everything derived from them, event_id first, comes out the same: a replay, however often it runs, gives
 * the same event ids and output keys), the coordinates of a raw-logs record to read back whole, or a count
 * with its reason (skipped, unrecoverable). Never silently dropped.
 *
 * - partial (`enriched-logs-partial`, our JSON): the raw log rebuilt from the event. The event carries every
 *   field the raw record held (enriched-log.ts `merge`: level, message, service.name, source_ip, timestamp,
 *   hostname, trace_id, attributes, event_id, received_at, and `dropped_attributes` in enrichment). A field
 *   listed in `enrichment.derived` was NOT in the raw record (log-event.ts derived it from the Kafka record):
 *   it is left out again and the record's Kafka timestamp is the event's received_at, so enrich derives the
 *   same values and lists them in `derived` again. The trace headers (`traceparent`, `tracestate`) the
 *   output carries are put back on the record, so the new outputs carry them too. A log of an OTLP request
 *   (`source.index`) cannot be rebuilt from JSON (its OTLP record is not in it) and enrich numbers the logs
 *   of a record itself, so its source record is read back whole from raw-logs (`reread`).
 * - partial written as OTLP (OUTPUT_ENCODING=otlp_*: `content-type: application/x-protobuf`, or JSON with
 *   `resourceLogs`): its logs' raw record is read back whole from raw-logs at `enrichment.source.*` (the
 *   request keeps the input as received plus `enrichment.*` attributes, but not always which of the mapped
 *   semantic-convention attributes the input had: reading the record back is exact, stripping is not).
 * - dlq (`raw-logs-dlq`): `original` key, value and headers (base64, as received) at `source`. A letter that
 *   does not hold the whole record (`original.truncated`: a prefix, or no value: `value_omitted`, or no
 *   headers) is read back from raw-logs at `source`; so is one log of an OTLP request at `source.index` > 0,
 *   whose one-record request replayed alone would be its log 0 (another event id). A letter whose
 *   coordinates are unknown (a malformed record's null offset) is unrecoverable.
 * - unprocessed (`raw-logs-unprocessed`): what Lambda's Kafka on-failure destination writes, a JSON document
 *   with `requestContext`, `KafkaBatchInfo` and `payload`, the invocation's Kafka event (AWS Lambda developer
 *   guide, "Using a Kafka topic as an on-failure destination", "Record format"): each record of
 *   `payload.records` is replayed as it is, at its coordinates. A document without a payload is unrecoverable;
 *   anything else is skipped.
 */
import { fromBinary, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { type ExportLogsServiceRequest, ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import type { AnyValue, KeyValue } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import { type KafkaEventRecord, type KafkaHeaders, toPollerHeaderBytes } from '../kafka-event.ts';
import { type Condition, matches } from './where.ts';

export const REPLAY_SOURCES = ['partial', 'dlq', 'unprocessed'] as const;
export type ReplaySource = (typeof REPLAY_SOURCES)[number];

/** A record read from the topic being replayed (headers in record order; a null value is absent). */
export interface ReadRecord {
  value: Buffer | null | undefined;
  headers: readonly (readonly [string, Buffer | undefined])[];
}

export interface Coordinates {
  topic: string;
  partition: number;
  offset: number;
}

export type Plan =
  /** Present this record to enrich (it is at its original coordinates). */
  | { kind: 'replay'; record: KafkaEventRecord }
  /**
   * Read the record at these coordinates back from its topic and present it whole; with `index`, the one
   * log of it (an OTLP request) this plan is about: only that log is to be enriched again (EnrichOptions
   * `logsOf`), not its siblings.
   */
  | { kind: 'reread'; source: Coordinates; why: string; index?: number }
  | { kind: 'skip'; why: string }
  | { kind: 'unrecoverable'; why: string }
  /** Read, not selected by `--where`. */
  | { kind: 'unmatched' };

export const SKIP = {
  otlpPartial: 'OTLP partial without its source coordinates (unreadable request)',
  notJson: 'not JSON',
  notEvent: 'not an enriched event',
  notDeadLetter: 'not a dead letter',
  notOnFailure: 'not an on-failure destination record',
} as const;

export const UNRECOVERABLE = {
  noCoordinates: 'dead letter without source coordinates',
  noPayload: 'on-failure record without payload',
} as const;

/** Trace headers an output carries from its raw record (./../trace-context.ts), put back on a rebuilt record. */
const TRACE_HEADERS = new Set(['traceparent', 'tracestate']);

/**
 * @example
 * plan('partial', message, parseWhere(['missing=not_found'])); // [{ kind: 'replay', record }] or [{ kind: 'unmatched' }]
 */
export function plan(source: ReplaySource, message: ReadRecord, where: readonly Condition[]): Plan[] {
  if (source === 'partial') {
    const request = otlpRequestOf(message);
    return request === undefined ? [fromPartial(message, where)] : fromOtlpPartial(request, where);
  }
  const json = parseJson(message.value);
  if (json === undefined) return [{ kind: 'skip', why: SKIP.notJson }];
  return source === 'dlq' ? [fromDeadLetter(json, where)] : fromOnFailure(json);
}

/**
 * An OTLP partial (OUTPUT_ENCODING=otlp_*: one request, one or more logs of one raw record) → the raw record
 * to read back whole, from `enrichment.source.*` on each log record; `--where` reads `enrichment.missing`
 * (a kvlist: field → reason) from the log record or its resource. A request without those is skipped.
 *
 * @example
 * fromOtlpPartial(request, parseWhere(['missing=not_found'])); // [{ kind: 'reread', source: { topic: 'raw-logs', partition: 0, offset: 12 }, … }]
 */
export function fromOtlpPartial(request: ExportLogsServiceRequest, where: readonly Condition[]): Plan[] {
  const plans: Plan[] = [];
  for (const resourceLogs of request.resourceLogs) {
    const resource = resourceLogs.resource?.attributes ?? [];
    for (const scopeLogs of resourceLogs.scopeLogs) {
      for (const record of scopeLogs.logRecords) {
        const attribute = (key: string) => record.attributes.find((each) => each.key === key)?.value ?? resource.find((each) => each.key === key)?.value;
        const topic = scalar(attribute('enrichment.source.topic'));
        const partition = scalar(attribute('enrichment.source.partition'));
        const offset = scalar(attribute('enrichment.source.offset'));
        const index = scalar(attribute('enrichment.source.index'));
        if (typeof topic !== 'string' || typeof partition !== 'number' || typeof offset !== 'number') {
          plans.push({ kind: 'skip', why: SKIP.otlpPartial });
          continue;
        }
        if (!matches(where, { missing: kvlist(attribute('enrichment.missing')) })) plans.push({ kind: 'unmatched' });
        else plans.push({ kind: 'reread', source: { topic, partition, offset }, why: 'an OTLP partial', ...(typeof index === 'number' ? { index } : {}) });
      }
    }
  }
  return plans.length === 0 ? [{ kind: 'skip', why: SKIP.otlpPartial }] : plans;
}

/** The request of an OTLP partial (by its content-type, or JSON with `resourceLogs`); undefined for our JSON. */
export function otlpRequestOf(message: ReadRecord): ExportLogsServiceRequest | undefined {
  const contentType = header(message, 'content-type')?.toString('latin1').split(';')[0]?.trim().toLowerCase();
  if (message.value === null || message.value === undefined) return undefined;
  try {
    if (contentType === 'application/x-protobuf') return fromBinary(ExportLogsServiceRequestSchema, message.value);
    if (message.value[0] !== 0x7b) return undefined;
    const json = JSON.parse(message.value.toString('utf8')) as unknown;
    if (object(json) === undefined || !Object.hasOwn(json as object, 'resourceLogs')) return undefined;
    // Only attributes are read: the hex trace and span ids OTLP/JSON writes (read here as base64) do not matter.
    return fromJson(ExportLogsServiceRequestSchema, json as JsonValue, { ignoreUnknownFields: true });
  } catch {
    return undefined;
  }
}

/** A string or integer attribute value (an int64 as a number); undefined for any other. */
export function scalar(value: AnyValue | undefined): string | number | undefined {
  const inner = value?.value;
  if (inner?.case === 'stringValue') return inner.value;
  if (inner?.case === 'intValue') return Number(inner.value);
  return undefined;
}

/** A kvlist attribute value as an object of its scalars (`enrichment.missing`: field → reason). */
export function kvlist(value: AnyValue | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (value?.value.case !== 'kvlistValue') return out;
  for (const each of value.value.value.values as KeyValue[]) out[each.key] = scalar(each.value);
  return out;
}

/** A partial event → the raw record it came from, at its coordinates (module comment). */
export function fromPartial(message: ReadRecord, where: readonly Condition[]): Plan {
  const contentType = header(message, 'content-type')?.toString('latin1').split(';')[0]?.trim().toLowerCase();
  // An OTLP partial that `plan` could not read as a request: counted whatever `--where` says.
  if (contentType === 'application/x-protobuf') return { kind: 'skip', why: SKIP.otlpPartial };
  const event = parseJson(message.value);
  if (event === undefined) return { kind: 'skip', why: SKIP.notJson };
  if (Object.hasOwn(event, 'resourceLogs')) return { kind: 'skip', why: SKIP.otlpPartial };
  const enrichment = object(event.enrichment);
  const src = object(event.source);
  const service = object(event.service);
  const coordinates = coordinatesOf(src);
  if (enrichment === undefined || service === undefined || typeof service.name !== 'string' || coordinates === undefined || typeof event.received_at !== 'string') {
    return { kind: 'skip', why: SKIP.notEvent };
  }
  if (!matches(where, { missing: object(enrichment.missing) ?? {} })) return { kind: 'unmatched' };
  if (src?.index !== undefined) {
    return { kind: 'reread', source: coordinates, why: 'a log of an OTLP request', ...(Number.isSafeInteger(src.index) ? { index: src.index as number } : {}) };
  }
  const derived = new Set(Array.isArray(enrichment.derived) ? enrichment.derived : []);
  const raw: Record<string, unknown> = { level: event.level, message: event.message, service: service.name };
  if (event.source_ip !== undefined) raw.source_ip = event.source_ip;
  if (!derived.has('timestamp')) raw.timestamp = event.timestamp;
  if (event.hostname !== undefined) raw.hostname = event.hostname;
  if (event.trace_id !== undefined) raw.trace_id = event.trace_id;
  if (event.attributes !== undefined) raw.attributes = event.attributes;
  if (!derived.has('event_id')) raw.event_id = event.event_id;
  if (!derived.has('received_at')) raw.received_at = event.received_at;
  if (Array.isArray(enrichment.dropped_attributes) && enrichment.dropped_attributes.length > 0) raw.dropped_attributes = enrichment.dropped_attributes;
  const headers: KafkaHeaders = [];
  for (const [name, value] of message.headers) {
    if (TRACE_HEADERS.has(name.toLowerCase())) headers.push({ [name]: value === undefined ? [] : toPollerHeaderBytes(value) });
  }
  const timestamp = Date.parse(event.received_at);
  return {
    kind: 'replay',
    record: {
      ...coordinates,
      // received_at, when derived, came from the Kafka timestamp: the same one derives it again.
      timestamp: Number.isFinite(timestamp) ? timestamp : -1,
      timestampType: 'CREATE_TIME',
      value: Buffer.from(JSON.stringify(raw)).toString('base64'),
      headers,
    },
  };
}

/** A dead letter → its original record at its coordinates, or where to read it back (module comment). */
export function fromDeadLetter(letter: Record<string, unknown>, where: readonly Condition[]): Plan {
  const original = object(letter.original);
  const src = object(letter.source);
  if (original === undefined || src === undefined || typeof letter.reason !== 'string') return { kind: 'skip', why: SKIP.notDeadLetter };
  if (!matches(where, { reason: letter.reason })) return { kind: 'unmatched' };
  const coordinates = coordinatesOf(src);
  if (coordinates === undefined) return { kind: 'unrecoverable', why: UNRECOVERABLE.noCoordinates };
  if (original.truncated === true) {
    const index = typeof src.index === 'number' ? { index: src.index } : {};
    return { kind: 'reread', source: coordinates, why: original.value_omitted === undefined ? 'original truncated' : 'original value omitted', ...index };
  }
  if (typeof src.index === 'number' && src.index > 0) return { kind: 'reread', source: coordinates, why: 'a log of an OTLP request at index > 0', index: src.index };
  const record: KafkaEventRecord = {
    ...coordinates,
    timestamp: typeof src.timestamp === 'number' ? src.timestamp : -1,
    timestampType: 'CREATE_TIME',
    value: typeof original.value === 'string' ? original.value : null,
    headers: Array.isArray(original.headers) ? (original.headers as KafkaHeaders) : [],
  };
  if (typeof original.key === 'string') record.key = original.key;
  return { kind: 'replay', record };
}

/** An on-failure destination document → the records of its payload, each at its coordinates. */
export function fromOnFailure(document: Record<string, unknown>): Plan[] {
  const payload = object(document.payload);
  const records = object(payload?.records);
  if (records === undefined) {
    return [object(document.KafkaBatchInfo) === undefined ? { kind: 'skip', why: SKIP.notOnFailure } : { kind: 'unrecoverable', why: UNRECOVERABLE.noPayload }];
  }
  const plans: Plan[] = [];
  for (const key in records) {
    const list = records[key];
    if (!Array.isArray(list)) continue;
    // As the mapping delivered them: enrich checks each record itself (a malformed one is dead-lettered).
    for (const entry of list) plans.push({ kind: 'replay', record: entry as KafkaEventRecord });
  }
  // A payload without records gives nothing to replay, and a record read is never counted as nothing.
  return plans.length === 0 ? [{ kind: 'unrecoverable', why: UNRECOVERABLE.noPayload }] : plans;
}

/** The `--where` conditions each source can test: a partial's missing fields, a dead letter's reason. */
export const WHERE_KINDS: Readonly<Record<ReplaySource, readonly Condition['kind'][]>> = { partial: ['missing', 'field'], dlq: ['reason'], unprocessed: [] };

/**
 * @throws Error for a condition the source cannot test (it would select nothing, or everything)
 * @example
 * checkWhere('dlq', parseWhere(['missing=not_found'])); // throws: --where missing=… does not apply to dlq
 */
export function checkWhere(source: ReplaySource, where: readonly Condition[]): void {
  for (const condition of where) {
    if (!WHERE_KINDS[source].includes(condition.kind)) {
      throw new Error(`--where ${condition.kind}=… does not apply to --from ${source} (it takes ${WHERE_KINDS[source].map((kind) => `${kind}=`).join(', ') || 'no --where'})`);
    }
  }
}

function coordinatesOf(source: Record<string, unknown> | undefined): Coordinates | undefined {
  if (source === undefined) return undefined;
  const { topic, partition, offset } = source;
  if (typeof topic !== 'string' || !Number.isSafeInteger(partition) || !Number.isSafeInteger(offset)) return undefined;
  return { topic, partition: partition as number, offset: offset as number };
}

function header(message: ReadRecord, name: string): Buffer | undefined {
  for (const [key, value] of message.headers) if (key.toLowerCase() === name) return value;
  return undefined;
}

function parseJson(value: Buffer | null | undefined): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    return object(JSON.parse(value.toString('utf8')));
  } catch {
    return undefined;
  }
}

function object(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
