/**
 * The dashboard's "why is this log partial?" (scripts/local/dashboard/preview.ts) on real services: enrich's own
 * dependencies (createEnrichDependencies: in-process cache, a redis-server this test owns and stops, the shared
 * PostgreSQL, the breakers) over seeded metadata. The publisher is a real KafkaPublisher on throwaway topics,
 * wrapped to record every call: the test checks that it was never called and that the topics stayed empty.
 */
import { randomUUID } from 'node:crypto';
import { type EventPublisher, KafkaPublisher, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import type { PreviewResponse } from '../../../scripts/local/dashboard/contract.ts';
import { createPreview } from '../../../scripts/local/dashboard/preview.ts';
import { collectOutputs, deleteTopics, enrichTestEnv, kafka, MetadataSeed, OwnRedis, type Topics, throwawayTopics, uniqueNetwork } from '../enrich/support.ts';

/** A real publisher that records what it is asked to publish. */
class RecordingPublisher implements EventPublisher {
  readonly calls: OutgoingMessage[][] = [];
  readonly #inner = new KafkaPublisher(kafka(), 'preview-test');
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.calls.push([...messages]);
    await this.#inner.publish(messages);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

const seed = new MetadataSeed();
const id = randomUUID().slice(0, 8);
const net = uniqueNetwork();
const service = { name: `svc-${id}`, team: 'search', owner: 'bob@example.com', tier: 'tier-2', version: '1.0.0', costCenter: 'cc-7' };
const hostA = { hostname: `a-${id}`, ipAddress: net.ip(1), datacenter: 'dc-a', environment: 'production', costCenter: 'cc-1' };
const hostB = { hostname: `b-${id}`, ipAddress: net.ip(2), datacenter: 'dc-b', environment: 'production', costCenter: 'cc-2' };

const logOf = (overrides: Record<string, unknown>) => ({ level: 'INFO', message: `preview test ${randomUUID()}`, service: service.name, ...overrides });

function answered(answer: { status: number; body: unknown }): PreviewResponse {
  expect(answer.status).toBe(200);
  return answer.body as PreviewResponse;
}

describe('POST /api/enrich/preview behind createPreview, on real services', () => {
  let topics: Topics;
  let redis: OwnRedis;
  let publisher: RecordingPublisher;
  let deps: EnrichDependencies;
  let preview: ReturnType<typeof createPreview>;

  beforeAll(async () => {
    await seed.service(service);
    await seed.host(hostA);
    await seed.host(hostB);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'production', zone: 'zone-1' });
    topics = await throwawayTopics('preview', 1);
    redis = await OwnRedis.start();
    publisher = new RecordingPublisher();
    deps = createEnrichDependencies(enrichTestEnv(topics, { REDIS_URL: redis.url }), { publisher, instanceId: `preview-test-${id}` });
    preview = createPreview({ dependencies: deps });
  });

  afterAll(async () => {
    await deps?.close();
    await redis?.destroy();
    await deleteTopics(topics);
    await seed.cleanup();
  });

  it('explains a known log as complete, answered by PostgreSQL, then by the in-process cache', async () => {
    // Act
    const first = answered(await preview(logOf({ source_ip: hostA.ipAddress })));
    const second = answered(await preview(logOf({ source_ip: hostA.ipAddress })));
    // Assess
    expect(first).toMatchObject({ published: false, topic: topics.complete, status: 'complete', missing: {} });
    expect(first.lookups).toEqual([
      {
        kind: 'hostsByIp',
        key: hostA.ipAddress,
        state: 'found',
        stale: false,
        answeredBy: 'postgres',
        tiers: [
          { tier: 'memory', outcome: 'miss' },
          { tier: 'redis', outcome: 'miss' },
          { tier: 'postgres', outcome: 'found' },
        ],
      },
      expect.objectContaining({ kind: 'networks', key: hostA.ipAddress, state: 'found', answeredBy: 'postgres' }),
      expect.objectContaining({ kind: 'services', key: service.name, state: 'found', answeredBy: 'postgres' }),
    ]);
    expect(first.event).toMatchObject({ host: { hostname: hostA.hostname, datacenter: 'dc-a', zone: 'zone-1' }, service: { team: 'search' }, enrichment: { status: 'complete' } });
    expect(second.lookups.map((lookup) => lookup.answeredBy)).toEqual(['memory', 'memory', 'memory']);
  });

  it('shows Redis not answering once its server is stopped, PostgreSQL answering, the log still complete', async () => {
    // Prepare
    await redis.stop();
    // Act: a host not in the in-process cache yet (the service is)
    const body = answered(await preview(logOf({ source_ip: hostB.ipAddress })));
    // Assess
    expect(body.status).toBe('complete');
    const [byIp] = body.lookups;
    expect(byIp).toMatchObject({ kind: 'hostsByIp', key: hostB.ipAddress, state: 'found', answeredBy: 'postgres' });
    expect(byIp?.tiers[0]).toEqual({ tier: 'memory', outcome: 'miss' });
    expect(byIp?.tiers[1]).toEqual({ tier: 'redis', outcome: expect.stringMatching(/^(error|timeout|breaker_open)$/), detail: expect.any(String) });
    expect(byIp?.tiers[2]).toEqual({ tier: 'postgres', outcome: 'found' });
  });

  it('explains a log of an unknown hostname as partial, the host not_found by PostgreSQL', async () => {
    // Act
    const body = answered(await preview(logOf({ hostname: `nobody-${id}` })));
    // Assess
    expect(body).toMatchObject({ topic: topics.partial, status: 'partial', missing: { 'host.cost_center': 'not_found', 'host.datacenter': 'not_found' } });
    expect(body.lookups.find((lookup) => lookup.kind === 'hostsByName')).toMatchObject({ key: `nobody-${id}`, state: 'not_found', stale: false, answeredBy: 'postgres' });
  });

  it('published nothing: the publisher was never called and the output topics are empty', async () => {
    // Act
    const outputs = await collectOutputs(topics, () => false, 3_000);
    // Assess
    expect(publisher.calls).toEqual([]);
    expect({ complete: outputs.complete.size, partial: outputs.partial.size, dlq: outputs.dlq.length }).toEqual({ complete: 0, partial: 0, dlq: 0 });
  });
});
