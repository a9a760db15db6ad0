/**
 * The OTLP output, read as a Collector reads it: every value is decoded with protobufjs from the vendored
 * .proto text (tests/support/otlp-proto.ts), never with the generated types the encoder writes with, and every
 * mapped field is checked, with its type. An OTLP log's origin is built with Protobuf-ES `create()`, as the
 * input side hands it over; the enriched logs come from the Merger, as in the batch (and, where resources are
 * shared, from Mergers of successive batches over one BlockCache, as EnrichBatch runs them).
 */
import { create } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { AnyValueSchema, InstrumentationScopeSchema, KeyValueSchema } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import { LogRecordSchema, SeverityNumber } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import { ResourceSchema } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { BlockCache, type EnrichedLog, Merger } from '../../../functions/enrich/src/enriched-log.ts';
import { type LogEvent, NONE } from '../../../functions/enrich/src/log-event.ts';
import { encodeLogs, otlpLog, otlpRequest } from '../../../functions/enrich/src/otlp/encode-otlp.ts';
import type { OtlpOrigin } from '../../../functions/enrich/src/otlp/types.ts';
import { NOT_FOUND, type Resolution, type ResolvedMetadata } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { attributesOf, decodeOtlpProto, encodedResources, onlyLog, otlpJsonProblems } from '../../support/otlp-proto.ts';
import { host, network, service } from '../enrich/fakes.ts';

const SOURCE = { topic: 'raw-logs', partition: 2, offset: 41 };
const EVENT_ID = '6229f364-b388-56f8-85c6-3af2cc4cfd50';
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';
/** 2^63 - 1 and -2^63: int64's bounds, far beyond what a JavaScript number holds exactly. */
const INT64_MAX = 9_223_372_036_854_775_807n;
const INT64_MIN = -9_223_372_036_854_775_808n;

const fresh = <T>(value: T): Resolution<T> => ({ state: 'found', value, stale: false });

function metadata(parts: { byIp?: Resolution<Host>; service?: Resolution<Service>; network?: Resolution<Network> }): ResolvedMetadata {
  return {
    hostsByIp: new Map([['10.0.0.1', parts.byIp ?? NOT_FOUND]]),
    hostsByName: new Map([['web-01', NOT_FOUND]]),
    services: new Map([['payment-api', parts.service ?? NOT_FOUND]]),
    networks: new Map([['10.0.0.1', parts.network ?? NOT_FOUND]]),
    tally: emptyTally(),
  };
}
const KNOWN = { byIp: fresh(host({ hostname: 'payment-api-01' })), network: fresh(network()), service: fresh(service()) };
const UNKNOWN = {};
/** The resource's enrichment.* attributes of a log of KNOWN's host and service, as decoded. */
const KNOWN_ENRICHMENT = {
  'enrichment.service.team': { stringValue: 'payments' },
  'enrichment.service.owner': { stringValue: 'alice' },
  'enrichment.service.tier': { stringValue: 'tier-1' },
  'enrichment.service.cost_center': { stringValue: 'cc-9' },
  'enrichment.host.datacenter': { stringValue: 'dc-east' },
  'enrichment.host.cost_center': { stringValue: 'cc-1' },
  'enrichment.status': { stringValue: 'complete' },
};

/** As the batch does it: an OTLP log's origin gives its `source.index`. */
function enrich(log: LogEvent, parts: Parameters<typeof metadata>[0]): EnrichedLog {
  return new Merger(metadata(parts), '2024-01-15T10:30:01.000Z', 1.5).merge(log, SOURCE);
}

/** One log's request in an encoding. */
const encodeOne = (enriched: EnrichedLog, origin: OtlpOrigin | undefined, encoding: 'otlp_proto' | 'otlp_json') => encodeLogs([otlpLog(enriched, origin)], encoding);

function decoded(enriched: EnrichedLog, origin: OtlpOrigin | undefined) {
  const { value, headers } = encodeOne(enriched, origin, 'otlp_proto');
  expect(headers).toEqual({ 'content-type': 'application/x-protobuf' });
  expect(Buffer.isBuffer(value)).toBe(true);
  return onlyLog(decodeOtlpProto(value as Buffer));
}

type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;
const kv = (key: string, value: AnyValueInit) => create(KeyValueSchema, { key, value });
const str = (value: string): AnyValueInit => ({ value: { case: 'stringValue', value } });

/** A log as an OpenTelemetry SDK writes it, every field set, attributes of every AnyValue type. */
function otlpOrigin(): OtlpOrigin {
  return {
    encoding: 'otlp_proto',
    index: 3,
    resource: create(ResourceSchema, {
      attributes: [
        kv('service.name', str('payment-api')),
        kv('service.namespace', str('shop')),
        kv('host.name', str('web-01')),
        kv('host.ip', { value: { case: 'arrayValue', value: { values: [str('fe80::1'), str('10.0.0.1')] } } }),
        kv('cloud.region', str('eu-west-1')),
        kv('deployment.environment.name', str('staging')),
        kv('process.pid', { value: { case: 'intValue', value: 4242n } }),
      ],
      droppedAttributesCount: 2,
    }),
    resourceSchemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
    scope: create(InstrumentationScopeSchema, { name: 'checkout.http', version: '1.4.0', attributes: [kv('scope.flag', { value: { case: 'boolValue', value: true } })], droppedAttributesCount: 1 }),
    scopeSchemaUrl: 'https://opentelemetry.io/schemas/1.27.0',
    record: create(LogRecordSchema, {
      timeUnixNano: 1_705_314_600_123_456_789n,
      observedTimeUnixNano: 1_705_314_600_223_456_789n,
      severityNumber: SeverityNumber.WARN2,
      severityText: 'warning',
      body: { value: { case: 'kvlistValue', value: { values: [kv('reason', str('declined')), kv('amount', { value: { case: 'doubleValue', value: 12.5 } })] } } },
      attributes: [
        kv('big', { value: { case: 'intValue', value: INT64_MAX } }),
        kv('small', { value: { case: 'intValue', value: INT64_MIN } }),
        kv('blob', { value: { case: 'bytesValue', value: new Uint8Array([0, 1, 254, 255]) } }),
        kv('ratio', { value: { case: 'doubleValue', value: 0.25 } }),
        kv('retried', { value: { case: 'boolValue', value: false } }),
        kv('tags', { value: { case: 'arrayValue', value: { values: [str('a'), { value: { case: 'intValue', value: 7n } }, {}] } } }),
        kv('http', { value: { case: 'kvlistValue', value: { values: [kv('status', { value: { case: 'intValue', value: 402n } })] } } }),
      ],
      droppedAttributesCount: 5,
      flags: 1,
      traceId: Buffer.from(TRACE_ID, 'hex'),
      spanId: Buffer.from(SPAN_ID, 'hex'),
      eventName: 'payment.declined',
    }),
  };
}

/** The LogEvent the input side makes of `otlpOrigin()` (its JSON form; the OTLP output does not read it). */
function otlpLogEvent(overrides: Partial<LogEvent> = {}): LogEvent {
  return {
    origin: otlpOrigin(),
    level: 'WARN',
    message: '{"reason":"declined","amount":12.5}',
    service: 'payment-api',
    source_ip: '10.0.0.1',
    timestamp: '2024-01-15T10:30:00.123Z',
    hostname: 'web-01',
    trace_id: TRACE_ID,
    attributes: { big: '9223372036854775807' },
    event_id: EVENT_ID,
    received_at: '2024-01-15T10:30:00.500Z',
    derived: ['event_id'],
    dropped_attributes: NONE,
    ...overrides,
  };
}

/** A log of our JSON contract. */
function jsonLog(overrides: Partial<LogEvent> = {}): LogEvent {
  return {
    level: 'ERROR',
    message: 'card declined',
    service: 'payment-api',
    source_ip: '10.0.0.1',
    timestamp: '2024-01-15T10:30:00.123Z',
    hostname: 'web-01',
    trace_id: TRACE_ID,
    attributes: { count: 42, huge: 2 ** 60, ratio: 0.5, ok: true, none: null, tags: ['a', 1, null], nested: { a: { b: 'c' } } },
    event_id: EVENT_ID,
    received_at: '2024-01-15T10:30:00.500Z',
    derived: NONE,
    dropped_attributes: NONE,
    ...overrides,
  };
}

const list = (...values: string[]) => ({ arrayValue: { values: values.map((stringValue) => ({ stringValue })) } });

describe('an OTLP log, enriched', () => {
  it('keeps its resource attributes with their types and sets the host and service enrichment under semantic-convention names and enrichment.*', () => {
    // Prepare
    const enriched = enrich(otlpLogEvent(), KNOWN);

    // Act
    const { resource, resourceKeys, resourceSchemaUrl } = decoded(enriched, otlpOrigin());

    // Assess
    expect(resource).toEqual({
      'service.name': { stringValue: 'payment-api' },
      'service.namespace': { stringValue: 'shop' },
      'host.name': { stringValue: 'payment-api-01' },
      'enrichment.original.host.name': { stringValue: 'web-01' },
      'host.ip': list('fe80::1', '10.0.0.1'),
      'cloud.region': { stringValue: 'eu-west-1' },
      'deployment.environment.name': { stringValue: 'prod' },
      'enrichment.original.deployment.environment.name': { stringValue: 'staging' },
      'process.pid': { intValue: '4242' },
      'service.version': { stringValue: '1.2.3' },
      'cloud.availability_zone': { stringValue: 'zone-a' },
      ...KNOWN_ENRICHMENT,
    });
    expect(new Set(resourceKeys).size).toBe(resourceKeys.length);
    expect(resourceSchemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
  });

  it('keeps the record, scope and dropped counts as received, and adds log.record.uid = event_id and the per-log enrichment', () => {
    // Prepare
    const enriched = enrich(otlpLogEvent(), KNOWN);

    // Act
    const { record, scope, scopeSchemaUrl } = decoded(enriched, otlpOrigin());

    // Assess
    expect(scope).toEqual({ name: 'checkout.http', version: '1.4.0', attributes: [{ key: 'scope.flag', value: { boolValue: true } }], droppedAttributesCount: 1 });
    expect(scopeSchemaUrl).toBe('https://opentelemetry.io/schemas/1.27.0');
    expect(record).toEqual({
      timeUnixNano: '1705314600123456789',
      observedTimeUnixNano: '1705314600223456789',
      severityNumber: 14,
      severityText: 'warning',
      body: { kvlistValue: { values: [{ key: 'reason', value: { stringValue: 'declined' } }, { key: 'amount', value: { doubleValue: 12.5 } }] } },
      attributes: [
        { key: 'big', value: { intValue: '9223372036854775807' } },
        { key: 'small', value: { intValue: '-9223372036854775808' } },
        { key: 'blob', value: { bytesValue: Buffer.from([0, 1, 254, 255]).toString('base64') } },
        { key: 'ratio', value: { doubleValue: 0.25 } },
        { key: 'retried', value: { boolValue: false } },
        { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }, {}] } } },
        { key: 'http', value: { kvlistValue: { values: [{ key: 'status', value: { intValue: '402' } }] } } },
        { key: 'log.record.uid', value: { stringValue: EVENT_ID } },
        { key: 'enrichment.received_at', value: { stringValue: '2024-01-15T10:30:00.500Z' } },
        { key: 'enrichment.enriched_at', value: { stringValue: '2024-01-15T10:30:01.000Z' } },
        { key: 'enrichment.latency_ms', value: { doubleValue: 1.5 } },
        { key: 'enrichment.derived', value: list('event_id') },
        { key: 'enrichment.source.topic', value: { stringValue: 'raw-logs' } },
        { key: 'enrichment.source.partition', value: { intValue: '2' } },
        { key: 'enrichment.source.offset', value: { intValue: '41' } },
        { key: 'enrichment.source.index', value: { intValue: '3' } },
      ],
      droppedAttributesCount: 5,
      flags: 1,
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      eventName: 'payment.declined',
    });
  });

  it('leaves the origin unchanged', () => {
    // Prepare
    const origin = otlpOrigin();
    const before = structuredClone(origin);

    // Act
    encodeOne(enrich(otlpLogEvent(), KNOWN), origin, 'otlp_proto');

    // Assess
    expect(origin).toEqual(before);
  });

  it('when partial: sets nothing for an unknown value, keeps the log\'s own, and lists the missing fields', () => {
    // Prepare
    const origin = otlpOrigin();
    origin.resource?.attributes.push(kv('service.version', str('2.0.0-own')));
    const enriched = enrich(otlpLogEvent(), UNKNOWN);

    // Act
    const { resource } = decoded(enriched, origin);

    // Assess
    expect(resource).toMatchObject({
      'host.name': { stringValue: 'web-01' },
      'host.ip': list('fe80::1', '10.0.0.1'),
      'deployment.environment.name': { stringValue: 'staging' },
      'service.version': { stringValue: '2.0.0-own' },
      'enrichment.status': { stringValue: 'partial' },
      'enrichment.missing': {
        kvlistValue: {
          values: expect.arrayContaining([
            { key: 'host.datacenter', value: { stringValue: 'not_found' } },
            { key: 'host.zone', value: { stringValue: 'not_found' } },
            { key: 'service.version', value: { stringValue: 'not_found' } },
          ]),
        },
      },
    });
    expect(Object.keys(resource).filter((key) => key.startsWith('enrichment.original.'))).toEqual([]);
    for (const key of ['cloud.availability_zone', 'enrichment.service.team', 'enrichment.service.owner', 'enrichment.service.tier', 'enrichment.service.cost_center', 'enrichment.host.datacenter', 'enrichment.host.cost_center']) {
      expect({ key, value: resource[key] }).toEqual({ key, value: undefined });
    }
    const missing = resource['enrichment.missing']?.kvlistValue?.values?.map(({ key }) => key).sort();
    expect(missing).toEqual(Object.keys(enriched.enrichment.missing).sort());
  });

  it('sets host.ip to the looked-up address alone when the log\'s own host.ip does not list it', () => {
    // Prepare
    const origin = otlpOrigin();
    const own = origin.resource?.attributes.find((attribute) => attribute.key === 'host.ip');
    if (own !== undefined) own.value = create(AnyValueSchema, str('192.168.7.7'));

    // Act
    const { resource } = decoded(enrich(otlpLogEvent(), KNOWN), origin);

    // Assess
    expect(resource['host.ip']).toEqual(list('10.0.0.1'));
    expect(resource['enrichment.original.host.ip']).toEqual({ stringValue: '192.168.7.7' });
  });

  it.each<[string, AnyValueInit, unknown]>([
    ['a list', { value: { case: 'arrayValue', value: { values: [str('fe80::1'), str('2001:0DB8::0005')] } } }, list('fe80::1', '2001:0DB8::0005')],
    ['a string', str('2001:0db8:0:0:0:0:0:5'), { stringValue: '2001:0db8:0:0:0:0:0:5' }],
  ])("keeps the log's own host.ip (%s) that names the looked-up address in another spelling", (_name, own, expected) => {
    // Prepare: the host registered (and looked up) as 2001:db8::5
    const ip = '2001:db8::5';
    const origin = otlpOrigin();
    const attribute = origin.resource?.attributes.find(({ key }) => key === 'host.ip');
    if (attribute !== undefined) attribute.value = create(AnyValueSchema, own);
    const parts: ResolvedMetadata = { ...metadata(KNOWN), hostsByIp: new Map([[ip, fresh(host({ ipAddress: ip }))]]), networks: new Map([[ip, NOT_FOUND]]) };
    const enriched = new Merger(parts, '2024-01-15T10:30:01.000Z', 1.5).merge(otlpLogEvent({ source_ip: ip, origin }), SOURCE);

    // Act
    const { resource } = decoded(enriched, origin);

    // Assess
    expect(enriched.host.ip).toBe(ip);
    expect(resource['host.ip']).toEqual(expected);
    expect(resource['enrichment.original.host.ip']).toBeUndefined();
  });

  it("keeps an SDK's default service name (unknown_service:node), which the input side enriches as unknown_service", () => {
    // Prepare
    const origin = otlpOrigin();
    const attribute = origin.resource?.attributes.find(({ key }) => key === 'service.name');
    if (attribute !== undefined) attribute.value = create(AnyValueSchema, str('unknown_service:node'));
    const parts: ResolvedMetadata = { ...metadata(KNOWN), services: new Map([['unknown_service', NOT_FOUND]]) };
    const enriched = new Merger(parts, '2024-01-15T10:30:01.000Z', 1.5).merge(otlpLogEvent({ service: 'unknown_service', origin }), SOURCE);

    // Act
    const { resource } = decoded(enriched, origin);

    // Assess
    expect(enriched.service.name).toBe('unknown_service');
    expect(resource['service.name']).toEqual({ stringValue: 'unknown_service:node' });
    expect(resource['enrichment.original.service.name']).toBeUndefined();
    expect(resource['enrichment.status']).toEqual({ stringValue: 'partial' });
  });

  it('drops the enrichment.* resource attributes of an earlier pass, so that a partial output lists only this pass\'s missing fields', () => {
    // Prepare
    const origin = otlpOrigin();
    origin.resource?.attributes.push(kv('enrichment.status', str('partial')), kv('enrichment.missing', { value: { case: 'kvlistValue', value: { values: [kv('host.zone', str('unavailable'))] } } }));

    // Act
    const { resource } = decoded(enrich(otlpLogEvent(), KNOWN), origin);

    // Assess
    expect(resource['enrichment.status']).toEqual({ stringValue: 'complete' });
    expect(Object.keys(resource).filter((key) => key === 'enrichment.missing' || key.startsWith('enrichment.original.enrichment'))).toEqual([]);
  });

  it('drops the enrichment.* record attributes of an earlier pass: this pass\'s coordinates and times, no enrichment.original.*', () => {
    // Prepare
    const origin = otlpOrigin();
    origin.record.attributes.push(kv('enrichment.source.offset', { value: { case: 'intValue', value: 7n } }), kv('enrichment.dropped_attributes', { value: { case: 'arrayValue', value: { values: [str('y')] } } }));

    // Act
    const { attributes } = decoded(enrich(otlpLogEvent(), KNOWN), origin);

    // Assess
    expect(attributes['enrichment.source.offset']).toEqual({ intValue: '41' });
    expect(Object.keys(attributes).filter((key) => key === 'enrichment.dropped_attributes' || key.startsWith('enrichment.original.'))).toEqual([]);
  });

  it('keeps a log.record.uid the record had, when it differs, as enrichment.original.log.record.uid', () => {
    // Prepare
    const origin = otlpOrigin();
    origin.record.attributes.push(kv('log.record.uid', str('01HZX-own-id')));

    // Act
    const { attributes } = decoded(enrich(otlpLogEvent(), KNOWN), origin);

    // Assess
    expect(attributes['log.record.uid']).toEqual({ stringValue: EVENT_ID });
    expect(attributes['enrichment.original.log.record.uid']).toEqual({ stringValue: '01HZX-own-id' });
  });
});

describe('a JSON log, enriched', () => {
  it('maps its fields onto the record: times, severity, body, attributes with their JSON types, trace id, log.record.uid, the per-log enrichment', () => {
    // Prepare
    const enriched = enrich(jsonLog(), KNOWN);

    // Act
    const { record, scope, scopeSchemaUrl, resourceSchemaUrl } = decoded(enriched, undefined);

    // Assess
    expect(record).toEqual({
      timeUnixNano: '1705314600123000000',
      observedTimeUnixNano: '1705314600500000000',
      severityNumber: 17,
      severityText: 'ERROR',
      body: { stringValue: 'card declined' },
      attributes: [
        { key: 'count', value: { intValue: '42' } },
        { key: 'huge', value: { doubleValue: 2 ** 60 } },
        { key: 'ratio', value: { doubleValue: 0.5 } },
        { key: 'ok', value: { boolValue: true } },
        { key: 'none', value: {} },
        { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, {}] } } },
        { key: 'nested', value: { kvlistValue: { values: [{ key: 'a', value: { kvlistValue: { values: [{ key: 'b', value: { stringValue: 'c' } }] } } }] } } },
        { key: 'log.record.uid', value: { stringValue: EVENT_ID } },
        { key: 'enrichment.received_at', value: { stringValue: '2024-01-15T10:30:00.500Z' } },
        { key: 'enrichment.enriched_at', value: { stringValue: '2024-01-15T10:30:01.000Z' } },
        { key: 'enrichment.latency_ms', value: { doubleValue: 1.5 } },
        { key: 'enrichment.source.topic', value: { stringValue: 'raw-logs' } },
        { key: 'enrichment.source.partition', value: { intValue: '2' } },
        { key: 'enrichment.source.offset', value: { intValue: '41' } },
      ],
      traceId: TRACE_ID,
    });
    expect([scope, scopeSchemaUrl, resourceSchemaUrl]).toEqual([undefined, undefined, undefined]);
  });

  it('writes schema v2\'s provenance on the record, per field group, and nothing for a null group or an unknown age', () => {
    // Prepare: provenance as the Merger writes it with ENRICH_PROVENANCE on
    const enriched = enrich(jsonLog(), KNOWN);
    enriched.enrichment.provenance = {
      host: { tier: 'memory', age_ms: 41_230, stale: true },
      network: null,
      service: { tier: null, age_ms: null, stale: false },
    };

    // Act
    const { record, resourceKeys } = decoded(enriched, undefined);

    // Assess
    const provenance = (record.attributes ?? []).filter((attribute) => attribute.key.startsWith('enrichment.provenance.'));
    expect(provenance).toEqual([
      { key: 'enrichment.provenance.host.tier', value: { stringValue: 'memory' } },
      { key: 'enrichment.provenance.host.age_ms', value: { intValue: '41230' } },
      { key: 'enrichment.provenance.host.stale', value: { boolValue: true } },
      { key: 'enrichment.provenance.service.stale', value: { boolValue: false } },
    ]);
    expect(resourceKeys.filter((key) => key.startsWith('enrichment.provenance.'))).toEqual([]);
  });

  it('puts the host and service enrichment on the resource, with host.name and host.ip from the log', () => {
    // Prepare
    const enriched = enrich(jsonLog(), KNOWN);

    // Act
    const { resource } = decoded(enriched, undefined);

    // Assess
    expect(resource).toEqual({
      'host.name': { stringValue: 'payment-api-01' },
      'enrichment.original.host.name': { stringValue: 'web-01' },
      'host.ip': list('10.0.0.1'),
      'service.name': { stringValue: 'payment-api' },
      'service.version': { stringValue: '1.2.3' },
      'deployment.environment.name': { stringValue: 'prod' },
      'cloud.availability_zone': { stringValue: 'zone-a' },
      ...KNOWN_ENRICHMENT,
    });
  });

  it('when partial and named by hostname only: no host.ip, the log\'s host.name, nulls set nothing, missing, derived and dropped listed', () => {
    // Prepare
    const { source_ip: _ip, ...log } = jsonLog({ derived: ['event_id', 'received_at'], dropped_attributes: ['x'] });
    const enriched = enrich(log, UNKNOWN);

    // Act
    const { resource, attributes } = decoded(enriched, undefined);

    // Assess
    expect(resource).toEqual({
      'host.name': { stringValue: 'web-01' },
      'service.name': { stringValue: 'payment-api' },
      'enrichment.status': { stringValue: 'partial' },
      'enrichment.missing': {
        kvlistValue: { values: Object.entries(enriched.enrichment.missing).map(([key, reason]) => ({ key, value: { stringValue: reason } })) },
      },
    });
    expect(attributes).toMatchObject({ 'enrichment.derived': list('event_id', 'received_at'), 'enrichment.dropped_attributes': list('x') });
    expect(Object.keys(enriched.enrichment.missing)).toEqual(expect.arrayContaining(['host.datacenter', 'service.team', 'host.zone']));
  });

  it.each([
    ['INFO', 9],
    ['TRACE', 1],
    ['DEBUG', 5],
    ['WARN', 13],
    ['FATAL', 21],
  ] as const)('writes level %s as severityNumber %i', (level, number) => {
    const { record } = decoded(enrich(jsonLog({ level }), KNOWN), undefined);
    expect([record.severityNumber, record.severityText]).toEqual([number, level]);
  });

  it('keeps a trace id that is not a W3C one (32 hex digits, not all zero) as enrichment.trace_id, and no traceId', () => {
    for (const traceId of ['t-1', '0'.repeat(32), `${TRACE_ID}ff`]) {
      const { record, attributes } = decoded(enrich(jsonLog({ trace_id: traceId }), KNOWN), undefined);
      expect({ traceId, record: record.traceId, kept: attributes['enrichment.trace_id'] }).toEqual({ traceId, record: undefined, kept: { stringValue: traceId } });
    }
  });

  it('reads an upper-case W3C trace id as the same bytes', () => {
    const { record } = decoded(enrich(jsonLog({ trace_id: TRACE_ID.toUpperCase() }), KNOWN), undefined);
    expect(record.traceId).toBe(TRACE_ID);
  });

  it('leaves observedTimeUnixNano unset for a received_at before 1970, which enrichment.received_at holds as on every record', () => {
    const { record, attributes } = decoded(enrich(jsonLog({ received_at: '1969-12-31T23:59:59.000Z' }), KNOWN), undefined);
    expect(record.observedTimeUnixNano).toBeUndefined();
    expect(attributes['enrichment.received_at']).toEqual({ stringValue: '1969-12-31T23:59:59.000Z' });
  });

  it.each(['2554-07-21T23:34:33.710Z', '3000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'])(
    'keeps a timestamp and received_at past what fixed64 nanoseconds hold (%s) as enrichment.timestamp and enrichment.received_at, in both encodings',
    (at) => {
      // Prepare
      const enriched = enrich(jsonLog({ timestamp: at, received_at: at }), KNOWN);

      // Act
      const { record, attributes } = decoded(enriched, undefined);
      const json: unknown = JSON.parse(encodeOne(enriched, undefined, 'otlp_json').value as string);

      // Assess
      expect([record.timeUnixNano, record.observedTimeUnixNano]).toEqual([undefined, undefined]);
      expect([attributes['enrichment.timestamp'], attributes['enrichment.received_at']]).toEqual([{ stringValue: at }, { stringValue: at }]);
      expect(otlpJsonProblems(json)).toEqual([]);
    },
  );

  it('writes the last millisecond fixed64 nanoseconds hold as its time', () => {
    const { record, attributes } = decoded(enrich(jsonLog({ timestamp: '2554-07-21T23:34:33.709Z' }), KNOWN), undefined);
    expect(record.timeUnixNano).toBe('18446744073709000000');
    expect(attributes['enrichment.timestamp']).toBeUndefined();
  });

  it('keeps a timestamp before 1970, which OTLP\'s unsigned times cannot hold, as enrichment.timestamp', () => {
    const { record, attributes } = decoded(enrich(jsonLog({ timestamp: '1969-12-31T23:59:59.000Z' }), KNOWN), undefined);
    expect(record.timeUnixNano).toBeUndefined();
    expect(attributes['enrichment.timestamp']).toEqual({ stringValue: '1969-12-31T23:59:59.000Z' });
  });
});

describe('the resource, shared by the logs of one host and service', () => {
  /** Merges as successive batches of one EnrichBatch do: a Merger each, one BlockCache for all. */
  function batches(): (log: LogEvent, offset: number, parts?: Parameters<typeof metadata>[0]) => EnrichedLog {
    const blocks = new BlockCache();
    let batch = 0;
    return (log, offset, parts = KNOWN) => new Merger(metadata(parts), `2024-01-15T10:3${batch}:01.000Z`, ++batch / 4, blocks).merge(log, { ...SOURCE, offset });
  }
  const proto = (enriched: EnrichedLog, origin: OtlpOrigin | undefined) => encodeOne(enriched, origin, 'otlp_proto').value as Buffer;

  it('is byte for byte the same for two JSON logs of one host and service from different Kafka records; their records differ', () => {
    // Prepare
    const merge = batches();
    const first = merge(jsonLog(), 41);
    const second = merge(jsonLog({ event_id: '0b7e7c1e-0000-5000-8000-000000000002', received_at: '2024-01-15T10:31:00.000Z', derived: ['event_id'] }), 97);

    // Act
    const [a, b] = [proto(first, undefined), proto(second, undefined)];

    // Assess
    expect([first.host, first.service]).toEqual([second.host, second.service]);
    expect(encodedResources(a)).toHaveLength(1);
    expect(encodedResources(a)).toEqual(encodedResources(b));
    const [recordA, recordB] = [onlyLog(decodeOtlpProto(a)).attributes, onlyLog(decodeOtlpProto(b)).attributes];
    expect([recordA['enrichment.source.offset'], recordB['enrichment.source.offset']]).toEqual([{ intValue: '41' }, { intValue: '97' }]);
    expect([recordA['enrichment.derived'], recordB['enrichment.derived']]).toEqual([undefined, list('event_id')]);
  });

  it('is byte for byte the same for two OTLP logs of one host and service, each decoded from its own Kafka record', () => {
    // Prepare
    const merge = batches();
    const [originA, originB] = [otlpOrigin(), { ...otlpOrigin(), index: 0 }];

    // Act
    const a = proto(merge(otlpLogEvent({ origin: originA }), 41), originA);
    const b = proto(merge(otlpLogEvent({ origin: originB }), 97), originB);

    // Assess
    expect(originA.resource).not.toBe(originB.resource);
    expect(encodedResources(a)).toEqual(encodedResources(b));
    expect(onlyLog(decodeOtlpProto(b)).attributes['enrichment.source.index']).toEqual({ intValue: '0' });
  });

  it('is one Resource message for the logs of one ResourceLogs', () => {
    // Prepare
    const merge = batches();
    const origin = otlpOrigin();
    const sibling = { ...origin, index: 4, record: create(LogRecordSchema, { body: str('next') }) };

    // Act
    const a = otlpRequest([otlpLog(merge(otlpLogEvent({ origin }), 41), origin)]);
    const b = otlpRequest([otlpLog(merge(otlpLogEvent({ origin: sibling }), 41), sibling)]);

    // Assess
    expect(a.resourceLogs[0]?.resource).toBe(b.resourceLogs[0]?.resource);
    expect(a.resourceLogs[0]?.scopeLogs[0]?.logRecords[0]).not.toBe(b.resourceLogs[0]?.scopeLogs[0]?.logRecords[0]);
  });

  it.each<[string, LogEvent, Parameters<typeof metadata>[0], string, unknown]>([
    ['the service', jsonLog({ service: 'billing' }), KNOWN, 'service.name', { stringValue: 'billing' }],
    ['the host', jsonLog({ source_ip: '10.0.0.2' }), KNOWN, 'host.ip', list('10.0.0.2')],
    ['the hostname the log gave (same address)', jsonLog({ hostname: 'web-02' }), KNOWN, 'enrichment.original.host.name', { stringValue: 'web-02' }],
    ['the host\'s metadata', jsonLog(), { ...KNOWN, byIp: fresh(host({ hostname: 'payment-api-01', costCenter: 'cc-2' })) }, 'enrichment.host.cost_center', { stringValue: 'cc-2' }],
  ])('differs when %s differs', (_name, other, parts, key, value) => {
    // Prepare
    const merge = batches();
    const first = proto(merge(jsonLog(), 41), undefined);

    // Act
    const second = proto(merge(other, 42, parts), undefined);

    // Assess
    expect(encodedResources(second)).not.toEqual(encodedResources(first));
    expect(onlyLog(decodeOtlpProto(second)).resource[key]).toEqual(value);
  });

  it('differs when the OTLP resource it came with differs (same host and service)', () => {
    // Prepare
    const merge = batches();
    const [first, second] = [otlpOrigin(), otlpOrigin()];
    second.resource?.attributes.push(kv('k8s.pod.name', str('pod-2')));
    const a = proto(merge(otlpLogEvent({ origin: first }), 41), first);

    // Act
    const b = proto(merge(otlpLogEvent({ origin: second }), 42), second);

    // Assess
    expect(encodedResources(b)).not.toEqual(encodedResources(a));
    expect([onlyLog(decodeOtlpProto(a)).resource['k8s.pod.name'], onlyLog(decodeOtlpProto(b)).resource['k8s.pod.name']]).toEqual([undefined, { stringValue: 'pod-2' }]);
  });

  it('differs between a JSON log and an OTLP log of the same host and service', () => {
    // Prepare
    const merge = batches();
    const json = merge(jsonLog(), 41);
    const otlp = merge(otlpLogEvent(), 42);

    // Act
    const [fromJson, fromOtlp] = [onlyLog(decodeOtlpProto(proto(json, undefined))).resource, onlyLog(decodeOtlpProto(proto(otlp, otlpOrigin()))).resource];

    // Assess
    expect([json.host, json.service]).toEqual([otlp.host, otlp.service]);
    expect([fromJson['service.namespace'], fromOtlp['service.namespace']]).toEqual([undefined, { stringValue: 'shop' }]);
  });

  it('is frozen, so that no output can change the resource of another', () => {
    // Prepare
    const request = otlpRequest([otlpLog(enrich(jsonLog(), KNOWN), undefined)]);

    // Act
    const resource = request.resourceLogs[0]?.resource;

    // Assess
    expect([Object.isFrozen(resource), Object.isFrozen(resource?.attributes)]).toEqual([true, true]);
    expect(() => resource?.attributes.push(kv('x', str('y')))).toThrow(TypeError);
  });
});

describe('many logs in one request', () => {
  /** The logs of one input request: one resource, two scopes (two records, then one). */
  function siblings(): OtlpOrigin[] {
    const first = otlpOrigin();
    const second = { ...first, index: 4, record: create(LogRecordSchema, { body: str('second') }) };
    const other = { ...first, index: 5, scope: create(InstrumentationScopeSchema, { name: 'checkout.db' }), scopeSchemaUrl: '', record: create(LogRecordSchema, { body: str('third') }) };
    return [first, second, other];
  }

  it('holds one ResourceLogs for logs of one resource, a ScopeLogs per input scope and the records in the order given', () => {
    // Prepare
    const blocks = new BlockCache();
    const merger = new Merger(metadata(KNOWN), '2024-01-15T10:30:01.000Z', 1.5, blocks);
    const logs = siblings().map((origin) => otlpLog(merger.merge(otlpLogEvent({ origin }), SOURCE), origin));

    // Act
    const request = decodeOtlpProto(encodeLogs(logs, 'otlp_proto').value as Buffer);

    // Assess
    expect(logs.map((log) => log.resource === logs[0]?.resource)).toEqual([true, true, true]);
    expect(request.resourceLogs).toHaveLength(1);
    const scopes = request.resourceLogs?.[0]?.scopeLogs ?? [];
    expect(scopes.map((scope) => [scope.scope?.name, scope.schemaUrl, scope.logRecords?.map((record) => record.body?.kvlistValue === undefined ? record.body?.stringValue : 'kvlist')])).toEqual([
      ['checkout.http', 'https://opentelemetry.io/schemas/1.27.0', ['kvlist', 'second']],
      ['checkout.db', undefined, ['third']],
    ]);
    expect(scopes.flatMap((scope) => scope.logRecords?.map((record) => attributesOf(record.attributes)['enrichment.source.index']))).toEqual([{ intValue: '3' }, { intValue: '4' }, { intValue: '5' }]);
    expect(request.resourceLogs?.[0]?.schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
  });

  it('holds a ResourceLogs per resource when given logs of two', () => {
    // Prepare: a JSON log and an OTLP log of the same host and service have different resources
    const merger = new Merger(metadata(KNOWN), '2024-01-15T10:30:01.000Z', 1.5);
    const origin = otlpOrigin();
    const logs = [otlpLog(merger.merge(otlpLogEvent({ origin }), SOURCE), origin), otlpLog(merger.merge(jsonLog(), SOURCE), undefined)];

    // Act
    const request = decodeOtlpProto(encodeLogs(logs, 'otlp_proto').value as Buffer);

    // Assess
    expect(request.resourceLogs?.map((resourceLogs) => resourceLogs.scopeLogs?.map((scope) => scope.logRecords?.length))).toEqual([[1], [1]]);
  });

  it('writes otlp_json that follows the OTLP/JSON rules and holds what otlp_proto holds', () => {
    const merger = new Merger(metadata(KNOWN), '2024-01-15T10:30:01.000Z', 1.5);
    const logs = siblings().map((origin) => otlpLog(merger.merge(otlpLogEvent({ origin }), SOURCE), origin));
    const parsed: unknown = JSON.parse(encodeLogs(logs, 'otlp_json').value as string);
    expect(otlpJsonProblems(parsed)).toEqual([]);
    expect(parsed).toEqual(decodeOtlpProto(encodeLogs(logs, 'otlp_proto').value as Buffer));
  });
});

describe('otlp_json', () => {
  const cases: [string, () => [EnrichedLog, OtlpOrigin | undefined]][] = [
    ['an OTLP log, complete', () => [enrich(otlpLogEvent(), KNOWN), otlpOrigin()]],
    ['an OTLP log, partial', () => [enrich(otlpLogEvent(), UNKNOWN), otlpOrigin()]],
    ['a JSON log, complete', () => [enrich(jsonLog(), KNOWN), undefined]],
    ['a JSON log, partial', () => [enrich(jsonLog(), UNKNOWN), undefined]],
  ];

  it.each(cases)('%s: follows the OTLP/JSON rules and holds what otlp_proto holds', (_name, make) => {
    // Prepare
    const [enriched, origin] = make();

    // Act
    const json = encodeOne(enriched, origin, 'otlp_json');
    const proto = encodeOne(enriched, origin, 'otlp_proto');

    // Assess
    expect(json.headers).toEqual({ 'content-type': 'application/json' });
    expect(typeof json.value).toBe('string');
    const parsed: unknown = JSON.parse(json.value as string);
    expect(otlpJsonProblems(parsed)).toEqual([]);
    expect(parsed).toEqual(decodeOtlpProto(proto.value as Buffer));
  });

  it('writes the ids in hex and the 64-bit integers as strings', () => {
    const { value } = encodeOne(enrich(otlpLogEvent(), KNOWN), otlpOrigin(), 'otlp_json');
    expect(value).toContain(`"traceId":"${TRACE_ID}"`);
    expect(value).toContain(`"spanId":"${SPAN_ID}"`);
    expect(value).toContain('"timeUnixNano":"1705314600123456789"');
    expect(value).toContain('"intValue":"9223372036854775807"');
    expect(value).toContain('"severityNumber":14');
  });
});
