/**
 * Field provenance on real services: two enrich instances (the real dependencies, each its own in-process
 * cache) over a redis-server this test owns and the shared PostgreSQL behind a TCP proxy this test owns.
 * The first batch is answered by PostgreSQL, the second (other instance) by Redis, the third by that
 * instance's memory, each older than the last since the one PostgreSQL read; then this test's Redis is
 * stopped and its proxy cut (never the machine's shared services), and the expired in-process values are
 * served `stale: true`. Outputs are captured from the publisher (the topics are not what is under test) and
 * validated against enriched-log.v2.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { FETCHED_AT } from '../../../functions/enrich/src/adapters/redis-metadata-cache.ts';
import type { FieldProvenance, Provenance } from '../../../functions/enrich/src/enriched-log.ts';
import { kafkaEvent, kafkaRecord, rawLog } from '../../unit/enrich/fakes.ts';
import { expectValidEnrichedLog } from '../../unit/enrich/schema.ts';
import { enrichTestEnv, eventually, MetadataSeed, OwnRedis, TcpProxy, uniqueNetwork } from './support.ts';

/** Keeps what enrich publishes (the broker is not under test here). */
class CapturingPublisher implements EventPublisher {
  readonly published: OutgoingMessage[] = [];
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.published.push(...messages);
  }
  async close(): Promise<void> {}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('field provenance on real Redis and PostgreSQL', () => {
  const seed = new MetadataSeed();
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const host = { hostname: `prov-${id}`, ipAddress: net.ip(5), datacenter: 'dc-p', environment: 'production', costCenter: 'cc-p' };
  const service = { name: `prov-svc-${id}`, team: 'lineage', owner: 'ana@example.com', tier: 'tier-2', version: '3.1.0', costCenter: 'cc-q' };
  const legacy = { name: `prov-legacy-${id}`, team: 'old', owner: 'bo@example.com', tier: 'tier-3', version: '0.9.0', costCenter: 'cc-r' };
  // Longer than the three batches take, shorter than the test waits before stopping the sources.
  const memoryTtlMs = 2_000;
  let redis: OwnRedis;
  let observer: Redis;
  let proxy: TcpProxy;
  const instances: { deps: EnrichDependencies; publisher: CapturingPublisher }[] = [];

  function instance(label: string): { deps: EnrichDependencies; publisher: CapturingPublisher } {
    const database = new URL(process.env.DATABASE_URL ?? '');
    database.port = String(proxy.port);
    const topics = { raw: `t-prov-raw-${id}`, complete: `t-prov-complete-${id}`, partial: `t-prov-partial-${id}`, dlq: `t-prov-dlq-${id}` };
    const publisher = new CapturingPublisher();
    const env = enrichTestEnv(topics, { REDIS_URL: redis.url, DATABASE_URL: database.toString(), ENRICH_MEMORY_TTL_MS: String(memoryTtlMs), ENRICH_MEMORY_NEGATIVE_TTL_MS: String(memoryTtlMs) });
    const deps = createEnrichDependencies(env, { publisher, instanceId: `prov-${label}-${id}` });
    instances.push({ deps, publisher });
    return { deps, publisher };
  }

  /** Enriches one batch of logs on `target`; returns their events, in order. */
  async function enrich(target: { deps: EnrichDependencies; publisher: CapturingPublisher }, logs: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
    const before = target.publisher.published.length;
    await target.deps.enrich(kafkaEvent(logs.map((log) => kafkaRecord(rawLog(log)))));
    const events = target.publisher.published.slice(before).map((message) => JSON.parse(String(message.value)) as Record<string, unknown>);
    for (const event of events) expectValidEnrichedLog(event);
    return events;
  }

  const provenance = (event: Record<string, unknown> | undefined): Provenance => (event?.enrichment as { provenance: Provenance } | undefined)?.provenance as Provenance;
  const known = () => ({ source_ip: host.ipAddress, service: service.name });

  beforeAll(async () => {
    await seed.host(host);
    await seed.service(service);
    await seed.service(legacy);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-p' });
    redis = await OwnRedis.start();
    observer = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    observer.on('error', () => undefined);
    const database = new URL(process.env.DATABASE_URL ?? '');
    proxy = await TcpProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
  });

  afterAll(async () => {
    for (const { deps } of instances) await deps.close();
    observer?.disconnect();
    await proxy?.cut();
    await redis?.destroy();
    await seed.cleanup();
  });

  it('says postgres, then redis, then memory with growing ages, and stale: true once its Redis and PostgreSQL are stopped', async () => {
    const a = instance('a');
    const b = instance('b');

    // Act 1: instance a, nothing cached anywhere: PostgreSQL answers, and the answer is written back to Redis
    const [first] = await enrich(a, [known()]);
    const stored = await eventually(async () => (await observer.get(cacheKeys.service(service.name))) !== null, 5_000);
    expect(stored).toBe(true);
    // An old-format entry (no read time), as a version before provenance wrote it, under the current version
    await observer.set(cacheKeys.service(legacy.name), JSON.stringify({ ...legacy, tags: {} }), 'EX', 60);
    await sleep(100);
    // Act 2: instance b, its own empty memory: Redis answers
    const [second, oldEntry] = await enrich(b, [known(), { source_ip: host.ipAddress, service: legacy.name }]);
    await sleep(100);
    // Act 3: instance b again: its memory answers
    const [third] = await enrich(b, [known()]);

    // Assess 1-3
    const expectGroups = (event: Record<string, unknown> | undefined, tier: string): FieldProvenance[] => {
      const groups = provenance(event);
      expect(event).toMatchObject({ schema_version: 2, enrichment: { status: 'complete' } });
      expect(groups).toEqual({
        host: { tier, age_ms: expect.any(Number), stale: false },
        network: { tier, age_ms: expect.any(Number), stale: false },
        service: { tier, age_ms: expect.any(Number), stale: false },
      });
      return [groups.host, groups.network, groups.service] as FieldProvenance[];
    };
    const ages = [expectGroups(first, 'postgres'), expectGroups(second, 'redis'), expectGroups(third, 'memory')].map((groups) => groups.map((group) => group.age_ms as number));
    for (let group = 0; group < 3; group++) {
      // Measured from the one PostgreSQL read: at least the sleeps between the batches, growing.
      expect(ages[1]?.[group]).toBeGreaterThanOrEqual((ages[0]?.[group] as number) + 100);
      expect(ages[2]?.[group]).toBeGreaterThanOrEqual((ages[1]?.[group] as number) + 100);
    }
    const raw = JSON.parse((await observer.get(cacheKeys.service(service.name))) as string);
    expect(typeof raw[FETCHED_AT]).toBe('number');
    expect(provenance(oldEntry).service).toEqual({ tier: 'redis', age_ms: null, stale: false });
    expect(oldEntry).toMatchObject({ service: { team: 'old' }, enrichment: { status: 'complete' } });

    // Act 4: the in-process entries expire; this test's Redis is stopped and its PostgreSQL proxy cut
    await sleep(memoryTtlMs + 200);
    await redis.stop();
    await proxy.cut();
    const [stale, unknown] = await enrich(b, [known(), { source_ip: host.ipAddress, service: `never-${id}` }]);

    // Assess 4
    expect(stale).toMatchObject({ schema_version: 2, enrichment: { status: 'partial', missing: { 'host.hostname': 'stale', 'service.team': 'stale' } } });
    const groups = provenance(stale);
    for (const [index, group] of [groups.host, groups.network, groups.service].entries()) {
      expect(group).toEqual({ tier: 'memory', age_ms: expect.any(Number), stale: true });
      expect(group?.age_ms).toBeGreaterThanOrEqual((ages[2]?.[index] as number) + memoryTtlMs);
    }
    expect(provenance(unknown).service).toEqual({ tier: null, age_ms: null, stale: false });
    expect(unknown).toMatchObject({ enrichment: { missing: { 'service.team': 'unavailable' } } });
  }, 60_000);
});
