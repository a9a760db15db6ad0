/**
 * The dashboard's "why is this log partial?" (scripts/local/dashboard/preview.ts) over the enrich fakes: the
 * real TieredMetadataLookup (in-process cache, breakers) with a fake Redis tier and a fake PostgreSQL.
 */
import { silentLog } from '#shared/log-port.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import type { RemoteCacheRead } from '../../../functions/enrich/src/ports.ts';
import type { PreviewRejection, PreviewResponse } from '../../../scripts/local/dashboard/contract.ts';
import { createPreview } from '../../../scripts/local/dashboard/preview.ts';
import { BATCH_TOPICS, buildLookup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, network, RecordingMetrics, rawLog, service } from '../enrich/fakes.ts';

const TOPICS = { COMPLETE_TOPIC: BATCH_TOPICS.complete, PARTIAL_TOPIC: BATCH_TOPICS.partial };

/** A Redis tier whose reads never answer: the breaker's call budget (1 s in buildLookup) times them out. */
class HangingRemoteCache extends FakeRemoteCache {
  override read(): Promise<RemoteCacheRead> {
    return new Promise(() => undefined);
  }
}

function setup(options: { remote?: FakeRemoteCache; ttlMs?: number } = {}) {
  const remote = options.remote ?? new FakeRemoteCache();
  const source = new FakeSource();
  source.hosts = [host()];
  source.services = [service()];
  source.networks = [network()];
  const built = buildLookup(remote, source, options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs });
  const preview = createPreview({ dependencies: { lookup: built.lookup, config: TOPICS } });
  return { remote, source, preview, ...built };
}

function answered(answer: { status: number; body: unknown }): PreviewResponse {
  expect(answer.status).toBe(200);
  return answer.body as PreviewResponse;
}

function rejectedWith(answer: { status: number; body: unknown }): PreviewRejection {
  expect(answer.status).toBe(422);
  return answer.body as PreviewRejection;
}

/** An OTLP/JSON request of one resource (payment-api on web-01) holding `count` log records. */
function otlpJson(count: number): Record<string, unknown> {
  const logRecords = Array.from({ length: count }, (_, i) => ({ timeUnixNano: '1705314600000000000', severityText: 'INFO', body: { stringValue: `otlp ${i}` } }));
  const attributes = [
    { key: 'service.name', value: { stringValue: 'payment-api' } },
    { key: 'host.name', value: { stringValue: 'web-01' } },
  ];
  return { resourceLogs: [{ resource: { attributes }, scopeLogs: [{ scope: { name: 'app' }, logRecords }] }] };
}

describe('createPreview', () => {
  it('explains a known log: complete, answered by PostgreSQL, then by the in-process cache on a second call', async () => {
    // Prepare
    const { preview, source } = setup();
    const log = rawLog();
    // Act
    const first = answered(await preview(log));
    const second = answered(await preview(log));
    // Assess
    expect(first).toMatchObject({ published: false, topic: 'complete', status: 'complete', missing: {} });
    expect(first.lookups).toEqual([
      {
        kind: 'hostsByIp',
        key: '10.0.0.1',
        state: 'found',
        stale: false,
        answeredBy: 'postgres',
        tiers: [
          { tier: 'memory', outcome: 'miss' },
          { tier: 'redis', outcome: 'miss' },
          { tier: 'postgres', outcome: 'found' },
        ],
      },
      expect.objectContaining({ kind: 'networks', key: '10.0.0.1', state: 'found', answeredBy: 'postgres' }),
      expect.objectContaining({ kind: 'services', key: 'payment-api', state: 'found', answeredBy: 'postgres' }),
    ]);
    expect(first.event).toMatchObject({ event_id: log.event_id, host: { hostname: 'web-01', zone: 'zone-a' }, service: { team: 'payments' }, source: { topic: 'preview', partition: 0, offset: 0 } });
    expect(second.lookups.map((lookup) => lookup.answeredBy)).toEqual(['memory', 'memory', 'memory']);
    expect(second.lookups[0]?.tiers).toEqual([
      { tier: 'memory', outcome: 'found' },
      { tier: 'redis', outcome: 'skipped' },
      { tier: 'postgres', outcome: 'skipped' },
    ]);
    expect(source.calls).toHaveLength(1);
  });

  it('merges as enrich does: the event is the one EnrichBatch publishes for the same log, coordinates and times aside', async () => {
    // Prepare: one lookup shared by the preview and the batch
    const { preview, lookup } = setup();
    const publisher = new FakePublisher();
    const batch = new EnrichBatch({ lookup, publisher, metrics: new RecordingMetrics(), topics: BATCH_TOPICS, reportBatchItemFailures: false, log: silentLog });
    const log = rawLog({ service: 'nobody', attributes: { user: 'u-1' } });
    // Act
    const previewed = answered(await preview(log));
    await batch.enrich(kafkaEvent([kafkaRecord(log)]));
    // Assess
    const [published] = publisher.json(BATCH_TOPICS.partial);
    const comparable = (event: Record<string, unknown>) => {
      const { source: _source, enrichment, ...rest } = event as { source: unknown; enrichment: Record<string, unknown> };
      const { enriched_at: _at, latency_ms: _latency, provenance: _provenance, ...kept } = enrichment;
      return { ...rest, enrichment: kept };
    };
    expect(previewed.topic).toBe(BATCH_TOPICS.partial);
    expect(comparable(previewed.event)).toEqual(comparable(published as Record<string, unknown>));
  });

  it('explains a partial log: an unknown service is not_found, answered by PostgreSQL', async () => {
    // Prepare
    const { preview } = setup();
    // Act
    const body = answered(await preview(rawLog({ service: 'nobody' })));
    // Assess
    expect(body).toMatchObject({ status: 'partial', topic: 'partial', missing: { 'service.team': 'not_found', 'service.owner': 'not_found' } });
    expect(body.lookups.find((lookup) => lookup.kind === 'services')).toEqual({
      kind: 'services',
      key: 'nobody',
      state: 'not_found',
      stale: false,
      answeredBy: 'postgres',
      tiers: [
        { tier: 'memory', outcome: 'miss' },
        { tier: 'redis', outcome: 'miss' },
        { tier: 'postgres', outcome: 'not_found' },
      ],
    });
  });

  it('shows Redis down as an error, then as breaker_open once its breaker opened, PostgreSQL answering both times', async () => {
    // Prepare
    const { preview, remote, redisBreaker } = setup();
    remote.down = true;
    // Act
    const first = answered(await preview(rawLog()));
    const second = answered(await preview(rawLog({ source_ip: '10.0.0.7', service: 'nobody' })));
    // Assess
    expect(first.status).toBe('complete');
    expect(first.lookups[0]?.tiers).toEqual([
      { tier: 'memory', outcome: 'miss' },
      { tier: 'redis', outcome: 'error', detail: 'Error: connect ECONNREFUSED' },
      { tier: 'postgres', outcome: 'found' },
    ]);
    expect(redisBreaker.health().state).toBe('open');
    expect(second.lookups[0]?.tiers).toEqual([
      { tier: 'memory', outcome: 'miss' },
      { tier: 'redis', outcome: 'breaker_open', detail: expect.stringContaining('Breaker is open') },
      { tier: 'postgres', outcome: 'not_found' },
    ]);
    expect(second.lookups[0]?.answeredBy).toBe('postgres');
  });

  it('shows a Redis read that never answers as a timeout', async () => {
    // Prepare
    const { preview } = setup({ remote: new HangingRemoteCache() });
    // Act
    const body = answered(await preview(rawLog()));
    // Assess
    expect(body.lookups[0]?.tiers[1]).toEqual({ tier: 'redis', outcome: 'timeout', detail: expect.stringContaining('Timed out') });
    expect(body.lookups[0]?.answeredBy).toBe('postgres');
  });

  it('says unavailable with both reasons when Redis and PostgreSQL are down', async () => {
    // Prepare
    const { preview, remote, source } = setup();
    remote.down = true;
    source.down = true;
    // Act
    const body = answered(await preview(rawLog()));
    // Assess
    expect(body).toMatchObject({ status: 'partial', topic: 'partial', missing: { 'host.cost_center': 'unavailable', 'service.team': 'unavailable' } });
    expect(body.lookups[0]).toEqual({
      kind: 'hostsByIp',
      key: '10.0.0.1',
      state: 'unavailable',
      stale: false,
      answeredBy: null,
      tiers: [
        { tier: 'memory', outcome: 'miss' },
        { tier: 'redis', outcome: 'error', detail: 'Error: connect ECONNREFUSED' },
        { tier: 'postgres', outcome: 'error', detail: 'Error: connect ECONNREFUSED' },
      ],
    });
  });

  it('shows a stale answer as the in-process entry served last, after the tiers that failed', async () => {
    // Prepare: an entry that expires at once, then both sources down
    const { preview, remote, source } = setup({ ttlMs: 1 });
    await preview(rawLog());
    await new Promise((resolve) => setTimeout(resolve, 10));
    remote.down = true;
    source.down = true;
    // Act
    const body = answered(await preview(rawLog()));
    // Assess
    expect(body.missing).toMatchObject({ 'service.team': 'stale' });
    const services = body.lookups.find((lookup) => lookup.kind === 'services');
    expect(services).toMatchObject({ state: 'found', stale: true, answeredBy: 'memory' });
    expect(services?.tiers.map(({ tier, outcome }) => `${tier}:${outcome}`)).toEqual(['memory:miss', 'redis:error', 'postgres:error', 'memory:stale']);
  });

  it('shows an in-process entry of an older metadata version as a miss, read again from Redis', async () => {
    // Prepare: the first call writes its answers back to Redis, then a metadata write moves the version
    const { preview, remote } = setup();
    await preview(rawLog());
    await new Promise((resolve) => setImmediate(resolve));
    // The fake keeps its entries when the version moves (the real invalidator sweeps the changed ones).
    remote.version = '2';
    // Act
    const body = answered(await preview(rawLog()));
    // Assess
    expect(body.lookups[0]).toMatchObject({ answeredBy: 'redis' });
    expect(body.lookups[0]?.tiers).toEqual([
      { tier: 'memory', outcome: 'miss' },
      { tier: 'redis', outcome: 'found' },
      { tier: 'postgres', outcome: 'skipped' },
    ]);
  });

  it('answers 422 with the reason and problems of the dead letter enrich would write for an invalid log', async () => {
    // Prepare
    const { preview, lookup } = setup();
    const publisher = new FakePublisher();
    const batch = new EnrichBatch({ lookup, publisher, metrics: new RecordingMetrics(), topics: BATCH_TOPICS, reportBatchItemFailures: false, log: silentLog });
    const invalid = { level: 'LOUD', service: 'payment-api', source_ip: 'not-an-ip' };
    // Act
    const body = rejectedWith(await preview(invalid));
    await batch.enrich(kafkaEvent([kafkaRecord(invalid)]));
    // Assess
    const [letter] = publisher.json(BATCH_TOPICS.deadLetter) as { reason: string; problems: unknown[] }[];
    expect(body.reason).toBe('invalid');
    expect(body.problems).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'message' }), expect.objectContaining({ field: 'level' })]));
    expect({ reason: body.reason, problems: body.problems }).toEqual({ reason: letter?.reason, problems: letter?.problems });
    expect(body.message).toMatch(/^Enrich would dead-letter this log \(invalid\): /);
  });

  it('answers 422 for a body that is not a log object (a JSON array)', async () => {
    // Prepare
    const { preview } = setup();
    // Act
    const body = rejectedWith(await preview([rawLog()]));
    // Assess
    expect(body.reason).toBe('invalid');
    expect(body.problems.length).toBeGreaterThan(0);
  });

  it('explains an OTLP/JSON request of one log record', async () => {
    // Prepare
    const { preview } = setup();
    // Act
    const body = answered(await preview(otlpJson(1)));
    // Assess: named by host name only (no IP), found by PostgreSQL
    expect(body.lookups.map(({ kind, key, state }) => ({ kind, key, state }))).toEqual([
      { kind: 'hostsByName', key: 'web-01', state: 'found' },
      { kind: 'services', key: 'payment-api', state: 'found' },
    ]);
    expect(body.event).toMatchObject({ message: 'otlp 0', source: { topic: 'preview', index: 0 } });
  });

  it('answers 422 for an OTLP/JSON request of two log records, asking for one', async () => {
    // Prepare
    const { preview, source } = setup();
    // Act
    const body = rejectedWith(await preview(otlpJson(2)));
    // Assess
    expect(body).toEqual({
      message: expect.stringContaining('exactly one log record'),
      reason: 'not_one_log',
      problems: [{ field: 'resourceLogs', reason: 'holds 2 log records; send one' }],
    });
    expect(source.calls).toEqual([]);
  });
});
