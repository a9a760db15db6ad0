import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { Merger, topicFor } from '../../../functions/enrich/src/enriched-log.ts';
import { type LogEvent, NONE } from '../../../functions/enrich/src/log-event.ts';
import { NOT_FOUND, type Resolution, type ResolvedMetadata, UNAVAILABLE } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { host, network, rawLog as rawRecord, service } from './fakes.ts';
import { expectValidEnrichedLog } from './schema.ts';

const SOURCE = { topic: 'raw-logs', partition: 0, offset: 7 };

/** A log that names its host only by hostname (`web-01`). */
function hostnameOnly(overrides: Partial<LogEvent> = {}): LogEvent {
  const { source_ip: _ip, ...log } = rawLog({ hostname: 'web-01', ...overrides });
  return log;
}

/** A decoded log (what the Merger gets): a raw record with nothing derived or dropped unless said. */
function rawLog(overrides: Partial<LogEvent> = {}): LogEvent {
  return { ...rawRecord(), derived: NONE, dropped_attributes: NONE, ...overrides } as LogEvent;
}
const fresh = <T>(value: T): Resolution<T> => ({ state: 'found', value, stale: false });
const stale = <T>(value: T): Resolution<T> => ({ state: 'found', value, stale: true });

function metadata(parts: {
  byIp?: Resolution<Host>;
  byName?: Resolution<Host>;
  service?: Resolution<Service>;
  network?: Resolution<Network>;
}): ResolvedMetadata {
  return {
    hostsByIp: new Map([['10.0.0.1', parts.byIp ?? NOT_FOUND]]),
    hostsByName: new Map([['web-01', parts.byName ?? NOT_FOUND]]),
    services: new Map([['payment-api', parts.service ?? NOT_FOUND]]),
    networks: new Map([['10.0.0.1', parts.network ?? NOT_FOUND]]),
    tally: emptyTally(),
  };
}

function merge(parts: Parameters<typeof metadata>[0], log = rawLog()) {
  return new Merger(metadata(parts), '2024-01-15T10:30:01.000Z', 1.5).merge(log, SOURCE);
}

describe('Merger', () => {
  it('is complete when the host (by IP), its network and the service are known', () => {
    // Prepare
    const log = rawLog({ trace_id: 't-1', attributes: { a: 1 } });
    // Act
    const enriched = merge({ byIp: fresh(host()), network: fresh(network()), service: fresh(service()) }, log);
    // Assess
    const { derived: _derived, dropped_attributes: _dropped, ...fields } = log;
    expect(enriched).toEqual({
      ...fields,
      schema_version: 1,
      host: { hostname: 'web-01', ip: '10.0.0.1', datacenter: 'dc-east', environment: 'prod', cost_center: 'cc-1', zone: 'zone-a' },
      service: { name: 'payment-api', team: 'payments', owner: 'alice', tier: 'tier-1', version: '1.2.3', cost_center: 'cc-9' },
      enrichment: { status: 'complete', missing: {}, derived: [], dropped_attributes: [], enriched_at: '2024-01-15T10:30:01.000Z', latency_ms: 1.5 },
      source: SOURCE,
    });
    expectValidEnrichedLog(JSON.parse(JSON.stringify(enriched)));
  });

  it('keeps the original service string as service.name', () => {
    const enriched = merge({ service: fresh(service({ name: 'ignored' })) }, rawLog({ service: 'payment-api' }));
    expect(enriched.service.name).toBe('payment-api');
  });

  it('stays complete without a network: the zone is informative', () => {
    const enriched = merge({ byIp: fresh(host()), service: fresh(service()) });
    expect(enriched.enrichment).toMatchObject({ status: 'complete', missing: { 'host.zone': 'not_found' } });
    expect(enriched.host.zone).toBeNull();
  });

  it('finds the host by the log hostname when no host has the source IP', () => {
    const enriched = merge(
      { byName: fresh(host({ hostname: 'web-01', ipAddress: '10.9.9.9', datacenter: 'dc-x' })), service: fresh(service()) },
      rawLog({ hostname: 'web-01' }),
    );
    expect(enriched.host).toMatchObject({ hostname: 'web-01', ip: '10.0.0.1', datacenter: 'dc-x' });
    expect(enriched.enrichment.status).toBe('complete');
  });

  it('takes datacenter and environment from the network when the host is unknown, and is partial', () => {
    // Act
    const enriched = merge({ byName: NOT_FOUND, network: fresh(network()), service: fresh(service()) }, rawLog({ hostname: 'web-01' }));
    // Assess
    expect(enriched.host).toEqual({ hostname: 'web-01', ip: '10.0.0.1', datacenter: 'dc-net', environment: 'staging', cost_center: null, zone: 'zone-a' });
    expect(enriched.enrichment.status).toBe('partial');
    expect(enriched.enrichment.missing).toEqual({ 'host.cost_center': 'not_found' });
    expectValidEnrichedLog(JSON.parse(JSON.stringify(enriched)));
  });

  it('reports fields no source could answer as unavailable', () => {
    const enriched = merge({ byIp: UNAVAILABLE, network: UNAVAILABLE, service: UNAVAILABLE });
    expect(enriched.enrichment.status).toBe('partial');
    expect(enriched.enrichment.missing).toEqual({
      'host.hostname': 'unavailable',
      'host.datacenter': 'unavailable',
      'host.environment': 'unavailable',
      'host.cost_center': 'unavailable',
      'host.zone': 'unavailable',
      'service.team': 'unavailable',
      'service.owner': 'unavailable',
      'service.tier': 'unavailable',
      'service.version': 'unavailable',
      'service.cost_center': 'unavailable',
    });
    expectValidEnrichedLog(JSON.parse(JSON.stringify(enriched)));
  });

  it('serves stale values but flags them, which makes the event partial', () => {
    const enriched = merge({ byIp: fresh(host()), network: fresh(network()), service: stale(service()) });
    expect(enriched.service.team).toBe('payments');
    expect(enriched.enrichment.status).toBe('partial');
    expect(enriched.enrichment.missing['service.team']).toBe('stale');
  });

  it('says unavailable rather than not_found when one of the host lookups could not be answered', () => {
    const enriched = merge({ byIp: NOT_FOUND, byName: UNAVAILABLE, network: NOT_FOUND, service: fresh(service()) }, rawLog({ hostname: 'web-01' }));
    expect(enriched.enrichment.missing['host.cost_center']).toBe('unavailable');
  });

  it('looks a log without source_ip up by hostname only: host.ip null, no network, zone not_found', () => {
    // Prepare: a network answer for 10.0.0.1 must not leak into a log that has no IP
    const log = hostnameOnly();
    // Act
    const enriched = merge({ byName: fresh(host({ hostname: 'web-01' })), network: fresh(network()), service: fresh(service()) }, log);
    // Assess
    expect(enriched.host).toEqual({ hostname: 'web-01', ip: null, datacenter: 'dc-east', environment: 'prod', cost_center: 'cc-1', zone: null });
    expect(enriched.enrichment).toMatchObject({ status: 'complete', missing: { 'host.zone': 'not_found' } });
    expect('source_ip' in enriched).toBe(false);
    expectValidEnrichedLog(JSON.parse(JSON.stringify(enriched)));
  });

  it('reports an unknown hostname-only host with the reason of the name lookup, without a network fallback', () => {
    const log = hostnameOnly();
    const enriched = merge({ byName: UNAVAILABLE, network: fresh(network()), service: fresh(service()) }, log);
    expect(enriched.host).toMatchObject({ hostname: 'web-01', ip: null, datacenter: null, environment: null });
    expect(enriched.enrichment.missing).toEqual({ 'host.cost_center': 'unavailable', 'host.datacenter': 'unavailable', 'host.environment': 'unavailable', 'host.zone': 'not_found' });
  });

  it('says which fields were derived and which attributes were dropped', () => {
    const log = rawLog({ derived: ['event_id', 'received_at'], dropped_attributes: ['huge'] });
    const enriched = merge({ byIp: fresh(host()), network: fresh(network()), service: fresh(service()) }, log);
    expect(enriched.enrichment).toMatchObject({ status: 'complete', derived: ['event_id', 'received_at'], dropped_attributes: ['huge'] });
    expect('derived' in enriched || 'dropped_attributes' in enriched).toBe(false);
    expectValidEnrichedLog(JSON.parse(JSON.stringify(enriched)));
  });
});

describe('topicFor', () => {
  it('sends complete events to the complete topic and the rest to the partial topic', () => {
    const topics = { complete: 'c', partial: 'p' };
    expect([topicFor('complete', topics), topicFor('partial', topics)]).toEqual(['c', 'p']);
  });
});

describe('Merger.serialize', () => {
  const cases: [string, Parameters<typeof metadata>[0], ReturnType<typeof rawLog>][] = [
    ['complete', { byIp: fresh(host()), network: fresh(network()), service: fresh(service()) }, rawLog({ attributes: { service: 'payment-api', x: 1 } })],
    ['host missing', { network: fresh(network()), service: fresh(service()) }, rawLog({ hostname: 'web-01', trace_id: 't' })],
    ['everything unavailable', { byIp: UNAVAILABLE, network: UNAVAILABLE, service: UNAVAILABLE }, rawLog({ message: 'says "service":"payment-api" inside' })],
    ['stale service', { byIp: fresh(host()), service: stale(service()) }, rawLog()],
    ['hostname only', { byName: fresh(host()), network: fresh(network()), service: fresh(service()) }, hostnameOnly()],
    ['hostname only, unknown', { byName: NOT_FOUND, service: fresh(service()) }, hostnameOnly({ derived: ['event_id', 'received_at', 'timestamp'] })],
    [
      'every field, derived and dropped',
      { byIp: fresh(host()), network: fresh(network()), service: fresh(service()) },
      rawLog({ hostname: 'web-01', trace_id: 't', attributes: { service: 'payment-api', '"service":': 1 }, derived: ['event_id'], dropped_attributes: ['big'] }),
    ],
  ];

  it.each(cases)('serialises the same event as merge (%s)', (_, parts, log) => {
    // Prepare
    const merger = new Merger(metadata(parts), '2024-01-15T10:30:01.000Z', 1.5);
    // Act
    const serialized = merger.serialize(log, SOURCE);
    // Assess
    const expected = merger.merge(log, SOURCE);
    expect(JSON.parse(serialized.json)).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(serialized.status).toBe(expected.enrichment.status);
    expectValidEnrichedLog(JSON.parse(serialized.json));
  });

  it('never lends one record’s derived or dropped fields to another through the shared enrichment block', () => {
    // Prepare
    const merger = new Merger(metadata({ byIp: fresh(host()), network: fresh(network()), service: fresh(service()) }), '2024-01-15T10:30:01.000Z', 1.5);
    const plain = rawLog();
    const derived = rawLog({ derived: ['event_id'], dropped_attributes: ['x'] });
    // Act
    const outputs = [plain, derived, plain].map((log) => JSON.parse(merger.serialize(log, SOURCE).json).enrichment);
    // Assess
    expect(outputs.map((enrichment) => [enrichment.derived, enrichment.dropped_attributes])).toEqual([
      [[], []],
      [['event_id'], ['x']],
      [[], []],
    ]);
  });
});
