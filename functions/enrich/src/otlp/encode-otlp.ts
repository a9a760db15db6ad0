/**
 * The OTLP output (`OUTPUT_ENCODING=otlp_proto|otlp_json`): enriched logs, complete or partial, as
 * `ExportLogsServiceRequest`s, which an OpenTelemetry Collector's Kafka receiver reads with
 * `encoding: otlp_proto` or `otlp_json`. Dead letters stay our JSON. `otlpLog` builds one log's resource,
 * scope and record; `otlpRequest` / `encodeLogs` put many in one request, one ResourceLogs per resource
 * and one ScopeLogs per input scope (which logs go together is ../enrich-batch.ts's rule: those of one
 * Kafka record, one output topic and one resource).
 *
 * Why these rules: downstream, OpenTelemetry groups, routes and queries by resource (a Collector's
 * `groupbyattrs` processor without keys compacts the records of identical resources and scopes into one
 * ResourceLogs; backends key streams on resource attributes), so the resource carries what describes where
 * the log came from and nothing else: the input's resource, and the enrichment that depends only on the
 * host and the service (RESOURCE_MAPPING), under the semantic-convention name wherever one means the same
 * thing and under the `enrichment.` prefix otherwise (no semantic convention exists for a team, an owner or
 * a cost center; the prefix is ours, so a later convention cannot collide with it). What differs from one
 * log to the next (its Kafka coordinates, times, derived and dropped fields: RECORD_MAPPING) goes on the
 * log record: two logs of the same host and service then have byte-identical resources, and group under
 * one resource instead of one resource per log. The log record is otherwise left as its producer wrote it.
 *
 * - Resource: an OTLP log's resource attributes as received (every one, types kept), or for a log of our JSON
 *   contract `host.name` ← its `hostname` and `host.ip` ← its `source_ip`; then RESOURCE_MAPPING, in order.
 *   A value the enrichment does not have (null) sets nothing and leaves the log's own. A mapped attribute
 *   that replaces a different value the log carried keeps that value beside it, as
 *   `enrichment.original.<name>` (a host found by IP whose registered name differs from the one it logged).
 *   `host.ip` is the address the host was looked up by, as a one-element list, unless the log's own
 *   `host.ip` already holds it, in any spelling (a host lists several addresses: they are kept).
 *   `service.name` stays the log's own when that is an SDK's default (`unknown_service:<process>`, which
 *   the input side enriches as the service `unknown_service`): it says which process wrote the log.
 *   `service.namespace` and `cloud.region` pass through from the input: the metadata has no value for them.
 *   An empty `enrichment.missing` is not set.
 * - Scope and schema URLs: an OTLP log's, as received; none for a JSON log.
 * - Log record: an OTLP log's record as received (times, severity, body, attributes with their types,
 *   flags, trace and span ids, event name). A JSON log's: `timeUnixNano` ← timestamp, `observedTimeUnixNano`
 *   ← received_at, `severityNumber` ← level (SEVERITY_NUMBERS: the first number of its range),
 *   `severityText` ← level, body ← message (a string), attributes ← `attributes` (JSON → AnyValue: a safe
 *   integer is an int, any other number a double), `traceId` ← trace_id when it is 32 hex digits and not all
 *   zero (anything else is kept as the string attribute `enrichment.trace_id`: OTLP's traceId holds W3C ids
 *   only). A timestamp before 1970 or after 2554-07-21T23:34:33.709Z (our contract allows years 0 to
 *   9999; OTLP times are unsigned 64-bit nanoseconds) leaves its time unset and is kept as the string
 *   attribute `enrichment.timestamp` (such a received_at leaves `observedTimeUnixNano` unset:
 *   `enrichment.received_at` is on every record anyway).
 *   Then RECORD_MAPPING, in order, by the same rules as the resource's (null sets nothing, a replaced
 *   different value is kept as `enrichment.original.<name>`, empty lists are not set): first `log.record.uid`
 *   = event_id (semantic conventions: a unique id of the log record), so the output is deduplicated on the
 *   same id as our JSON output, then the per-log enrichment.
 * - The `enrichment.` prefix is the pipeline's: attributes under it that an OTLP log's resource or record
 *   carries (it went through a pipeline before) are dropped, so that an output never mixes two passes'
 *   enrichment.
 *
 * Shared resources: the resource depends only on the log's host block, its service block (and with them
 * `enrichment.status` and `enrichment.missing`, which Merger.merge computes from those two blocks alone) and
 * the input's resource; for a JSON log the host block also implies its `hostname` and `source_ip` (BlockCache
 * builds one block per ip and hostname). BlockCache hands out the same host and service objects while their
 * metadata is unchanged, and the input side gives every log record of a ResourceLogs the same Resource
 * object, so the built Resource message is reused, by identity (`resourceOf`): a JSON log's from a WeakMap
 * chain keyed on its host block then its service block (it lives no longer than they do), an OTLP log's
 * while the logs of one ResourceLogs (same input Resource, host block and service block) follow one
 * another. Each Kafka record decodes its own Resource objects, so an OTLP log does not share the message
 * with other records' logs; their encoded resources are byte-identical all the same, and equal content is
 * what a Collector compares (comparing input Resources by content here, with Protobuf-ES `equals`, made the
 * bench slower than building every one). A shared Resource is never mutated: it is frozen (with its
 * attribute list) when built, nothing after `buildResource` writes to it (the record side has its own
 * attribute list), and the input Resource it was built from is never mutated either (the input side shares
 * it between its logs too).
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
import { type AnyValue, AnyValueSchema, type InstrumentationScope, type KeyValue, KeyValueSchema } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import { type LogRecord, LogRecordSchema, type ResourceLogs, ResourceLogsSchema, type ScopeLogs, ScopeLogsSchema, SeverityNumber } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import { type Resource, ResourceSchema } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';
import { canonicalIp } from '#shared/net/ip.ts';
import type { LogLevel } from '#shared/schemas/log.ts';
import type { EnrichedHost, EnrichedLog, EnrichedService } from '../enriched-log.ts';
import { UNKNOWN_SERVICE } from './decode-otlp.ts';
import type { OtlpOrigin, OutputEncoding } from './types.ts';

/** The prefix of every attribute the pipeline adds that has no semantic-convention name. */
export const ENRICHMENT_PREFIX = 'enrichment.';
/** Where a mapped attribute keeps the different value the log carried: `enrichment.original.host.name`. */
export const ORIGINAL_PREFIX = `${ENRICHMENT_PREFIX}original.`;

/** The record attributes for a JSON log's fields OTLP's own fields cannot hold (module comment). */
export const RECORD_FALLBACKS = {
  traceId: `${ENRICHMENT_PREFIX}trace_id`,
  timestamp: `${ENRICHMENT_PREFIX}timestamp`,
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

/** One attribute the enrichment sets: its name, where it comes from, and its value (none: not set). */
export interface MappedAttribute {
  attribute: string;
  /** The enriched event's field (JSON output), for the README tables. */
  field: string;
  value(enriched: EnrichedLog): AnyValueInit | undefined;
}

/**
 * What the enrichment sets on the resource, in order: the README's resource table is this list. Every value
 * depends on the host and service blocks only (module comment, "Shared resources"): a per-log value here
 * would make the cached resource wrong, so it belongs in RECORD_MAPPING. Stable semantic conventions come
 * from the package root, incubating ones (`host.*`, `cloud.*`, `log.record.uid`) from its `/incubating`
 * entry, which esbuild tree-shakes to the constants used (`sideEffects: false`).
 */
export const RESOURCE_MAPPING: readonly MappedAttribute[] = [
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
];

/** What the enrichment sets on the log record, in order, after the record's own attributes: the README's record table is this list. */
/** The field groups of `enrichment.provenance`, each written as three record attributes. */
const PROVENANCE_GROUPS = ['host', 'network', 'service'] as const;

export const RECORD_MAPPING: readonly MappedAttribute[] = [
  { attribute: ATTR_LOG_RECORD_UID, field: 'event_id', value: (e) => text(e.event_id) },
  { attribute: 'enrichment.received_at', field: 'received_at', value: (e) => text(e.received_at) },
  { attribute: 'enrichment.enriched_at', field: 'enrichment.enriched_at', value: (e) => text(e.enrichment.enriched_at) },
  // A duration in ms, fractional: always a double, so its type does not change from one log to the next.
  { attribute: 'enrichment.latency_ms', field: 'enrichment.latency_ms', value: (e) => ({ value: { case: 'doubleValue', value: e.enrichment.latency_ms } }) },
  { attribute: 'enrichment.derived', field: 'enrichment.derived', value: (e) => texts(e.enrichment.derived) },
  { attribute: 'enrichment.dropped_attributes', field: 'enrichment.dropped_attributes', value: (e) => texts(e.enrichment.dropped_attributes) },
  // The re-enricher's attempts after the first (absent on enrich's own outputs, as in the v2 JSON).
  { attribute: 'enrichment.attempt', field: 'enrichment.attempt', value: (e) => (e.enrichment.attempt === undefined ? undefined : int(e.enrichment.attempt)) },
  { attribute: 'enrichment.source.topic', field: 'source.topic', value: (e) => text(e.source.topic) },
  { attribute: 'enrichment.source.partition', field: 'source.partition', value: (e) => int(e.source.partition) },
  { attribute: 'enrichment.source.offset', field: 'source.offset', value: (e) => int(e.source.offset) },
  // The log's position in its OTLP request (OTLP logs only).
  { attribute: 'enrichment.source.index', field: 'source.index', value: (e) => (e.source.index === undefined ? undefined : int(e.source.index)) },
  // Schema v2's enrichment.provenance (ENRICH_PROVENANCE): per batch (ages grow), so on the record, never on the shared resource.
  ...PROVENANCE_GROUPS.flatMap((group): MappedAttribute[] => [
    { attribute: `enrichment.provenance.${group}.tier`, field: `enrichment.provenance.${group}.tier`, value: (e) => text(e.enrichment.provenance?.[group]?.tier ?? null) },
    {
      attribute: `enrichment.provenance.${group}.age_ms`,
      field: `enrichment.provenance.${group}.age_ms`,
      value: (e) => {
        const age = e.enrichment.provenance?.[group]?.age_ms;
        return age === undefined || age === null ? undefined : int(age);
      },
    },
    {
      attribute: `enrichment.provenance.${group}.stale`,
      field: `enrichment.provenance.${group}.stale`,
      value: (e) => {
        const stale = e.enrichment.provenance?.[group]?.stale;
        return stale === undefined ? undefined : { value: { case: 'boolValue', value: stale } };
      },
    },
  ]),
];

/**
 * One enriched log as the OTLP output writes it: its resource, shared with every other log of the same host,
 * service and input resource (module comment: read it, never change it, it is frozen; compare it by identity
 * to group logs), its scope as received, and its own log record.
 */
export interface OtlpLog {
  readonly resource: Resource;
  readonly resourceSchemaUrl: string;
  readonly scope: InstrumentationScope | undefined;
  readonly scopeSchemaUrl: string;
  readonly record: LogRecord;
}

/**
 * The enriched log's resource, scope and record (module comment), for `otlpRequest` / `encodeLogs`.
 *
 * @example
 * const log = otlpLog(merger.merge(event, source), event.origin);
 * log.resource.attributes.find((a) => a.key === 'host.name'); // the registered name
 * log.record.attributes.find((a) => a.key === 'enrichment.source.offset');
 */
export function otlpLog(enriched: EnrichedLog, origin: OtlpOrigin | undefined): OtlpLog {
  // The prefix is ours: a log that went through the pipeline before carries this pass's enrichment only.
  const record = origin === undefined ? jsonRecord(enriched) : { ...origin.record, attributes: origin.record.attributes.filter((kv) => !kv.key.startsWith(ENRICHMENT_PREFIX)) };
  for (const mapped of RECORD_MAPPING) {
    const value = mapped.value(enriched);
    if (value !== undefined) set(record.attributes, mapped.attribute, value);
  }
  return {
    resource: resourceOf(enriched, origin),
    resourceSchemaUrl: origin?.resourceSchemaUrl ?? '',
    scope: origin?.scope,
    scopeSchemaUrl: origin?.scopeSchemaUrl ?? '',
    record: create(LogRecordSchema, record),
  };
}

/**
 * One request of many logs, given in input order: a run of logs with the same resource (by identity) and
 * resource schema URL is one ResourceLogs, within it a run of the same scope (by identity: the input side
 * decodes one scope object per ScopeLogs) and scope schema URL one ScopeLogs, the log records in the order
 * given. So the logs of one input request that share an output resource keep their input ScopeLogs, in
 * order (two adjacent input ScopeLogs that both have no scope and the same schema URL become one: nothing
 * tells them apart). Nothing of `logs` is changed.
 *
 * @example
 * const request = otlpRequest([otlpLog(a, a.origin), otlpLog(b, b.origin)]); // one ResourceLogs when a and b share their resource
 */
export function otlpRequest(logs: readonly OtlpLog[]): ExportLogsServiceRequest {
  const request = create(ExportLogsServiceRequestSchema);
  let resourceLogs: ResourceLogs | undefined;
  let scopeLogs: ScopeLogs | undefined;
  let previous: OtlpLog | undefined;
  for (const log of logs) {
    if (resourceLogs === undefined || previous === undefined || previous.resource !== log.resource || previous.resourceSchemaUrl !== log.resourceSchemaUrl) {
      resourceLogs = create(ResourceLogsSchema, { resource: log.resource, schemaUrl: log.resourceSchemaUrl });
      request.resourceLogs.push(resourceLogs);
      scopeLogs = undefined;
    }
    if (scopeLogs === undefined || previous === undefined || previous.scope !== log.scope || previous.scopeSchemaUrl !== log.scopeSchemaUrl) {
      scopeLogs = create(ScopeLogsSchema, { schemaUrl: log.scopeSchemaUrl });
      if (log.scope !== undefined) scopeLogs.scope = log.scope;
      resourceLogs.scopeLogs.push(scopeLogs);
    }
    scopeLogs.logRecords.push(log.record);
    previous = log;
  }
  return request;
}

/** JSON logs' resources by host block, then service block (module comment, "Shared resources"). */
const jsonResources = new WeakMap<EnrichedHost, WeakMap<EnrichedService, Resource>>();

/**
 * The OTLP logs' resource built last and what it was built from: the logs of one ResourceLogs come one
 * after the other. One slot, not an entry per host and service (nor a WeakMap by input Resource): every Kafka
 * record decodes its own Resource objects, so kept per pair each would outlive its record, be promoted to
 * the old generation and be collected there (in the bench, one log per record, that doubled the time in
 * garbage collection and cost more than building every resource).
 */
const lastOtlp: { input: Resource | undefined; host: EnrichedHost | undefined; service: EnrichedService | undefined; resource: Resource | undefined } = {
  input: undefined,
  host: undefined,
  service: undefined,
  resource: undefined,
};

/** The log's resource, built once per host block, service block and input resource (module comment). */
function resourceOf(enriched: EnrichedLog, origin: OtlpOrigin | undefined): Resource {
  if (origin === undefined) {
    // A JSON log's resource starts from its hostname and source_ip, which its host block implies.
    let byService = jsonResources.get(enriched.host);
    if (byService === undefined) {
      byService = new WeakMap();
      jsonResources.set(enriched.host, byService);
    }
    let resource = byService.get(enriched.service);
    if (resource === undefined) {
      resource = buildResource(enriched, undefined);
      byService.set(enriched.service, resource);
    }
    return resource;
  }
  const last = lastOtlp;
  if (last.resource === undefined || last.input !== origin.resource || last.host !== enriched.host || last.service !== enriched.service) {
    last.resource = buildResource(enriched, origin);
    last.input = origin.resource;
    last.host = enriched.host;
    last.service = enriched.service;
  }
  return last.resource;
}

/** The resource (module comment), frozen: it is shared by every output of its host, service and input resource. */
function buildResource(enriched: EnrichedLog, origin: OtlpOrigin | undefined): Resource {
  // The prefix is ours: a log that went through the pipeline before carries this pass's enrichment only.
  const attributes = origin === undefined ? jsonResource(enriched) : (origin.resource?.attributes ?? []).filter((kv) => !kv.key.startsWith(ENRICHMENT_PREFIX));
  for (const mapped of RESOURCE_MAPPING) {
    const value = mapped.value(enriched);
    if (value === undefined) continue;
    if (mapped.attribute === ATTR_HOST_IP && holds(attributes.find((kv) => kv.key === ATTR_HOST_IP)?.value, value)) continue;
    if (mapped.attribute === ATTR_SERVICE_NAME && keepsOwnServiceName(attributes, enriched)) continue;
    set(attributes, mapped.attribute, value);
  }
  const resource = create(ResourceSchema, {
    attributes,
    droppedAttributesCount: origin?.resource?.droppedAttributesCount ?? 0,
    entityRefs: origin?.resource?.entityRefs ?? [],
  });
  Object.freeze(resource.attributes);
  Object.freeze(resource.entityRefs);
  return Object.freeze(resource);
}

/**
 * The request of `logs` (`otlpRequest`) in an OTLP encoding, and the Kafka headers that say which.
 *
 * @example
 * const { value, headers } = encodeLogs([otlpLog(merger.merge(log, source), log.origin)], 'otlp_proto');
 * // value: Buffer of an ExportLogsServiceRequest; headers: { 'content-type': 'application/x-protobuf' }
 */
export function encodeLogs(logs: readonly OtlpLog[], encoding: Exclude<OutputEncoding, 'json'>): { value: Buffer | string; headers: Record<string, string> } {
  const request = otlpRequest(logs);
  const headers = { 'content-type': CONTENT_TYPES[encoding] };
  if (encoding === 'otlp_proto') {
    const bytes = toBinary(ExportLogsServiceRequestSchema, request);
    return { value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers };
  }
  return { value: JSON.stringify(otlpJson(request)), headers };
}

/**
 * The bytes `log`'s resource alone takes in `encoding`: every request that holds it is larger. So a request
 * too large for the brokers whose resource alone is too large cannot be made small enough by splitting.
 *
 * @example
 * resourceBytes(otlpLog(enriched, origin), 'otlp_json'); // 412 for a small resource
 */
export function resourceBytes(log: OtlpLog, encoding: Exclude<OutputEncoding, 'json'>): number {
  if (encoding === 'otlp_proto') return toBinary(ResourceSchema, log.resource).length;
  return Buffer.byteLength(JSON.stringify(toJson(ResourceSchema, log.resource, { enumAsInteger: true })));
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

/**
 * Sets `key` to `value` (its first occurrence; later duplicates go), keeping a different old value as
 * `enrichment.original.<key>`. One create() per attribute: the KeyValue's, which converts an init value.
 */
function set(attributes: KeyValue[], key: string, value: AnyValue | AnyValueInit): void {
  const kv = create(KeyValueSchema, { key, value });
  const at = attributes.findIndex((existing) => existing.key === key);
  if (at === -1) {
    attributes.push(kv);
    return;
  }
  const old = attributes[at]?.value;
  attributes[at] = kv;
  for (let i = attributes.length - 1; i > at; i--) if (attributes[i]?.key === key) attributes.splice(i, 1);
  if (old !== undefined && kv.value !== undefined && !equals(AnyValueSchema, old, kv.value)) set(attributes, `${ORIGINAL_PREFIX}${key}`, old);
}

/**
 * The log's own `host.ip` (a string or a list) already names the address `ip` (a one-element list) holds,
 * in any spelling: compared in PostgreSQL's (`canonicalIp`: `2001:0DB8::0005` is `2001:db8::5`).
 */
function holds(own: AnyValue | undefined, ip: AnyValueInit): boolean {
  const address = ip.value?.case === 'arrayValue' ? ip.value.value.values?.[0]?.value : undefined;
  if (address?.case !== 'stringValue' || own === undefined) return false;
  // Most are spelled alike already (the looked-up address is canonical): parsing is for the rest.
  const wanted = address.value;
  const names = (text: string) => text === wanted || canonicalIp(text) === canonicalIp(wanted);
  if (own.value.case === 'stringValue') return names(own.value.value);
  if (own.value.case !== 'arrayValue') return false;
  return own.value.value.values.some((entry) => entry.value.case === 'stringValue' && names(entry.value.value));
}

/** An SDK's default service name (`unknown_service`, `unknown_service:<process>`), as the input side reads it. */
const SDK_DEFAULT_SERVICE = /^unknown_service(:.*)?$/;

/**
 * The enriched service is the input side's UNKNOWN_SERVICE and the log's own `service.name` is an SDK's
 * default (./decode-otlp.ts maps it so): the output keeps the log's own, which says which process wrote it.
 */
function keepsOwnServiceName(attributes: readonly KeyValue[], enriched: EnrichedLog): boolean {
  if (enriched.service.name !== UNKNOWN_SERVICE) return false;
  const own = attributes.find((kv) => kv.key === ATTR_SERVICE_NAME)?.value?.value;
  return own?.case === 'stringValue' && SDK_DEFAULT_SERVICE.test(own.value);
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
  if (time === undefined) set(attributes, RECORD_FALLBACKS.timestamp, { value: { case: 'stringValue', value: enriched.timestamp } });
  else record.timeUnixNano = time;
  // Out of OTLP's range: no observed time; RECORD_MAPPING's `enrichment.received_at` holds it anyway.
  const observed = unixNano(enriched.received_at);
  if (observed !== undefined) record.observedTimeUnixNano = observed;
  const traceId = enriched.trace_id;
  if (traceId !== undefined) {
    if (W3C_TRACE_ID.test(traceId) && !ZERO_TRACE_ID.test(traceId)) record.traceId = Buffer.from(traceId, 'hex');
    else set(attributes, RECORD_FALLBACKS.traceId, { value: { case: 'stringValue', value: traceId } });
  }
  return record;
}

/** OTLP times are fixed64 nanoseconds: the last one they hold is 2554-07-21T23:34:33.709551615Z. */
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Nanoseconds since the epoch of an ISO 8601 date-time (ms precision, as our contract stores it); none
 * before 1970 nor after 2554-07-21T23:34:33.709Z (our contract allows years 0 to 9999; a fixed64 holds neither).
 */
function unixNano(iso: string): bigint | undefined {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  const nanos = BigInt(ms) * 1_000_000n;
  return nanos > UINT64_MAX ? undefined : nanos;
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
