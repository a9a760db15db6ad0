/**
 * The OTLP output (`OUTPUT_ENCODING=otlp_proto|otlp_json`): each enriched log, complete or partial, as one
 * `ExportLogsServiceRequest` holding one ResourceLogs / ScopeLogs / LogRecord, which an OpenTelemetry
 * Collector's Kafka receiver reads with `encoding: otlp_proto` or `otlp_json`. Dead letters stay our JSON.
 *
 * Why these rules: a Collector downstream groups, routes and queries by resource attributes, so the
 * enrichment goes on the resource, under the semantic-convention name wherever one means the same thing, and
 * under the `enrichment.` prefix otherwise (no semantic convention exists for a team, an owner or a cost
 * center; the prefix is ours, so a later convention cannot collide with it). The log record itself is left
 * as its producer wrote it, so nothing downstream can tell the pipeline was there but for what it added.
 *
 * - Resource: an OTLP log's resource attributes as received (every one, types kept), or for a log of our JSON
 *   contract `host.name` ← its `hostname` and `host.ip` ← its `source_ip`; then RESOURCE_MAPPING, in order.
 *   A value the enrichment does not have (null) sets nothing and leaves the log's own. A mapped attribute
 *   that replaces a different value the log carried keeps that value beside it, as
 *   `enrichment.original.<name>` (a host found by IP whose registered name differs from the one it logged).
 *   `host.ip` is the address the host was looked up by, as a one-element list, unless the log's own
 *   `host.ip` already holds it (a host lists several addresses: they are kept). `service.namespace` and
 *   `cloud.region` pass through from the input: the metadata has no value for them.
 *   Empty lists (`enrichment.derived`, `enrichment.dropped_attributes`, `enrichment.missing`) are not set.
 *   The `enrichment.` prefix is the pipeline's: resource attributes under it that an OTLP log carries (it went
 *   through a pipeline before) are dropped, so that an output never mixes two passes' enrichment.
 * - Scope and schema URLs: an OTLP log's, as received; none for a JSON log.
 * - Log record: an OTLP log's record as received (times, severity, body, attributes with their types,
 *   flags, trace and span ids, event name). A JSON log's: `timeUnixNano` ← timestamp, `observedTimeUnixNano`
 *   ← received_at, `severityNumber` ← level (SEVERITY_NUMBERS: the first number of its range),
 *   `severityText` ← level, body ← message (a string), attributes ← `attributes` (JSON → AnyValue: a safe
 *   integer is an int, any other number a double), `traceId` ← trace_id when it is 32 hex digits and not all
 *   zero (anything else is kept as the string attribute `enrichment.trace_id`: OTLP's traceId holds W3C ids
 *   only). A timestamp before 1970 (our contract allows year 0; OTLP times are unsigned) leaves its time
 *   unset and is kept as the string attribute `enrichment.timestamp` (or `enrichment.received_at`).
 * - Every record gets `log.record.uid` = event_id (semantic conventions: a unique id of the log record), so
 *   the output is deduplicated on the same id as our JSON output.
 *
 * OTLP/JSON (the OTLP specification, "JSON Protobuf Encoding"): Protobuf-ES `toJson` gives proto3 JSON with
 * lowerCamelCase keys, 64-bit integers as decimal strings and, asked, enums as integers; OTLP differs from
 * proto3 JSON in one place, trace and span ids, which are hex, not base64, so those two are rewritten after
 * `toJson`. tests/unit/otlp/encode-*.test.ts decode both encodings with protobufjs from the vendored .proto
 * text (not with these generated types) and check the JSON against those rules.
 */
import { create, equals, type MessageInitShape, toBinary, toJson } from '@bufbuild/protobuf';
import { ATTR_DEPLOYMENT_ENVIRONMENT_NAME, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { ATTR_CLOUD_AVAILABILITY_ZONE, ATTR_HOST_IP, ATTR_HOST_NAME, ATTR_LOG_RECORD_UID } from '@opentelemetry/semantic-conventions/incubating';
import { type ExportLogsServiceRequest, ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import { type AnyValue, AnyValueSchema, type KeyValue, KeyValueSchema } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import { type LogRecord, LogRecordSchema, ResourceLogsSchema, ScopeLogsSchema, SeverityNumber } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import { ResourceSchema } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';
import type { LogLevel } from '#shared/schemas/log.ts';
import type { EnrichedLog } from '../enriched-log.ts';
import type { OtlpOrigin, OutputEncoding } from './types.ts';

/** The prefix of every attribute the pipeline adds that has no semantic-convention name. */
export const ENRICHMENT_PREFIX = 'enrichment.';
/** Where a mapped attribute keeps the different value the log carried: `enrichment.original.host.name`. */
export const ORIGINAL_PREFIX = `${ENRICHMENT_PREFIX}original.`;

/** The record attributes for a JSON log's fields OTLP's own fields cannot hold (module comment). */
export const RECORD_FALLBACKS = {
  traceId: `${ENRICHMENT_PREFIX}trace_id`,
  timestamp: `${ENRICHMENT_PREFIX}timestamp`,
  receivedAt: `${ENRICHMENT_PREFIX}received_at`,
} as const;

export const CONTENT_TYPES = { otlp_proto: 'application/x-protobuf', otlp_json: 'application/json' } as const;

/** Our level → OTLP SeverityNumber: the first of its four (OTLP's TRACE..TRACE4, DEBUG..DEBUG4, …). */
export const SEVERITY_NUMBERS: Readonly<Record<LogLevel, SeverityNumber>> = {
  TRACE: SeverityNumber.TRACE,
  DEBUG: SeverityNumber.DEBUG,
  INFO: SeverityNumber.INFO,
  WARN: SeverityNumber.WARN,
  ERROR: SeverityNumber.ERROR,
  FATAL: SeverityNumber.FATAL,
};

type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;

const text = (value: string | null): AnyValueInit | undefined => (value === null ? undefined : { value: { case: 'stringValue', value } });
const int = (value: number): AnyValueInit => ({ value: { case: 'intValue', value: BigInt(value) } });
const texts = (values: readonly string[]): AnyValueInit | undefined =>
  values.length === 0 ? undefined : { value: { case: 'arrayValue', value: { values: values.map((value) => ({ value: { case: 'stringValue', value } })) } } };

/** One resource attribute the enrichment sets: its name, where it comes from, and its value (none: not set). */
export interface ResourceAttribute {
  attribute: string;
  /** The enriched event's field (JSON output), for the README table. */
  field: string;
  value(enriched: EnrichedLog): AnyValueInit | undefined;
}

/**
 * What the enrichment sets on the resource, in order: the README's mapping table is this list. Stable
 * semantic conventions come from the package root, incubating ones (`host.*`, `cloud.*`) from its
 * `/incubating` entry, which esbuild tree-shakes to the constants used (`sideEffects: false`).
 */
export const RESOURCE_MAPPING: readonly ResourceAttribute[] = [
  { attribute: ATTR_SERVICE_NAME, field: 'service.name', value: (e) => text(e.service.name) },
  { attribute: ATTR_SERVICE_VERSION, field: 'service.version', value: (e) => text(e.service.version) },
  { attribute: ATTR_HOST_NAME, field: 'host.hostname', value: (e) => text(e.host.hostname) },
  {
    attribute: ATTR_HOST_IP,
    field: 'host.ip',
    value: (e) => (e.host.ip === null ? undefined : { value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: e.host.ip } }] } } }),
  },
  { attribute: ATTR_DEPLOYMENT_ENVIRONMENT_NAME, field: 'host.environment', value: (e) => text(e.host.environment) },
  { attribute: ATTR_CLOUD_AVAILABILITY_ZONE, field: 'host.zone', value: (e) => text(e.host.zone) },
  { attribute: 'enrichment.service.team', field: 'service.team', value: (e) => text(e.service.team) },
  { attribute: 'enrichment.service.owner', field: 'service.owner', value: (e) => text(e.service.owner) },
  { attribute: 'enrichment.service.tier', field: 'service.tier', value: (e) => text(e.service.tier) },
  { attribute: 'enrichment.service.cost_center', field: 'service.cost_center', value: (e) => text(e.service.cost_center) },
  { attribute: 'enrichment.host.datacenter', field: 'host.datacenter', value: (e) => text(e.host.datacenter) },
  { attribute: 'enrichment.host.cost_center', field: 'host.cost_center', value: (e) => text(e.host.cost_center) },
  { attribute: 'enrichment.status', field: 'enrichment.status', value: (e) => text(e.enrichment.status) },
  {
    attribute: 'enrichment.missing',
    field: 'enrichment.missing',
    value: (e) => {
      const values = Object.entries(e.enrichment.missing).map(([key, reason]) => ({ key, value: { value: { case: 'stringValue' as const, value: reason } } }));
      return values.length === 0 ? undefined : { value: { case: 'kvlistValue', value: { values } } };
    },
  },
  { attribute: 'enrichment.derived', field: 'enrichment.derived', value: (e) => texts(e.enrichment.derived) },
  { attribute: 'enrichment.dropped_attributes', field: 'enrichment.dropped_attributes', value: (e) => texts(e.enrichment.dropped_attributes) },
  { attribute: 'enrichment.enriched_at', field: 'enrichment.enriched_at', value: (e) => text(e.enrichment.enriched_at) },
  // A duration in ms, fractional: always a double, so its type does not change from one log to the next.
  { attribute: 'enrichment.latency_ms', field: 'enrichment.latency_ms', value: (e) => ({ value: { case: 'doubleValue', value: e.enrichment.latency_ms } }) },
  { attribute: 'enrichment.received_at', field: 'received_at', value: (e) => text(e.received_at) },
  { attribute: 'enrichment.source.topic', field: 'source.topic', value: (e) => text(e.source.topic) },
  { attribute: 'enrichment.source.partition', field: 'source.partition', value: (e) => int(e.source.partition) },
  { attribute: 'enrichment.source.offset', field: 'source.offset', value: (e) => int(e.source.offset) },
  // The log's position in its OTLP request (OTLP logs only).
  { attribute: 'enrichment.source.index', field: 'source.index', value: (e) => (e.source.index === undefined ? undefined : int(e.source.index)) },
];

/**
 * The enriched log as the one-log request both OTLP encodings write.
 *
 * @example
 * const request = otlpRequest(merger.merge(log, source), log.origin);
 * request.resourceLogs[0]?.resource?.attributes.find((a) => a.key === 'host.name'); // the registered name
 */
export function otlpRequest(enriched: EnrichedLog, origin: OtlpOrigin | undefined): ExportLogsServiceRequest {
  // The prefix is ours: a log that went through the pipeline before carries this pass's enrichment only.
  const attributes = origin === undefined ? jsonResource(enriched) : (origin.resource?.attributes ?? []).filter((kv) => !kv.key.startsWith(ENRICHMENT_PREFIX));
  for (const mapped of RESOURCE_MAPPING) {
    const value = mapped.value(enriched);
    if (value === undefined) continue;
    if (mapped.attribute === ATTR_HOST_IP && holds(attributes.find((kv) => kv.key === ATTR_HOST_IP)?.value, value)) continue;
    set(attributes, mapped.attribute, create(AnyValueSchema, value));
  }
  const record = origin === undefined ? jsonRecord(enriched) : { ...origin.record, attributes: [...origin.record.attributes] };
  set(record.attributes, ATTR_LOG_RECORD_UID, create(AnyValueSchema, { value: { case: 'stringValue', value: enriched.event_id } }));
  const resource = create(ResourceSchema, {
    attributes,
    droppedAttributesCount: origin?.resource?.droppedAttributesCount ?? 0,
    entityRefs: origin?.resource?.entityRefs ?? [],
  });
  const scopeLogs = create(ScopeLogsSchema, { schemaUrl: origin?.scopeSchemaUrl ?? '', logRecords: [create(LogRecordSchema, record)] });
  if (origin?.scope !== undefined) scopeLogs.scope = origin.scope;
  return create(ExportLogsServiceRequestSchema, {
    resourceLogs: [create(ResourceLogsSchema, { resource, schemaUrl: origin?.resourceSchemaUrl ?? '', scopeLogs: [scopeLogs] })],
  });
}

/**
 * The enriched log in an OTLP encoding, and the Kafka headers that say which.
 *
 * @example
 * const { value, headers } = encodeOutput(merger.merge(log, source), log.origin, 'otlp_proto');
 * // value: Buffer of an ExportLogsServiceRequest; headers: { 'content-type': 'application/x-protobuf' }
 */
export function encodeOutput(
  enriched: EnrichedLog,
  origin: OtlpOrigin | undefined,
  encoding: Exclude<OutputEncoding, 'json'>,
): { value: Buffer | string; headers: Record<string, string> } {
  const request = otlpRequest(enriched, origin);
  const headers = { 'content-type': CONTENT_TYPES[encoding] };
  if (encoding === 'otlp_proto') {
    const bytes = toBinary(ExportLogsServiceRequestSchema, request);
    return { value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers };
  }
  return { value: JSON.stringify(otlpJson(request)), headers };
}

/**
 * proto3 JSON of the request, with the trace and span ids in hex (OTLP/JSON) rather than base64; also what
 * `npm run topic` prints for an otlp_proto record.
 */
export function otlpJson(request: ExportLogsServiceRequest): unknown {
  const json = toJson(ExportLogsServiceRequestSchema, request, { enumAsInteger: true }) as {
    resourceLogs?: { scopeLogs?: { logRecords?: { traceId?: string; spanId?: string }[] }[] }[];
  };
  for (const resourceLogs of json.resourceLogs ?? []) {
    for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
      for (const record of scopeLogs.logRecords ?? []) {
        if (record.traceId !== undefined) record.traceId = Buffer.from(record.traceId, 'base64').toString('hex');
        if (record.spanId !== undefined) record.spanId = Buffer.from(record.spanId, 'base64').toString('hex');
      }
    }
  }
  return json;
}

/** Sets `key` to `value` (its first occurrence; later duplicates go), keeping a different old value as `enrichment.original.<key>`. */
function set(attributes: KeyValue[], key: string, value: AnyValue): void {
  const at = attributes.findIndex((kv) => kv.key === key);
  if (at === -1) {
    attributes.push(create(KeyValueSchema, { key, value }));
    return;
  }
  const old = attributes[at]?.value;
  attributes[at] = create(KeyValueSchema, { key, value });
  for (let i = attributes.length - 1; i > at; i--) if (attributes[i]?.key === key) attributes.splice(i, 1);
  if (old !== undefined && !equals(AnyValueSchema, old, value)) set(attributes, `${ORIGINAL_PREFIX}${key}`, old);
}

/** The log's own `host.ip` (a string or a list) already names the address `ip` (a one-element list) holds. */
function holds(own: AnyValue | undefined, ip: AnyValueInit): boolean {
  const address = ip.value?.case === 'arrayValue' ? ip.value.value.values?.[0]?.value : undefined;
  if (address?.case !== 'stringValue' || own === undefined) return false;
  if (own.value.case === 'stringValue') return own.value.value === address.value;
  if (own.value.case !== 'arrayValue') return false;
  return own.value.value.values.some((entry) => entry.value.case === 'stringValue' && entry.value.value === address.value);
}

/** A JSON log's resource before the enrichment: the names it gave its host. */
function jsonResource(enriched: EnrichedLog): KeyValue[] {
  const attributes: KeyValue[] = [];
  if (enriched.hostname !== undefined) attributes.push(create(KeyValueSchema, { key: ATTR_HOST_NAME, value: { value: { case: 'stringValue', value: enriched.hostname } } }));
  if (enriched.source_ip !== undefined) {
    attributes.push(
      create(KeyValueSchema, { key: ATTR_HOST_IP, value: { value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: enriched.source_ip } }] } } } }),
    );
  }
  return attributes;
}

const W3C_TRACE_ID = /^[0-9a-f]{32}$/i;
const ZERO_TRACE_ID = /^0{32}$/;

/** A JSON log's record (module comment). */
function jsonRecord(enriched: EnrichedLog): LogRecord {
  const record = create(LogRecordSchema, {
    severityNumber: SEVERITY_NUMBERS[enriched.level],
    severityText: enriched.level,
    body: { value: { case: 'stringValue', value: enriched.message } },
  });
  const attributes = record.attributes;
  for (const [key, value] of Object.entries(enriched.attributes ?? {})) {
    const converted = anyValue(value);
    if (converted !== undefined) attributes.push(create(KeyValueSchema, { key, value: converted }));
  }
  const time = unixNano(enriched.timestamp);
  if (time === undefined) set(attributes, RECORD_FALLBACKS.timestamp, create(AnyValueSchema, text(enriched.timestamp)));
  else record.timeUnixNano = time;
  const observed = unixNano(enriched.received_at);
  if (observed === undefined) set(attributes, RECORD_FALLBACKS.receivedAt, create(AnyValueSchema, text(enriched.received_at)));
  else record.observedTimeUnixNano = observed;
  const traceId = enriched.trace_id;
  if (traceId !== undefined) {
    if (W3C_TRACE_ID.test(traceId) && !ZERO_TRACE_ID.test(traceId)) record.traceId = Buffer.from(traceId, 'hex');
    else set(attributes, RECORD_FALLBACKS.traceId, create(AnyValueSchema, text(traceId)));
  }
  return record;
}

/** Nanoseconds since the epoch of an ISO 8601 date-time (ms precision, as our contract stores it); none before 1970. */
function unixNano(iso: string): bigint | undefined {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && ms >= 0 ? BigInt(ms) * 1_000_000n : undefined;
}

/**
 * A JSON value as an AnyValue: a safe integer an int (beyond 2^53 JSON has already lost the digits: a
 * double), another number a double, null an empty AnyValue, an array or object a list; undefined (JSON
 * writes no member) none.
 */
function anyValue(value: unknown): AnyValue | undefined {
  switch (typeof value) {
    case 'string':
      return create(AnyValueSchema, { value: { case: 'stringValue', value } });
    case 'boolean':
      return create(AnyValueSchema, { value: { case: 'boolValue', value } });
    case 'number':
      return create(AnyValueSchema, { value: Number.isSafeInteger(value) ? { case: 'intValue', value: BigInt(value) } : { case: 'doubleValue', value } });
    case 'bigint':
      return create(AnyValueSchema, { value: { case: 'intValue', value } });
    case 'object': {
      if (value === null) return create(AnyValueSchema);
      if (Array.isArray(value)) return create(AnyValueSchema, { value: { case: 'arrayValue', value: { values: value.map((item) => anyValue(item) ?? create(AnyValueSchema)) } } });
      const values: KeyValue[] = [];
      for (const [key, member] of Object.entries(value)) {
        const converted = anyValue(member);
        if (converted !== undefined) values.push(create(KeyValueSchema, { key, value: converted }));
      }
      return create(AnyValueSchema, { value: { case: 'kvlistValue', value: { values } } });
    }
    default:
      return undefined;
  }
}
