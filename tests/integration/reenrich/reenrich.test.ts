/**
 * The re-enricher on real services (issue 13 §1): enrich's runner on a throwaway raw topic, the re-enricher's
 * runner on its partial topic (its own consumer group), the shared Kafka broker, a redis-server of each
 * test's own and a TCP proxy of its own in front of the shared PostgreSQL, both taken down and brought back
 * by the test. No mocks. What is asserted is what a consumer of the topics sees: event ids, the
 * `enrichment-attempt` header, `enrichment.attempt` in the v2 JSON (the record attribute in OTLP), and the
 * re-enricher's `reenrich_records_total{outcome}`; waits are bounded ("eventually"), never timed.
 */
import { randomUUID } from 'node:crypto';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { otlpRequest, produceOtlp } from '../../support/otlp-sdk.ts';
import { eventually, ingest, kafka, logFor, MetadataSeed, uniqueNetwork, unroutedIp } from '../enrich/support.ts';
import { collectRawOutputs, otlpView, type RawOutput, type RawOutputs } from '../otlp/support.ts';
import { attemptOf, caughtUp, finalReads, jsonOf, type Pipeline, reenrichCounts, recordCount, startPipeline } from './support.ts';

const seed = new MetadataSeed();
const ingestPublisher = new KafkaPublisher(kafka(), 'reenrich-test-ingest');
const id = randomUUID().slice(0, 8);
const net = uniqueNetwork();
const service = { name: `svc-${id}`, team: 'search', owner: 'bob@example.com', tier: 'tier-2', version: '1.0.0', costCenter: 'cc-7' };
const hosts = [1, 2, 3].map((n) => ({ hostname: `re-${n}-${id}`, ipAddress: net.ip(n), datacenter: `dc-${n}`, environment: 'production', costCenter: `cc-${n}` }));

/** Short backoffs and a short wait: a test outage of a few seconds sees several attempts. */
const FAST = {
  REENRICH_BACKOFF_MS: '200',
  REENRICH_BACKOFF_MAX_MS: '1000',
  REENRICH_MAX_WAIT_MS: '3000',
  ENRICH_BREAKER_RESET_MS: '1000',
};

const eventIdOf = (output: RawOutput) => String(jsonOf(output).event_id);
const ofEvent = (list: readonly RawOutput[], eventId: string) => list.filter((output) => eventIdOf(output) === eventId);
const enrichmentOf = (output: RawOutput) => jsonOf(output).enrichment as { status: string; missing: Record<string, string>; attempt?: number };

beforeAll(async () => {
  await seed.service(service);
  for (const host of hosts) await seed.host(host);
  await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'production', zone: 'zone-1' });
});

afterAll(async () => {
  await ingestPublisher.close();
  await seed.cleanup();
});

describe('re-enrichment after an outage of PostgreSQL and Redis', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('outage', { ...FAST, REENRICH_MAX_ATTEMPTS: '50' });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('enriches every log that was partial for want of its sources again once they answer, as a later attempt of the same event', async () => {
    // Prepare: both sources down before any lookup (fresh instances, fresh Redis: nothing is cached)
    const { topics, sources, reenrich } = pipeline;
    await sources.down();

    // Act 1: logs of registered hosts and service arrive during the outage
    const ids = await ingest(
      ingestPublisher,
      topics.raw,
      Array.from({ length: 30 }, (_, index) => logFor({ service: service.name, source_ip: hosts[index % hosts.length]?.ipAddress })),
    );
    // The re-enricher tries them again while the sources are still down: each comes back partial, one attempt
    // further, and is tried again (attempt 3 is a retry of the re-enricher's own output, behind open breakers).
    const retried = (out: RawOutputs, eventId: string) => ofEvent(out.partial, eventId).some((output) => attemptOf(output) >= 3);
    const during = await collectRawOutputs(topics, (out) => ids.every((eventId) => retried(out, eventId)), 40_000);

    // Assess 1: enrich's own pass was partial, every field missing for want of a source; none complete
    expect(ids.filter((eventId) => !retried(during, eventId))).toEqual([]);
    for (const eventId of ids) {
      const first = ofEvent(during.partial, eventId).find((output) => attemptOf(output) === 1);
      expect({ eventId, header: first?.headers['enrichment-attempt'], enrichment: first === undefined ? undefined : enrichmentOf(first) }).toMatchObject({
        eventId,
        header: undefined,
        enrichment: { status: 'partial', missing: { 'host.hostname': 'unavailable', 'service.team': 'unavailable' } },
      });
      expect(new Set(Object.values((first && enrichmentOf(first))?.missing ?? {}))).toEqual(new Set(['unavailable']));
    }
    expect(during.complete).toEqual([]);

    // Act 2: the sources come back
    await sources.up();
    const after = await collectRawOutputs(topics, (out) => ids.every((eventId) => ofEvent(out.complete, eventId).length > 0), 40_000);

    // Assess 2: every event id is complete, as a later attempt (header and body), filled from the metadata
    expect(ids.filter((eventId) => ofEvent(after.complete, eventId).length === 0)).toEqual([]);
    ids.forEach((eventId, index) => {
      const host = hosts[index % hosts.length];
      // One chain per log: partial attempts 1…k, each once, then complete as attempt k + 1.
      const attempts = ofEvent(after.partial, eventId).map(attemptOf).sort((a, b) => a - b);
      expect({ eventId, attempts }).toEqual({ eventId, attempts: attempts.map((_, n) => n + 1) });
      expect({ eventId, complete: ofEvent(after.complete, eventId).map(attemptOf) }).toEqual({ eventId, complete: [attempts.length + 1] });
      for (const output of ofEvent(after.complete, eventId)) {
        const log = jsonOf(output);
        expect(attemptOf(output)).toBeGreaterThan(1);
        expect(log).toMatchObject({
          event_id: eventId,
          host: { hostname: host?.hostname, datacenter: host?.datacenter, cost_center: host?.costCenter, zone: 'zone-1' },
          service: { name: service.name, team: 'search', owner: 'bob@example.com', tier: 'tier-2', cost_center: 'cc-7' },
          enrichment: { status: 'complete', missing: {}, attempt: attemptOf(output) },
        });
      }
    });
    expect(after.dlq).toEqual([]);
    expect(ids.filter((eventId) => ofEvent(after.partial, eventId).length === 0)).toEqual([]);
    // Nothing but these logs went through: the topics hold no other event id.
    const known = new Set(ids);
    expect([...after.complete, ...after.partial].map(eventIdOf).filter((eventId) => !known.has(eventId))).toEqual([]);

    // Assess 3: once the re-enricher has read everything, its outcomes account for every partial record it read
    let counts = await reenrichCounts(reenrich);
    let partials = 0;
    await eventually(
      async () => {
        counts = await reenrichCounts(reenrich);
        partials = await recordCount(topics.partial);
        return (await caughtUp(reenrich)) && finalReads(counts) === partials;
      },
      20_000,
      250,
    );
    expect({ read: finalReads(counts), partials }).toEqual({ read: partials, partials });
    expect(counts).toMatchObject({ reenriched: partials, settled: 0, exhausted: 0, unreadable: 0, unrecoverable: 0 });
  }, 120_000);
});

describe('a log partial only for metadata nobody has (not_found)', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('notfound', FAST);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('is read, counted settled and left: it stays on the partial topic once and never reaches complete', async () => {
    // Prepare: the sources are up; the service and host are registered nowhere
    const { topics, reenrich } = pipeline;

    // Act
    const [eventId = ''] = await ingest(ingestPublisher, topics.raw, [logFor({ service: `ghost-${id}`, source_ip: unroutedIp() })]);
    const settled = await eventually(async () => (await reenrichCounts(reenrich)).settled >= 1, 30_000, 200);

    // Assess
    expect(settled).toBe(true);
    expect(await eventually(() => caughtUp(reenrich), 10_000, 200)).toBe(true);
    const outputs = await collectRawOutputs(topics, (out) => out.partial.length >= 2 || out.complete.length > 0, 3_000);
    expect(outputs.complete).toEqual([]);
    expect(outputs.dlq).toEqual([]);
    expect(outputs.partial).toHaveLength(1);
    const [partial] = outputs.partial as [RawOutput];
    expect(eventIdOf(partial)).toBe(eventId);
    expect(attemptOf(partial)).toBe(1);
    expect(new Set(Object.values(enrichmentOf(partial).missing))).toEqual(new Set(['not_found']));
    expect(await reenrichCounts(reenrich)).toEqual({ reenriched: 0, settled: 1, exhausted: 0, unreadable: 0, unrecoverable: 0, deferred: 0 });
  });
});

describe('re-enrichment while the sources stay down', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('exhausted', { ...FAST, REENRICH_MAX_ATTEMPTS: '3' });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('stops at REENRICH_MAX_ATTEMPTS: attempts 1, 2 and 3 on the partial topic, then counted exhausted, never a 4th', async () => {
    // Prepare
    const { topics, sources, reenrich } = pipeline;
    await sources.down();

    // Act
    const ids = await ingest(ingestPublisher, topics.raw, [0, 1, 2].map((index) => logFor({ service: service.name, source_ip: hosts[index]?.ipAddress })));
    const exhausted = await eventually(async () => (await reenrichCounts(reenrich)).exhausted >= ids.length, 40_000, 200);

    // Assess: the attempt-3 partials were the last records read (they make nothing): the topics are final
    expect(exhausted).toBe(true);
    expect(await eventually(() => caughtUp(reenrich), 10_000, 200)).toBe(true);
    const outputs: RawOutputs = await collectRawOutputs(topics, (out) => out.partial.length > ids.length * 3, 3_000);
    expect(outputs.complete).toEqual([]);
    expect(outputs.dlq).toEqual([]);
    for (const eventId of ids) {
      const mine = ofEvent(outputs.partial, eventId);
      expect({ eventId, attempts: mine.map(attemptOf).sort() }).toEqual({ eventId, attempts: [1, 2, 3] });
      for (const output of mine) expect(enrichmentOf(output).attempt).toBe(attemptOf(output) === 1 ? undefined : attemptOf(output));
    }
    expect(outputs.partial).toHaveLength(ids.length * 3);
    const counts = await reenrichCounts(reenrich);
    expect(counts).toMatchObject({ reenriched: ids.length * 2, exhausted: ids.length, settled: 0, unreadable: 0, unrecoverable: 0 });
    expect(finalReads(counts)).toBe(ids.length * 3);
  }, 90_000);
});

describe('re-enrichment of an OTLP partial (OUTPUT_ENCODING=otlp_proto)', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('otlp', { ...FAST, REENRICH_MAX_ATTEMPTS: '50', OUTPUT_ENCODING: 'otlp_proto' });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('reads the raw OTLP request back by its offset and writes it complete as a later attempt with the same log.record.uid', async () => {
    // Prepare: an OTLP request of a registered host and service, as the OpenTelemetry SDK writes it
    const { topics, sources } = pipeline;
    const host = hosts[0];
    const value = await otlpRequest(
      [{ attributes: { 'service.name': service.name, 'host.name': host?.hostname ?? '' }, scopes: [{ name: 'app', logs: [{ body: `otlp ${id}` }] }] }],
      'otlp_proto',
    );
    await sources.down();

    // Act 1: produced during the outage
    await produceOtlp(topics.raw, [{ value }]);
    const during = await collectRawOutputs(topics, (out) => out.partial.some((output) => attemptOf(output) >= 2), 30_000);

    // Assess 1: an OTLP partial for want of its sources, then tried again (still partial)
    const first = during.partial.find((output) => attemptOf(output) === 1);
    expect(first).toBeDefined();
    const firstView = otlpView((first as RawOutput).value, 'otlp_proto');
    const uid = firstView.record.attributes['log.record.uid'];
    expect(typeof uid).toBe('string');
    expect(firstView.resource).toMatchObject({ 'enrichment.status': 'partial', 'enrichment.missing': { 'service.team': 'unavailable' } });
    expect(firstView.record.attributes['enrichment.attempt']).toBeUndefined();
    expect(during.complete).toEqual([]);

    // Act 2
    await sources.up();
    const after = await collectRawOutputs(topics, (out) => out.complete.length > 0, 40_000);

    // Assess 2: the same log, complete, as attempt n ≥ 2 (header and record attribute), filled from the metadata
    expect(after.complete).toHaveLength(1);
    const complete = after.complete[0] as RawOutput;
    const view = otlpView(complete.value, 'otlp_proto');
    expect(attemptOf(complete)).toBeGreaterThanOrEqual(2);
    expect(view.record.attributes).toMatchObject({ 'log.record.uid': uid, 'enrichment.attempt': BigInt(attemptOf(complete)), 'enrichment.source.topic': topics.raw, 'enrichment.source.offset': 0n });
    expect(view.record.body).toBe(`otlp ${id}`);
    expect(view.resource).toMatchObject({
      'service.name': service.name,
      'host.name': host?.hostname,
      'enrichment.status': 'complete',
      'enrichment.service.team': 'search',
      'enrichment.host.datacenter': host?.datacenter,
    });
    expect(after.dlq).toEqual([]);
    for (const output of after.partial) expect(otlpView(output.value, 'otlp_proto').record.attributes['log.record.uid']).toBe(uid);
  }, 90_000);
});
