/**
 * Enrich under failure, on real services: a Redis this test owns is killed and restarted, PostgreSQL is cut
 * behind a TCP proxy this test owns, the producer points at a dead broker. Logs keep flowing; every test ends
 * with the accounting check: every accepted event id is in complete ∪ partial ∪ dead-letter.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type EventPublisher, KafkaPublisher, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../functions/enrich/local/runner.ts';
import type { BreakerStateName } from '../../../functions/enrich/src/ports.ts';
import {
  accountedFor,
  collectOutputs,
  deleteTopics,
  enrichTestEnv,
  eventually,
  freePort,
  ingest,
  kafka,
  logFor,
  MetadataSeed,
  OwnRedis,
  type Outputs,
  TcpProxy,
  type Topics,
  throwawayTopics,
  uniqueNetwork,
} from './support.ts';

const seed = new MetadataSeed();
const ingestPublisher = new KafkaPublisher(kafka(), 'enrich-test-ingest');
const id = randomUUID().slice(0, 8);
const net = uniqueNetwork();
const service = { name: `svc-${id}`, team: 'search', owner: 'bob@example.com', tier: 'tier-2', version: '1.0.0', costCenter: 'cc-7' };
const hostA = { hostname: `a-${id}`, ipAddress: net.ip(1), datacenter: 'dc-a', environment: 'production', costCenter: 'cc-1' };
const hostB = { hostname: `b-${id}`, ipAddress: net.ip(2), datacenter: 'dc-b', environment: 'production', costCenter: 'cc-2' };
const hostC = { hostname: `c-${id}`, ipAddress: net.ip(3), datacenter: 'dc-c', environment: 'production', costCenter: 'cc-3' };

function breakerState(deps: EnrichDependencies | undefined, name: 'redis' | 'postgres'): BreakerStateName | undefined {
  return deps?.lookup.breakers().find((breaker) => breaker.name === name)?.state;
}

/** Sends logs and waits until each is on an output topic; returns their ids and the outputs. */
async function roundTrip(topics: Topics, logs: Record<string, unknown>[]): Promise<{ ids: string[]; outputs: Outputs }> {
  const ids = await ingest(ingestPublisher, topics.raw, logs);
  const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
  return { ids, outputs };
}

const statusOf = (outputs: Outputs, eventId: string | undefined) => {
  const value = outputs.complete.get(eventId ?? '') ?? outputs.partial.get(eventId ?? '');
  return value?.enrichment as { status: string; missing: Record<string, string> } | undefined;
};

beforeAll(async () => {
  await seed.service(service);
  await seed.host(hostA);
  await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'production', zone: 'zone-1' });
});

afterAll(async () => {
  await ingestPublisher.close();
  await seed.cleanup();
});

describe('enrich while Redis is down', () => {
  let topics: Topics;
  let redis: OwnRedis;
  let runner: EnrichRunner;

  beforeAll(async () => {
    topics = await throwawayTopics('redis-down');
    redis = await OwnRedis.start();
    runner = await startEnrichRunner({
      env: enrichTestEnv(topics, { REDIS_URL: redis.url }),
      topic: topics.raw,
      groupId: `enrich-test-${randomUUID()}`,
      batchWindowMs: 50,
    });
  });

  afterAll(async () => {
    await runner?.stop();
    await redis?.destroy();
    await deleteTopics(topics);
  });

  it('opens the Redis breaker, keeps enriching from memory and PostgreSQL, and closes it when Redis is back', async () => {
    // Prepare: Redis up, metadata cached
    const warm = await roundTrip(topics, [logFor({ service: service.name, source_ip: hostA.ipAddress })]);
    expect(statusOf(warm.outputs, warm.ids[0])?.status).toBe('complete');
    await seed.host(hostB); // never looked up yet: only PostgreSQL can answer it

    // Act 1: Redis dies while logs flow
    await redis.stop();
    const during = await roundTrip(topics, [
      logFor({ service: service.name, source_ip: hostA.ipAddress }),
      logFor({ service: service.name, source_ip: hostB.ipAddress }),
      logFor({ service: service.name, source_ip: net.ip(200) }),
    ]);

    // Assess 1
    expect(breakerState(runner.dependencies, 'redis')).toBe('open');
    expect(statusOf(during.outputs, during.ids[0])?.status).toBe('complete');
    expect(statusOf(during.outputs, during.ids[1])?.status).toBe('complete');
    // An unknown host is partial only for what nobody knows: PostgreSQL answered "not found".
    expect(statusOf(during.outputs, during.ids[2])).toMatchObject({ status: 'partial', missing: { 'host.hostname': 'not_found' } });

    // Act 2: Redis is back; logs keep flowing until the half-open probe closes the breaker
    await redis.start();
    const after: string[] = [];
    const closed = await eventually(async () => {
      const trip = await roundTrip(topics, [logFor({ service: service.name, source_ip: hostA.ipAddress })]);
      after.push(...trip.ids);
      return breakerState(runner.dependencies, 'redis') === 'closed';
    }, 20_000, 200);

    // Assess 2
    expect(closed).toBe(true);
    const all = [...warm.ids, ...during.ids, ...after];
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, all).length === 0);
    expect(accountedFor(outputs, all)).toEqual([]);
  });
});

describe('enrich while PostgreSQL is unreachable', () => {
  let topics: Topics;
  let proxy: TcpProxy;
  let runner: EnrichRunner;

  beforeAll(async () => {
    topics = await throwawayTopics('pg-down');
    const database = new URL(process.env.DATABASE_URL ?? '');
    proxy = await TcpProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
    database.port = String(proxy.port);
    runner = await startEnrichRunner({
      env: enrichTestEnv(topics, { DATABASE_URL: database.toString() }),
      topic: topics.raw,
      groupId: `enrich-test-${randomUUID()}`,
      batchWindowMs: 50,
    });
  });

  afterAll(async () => {
    await runner?.stop();
    await proxy?.cut();
    await deleteTopics(topics);
  });

  it('opens the PostgreSQL breaker, serves what the caches know, marks the rest unavailable, and recovers', async () => {
    // Prepare
    const warm = await roundTrip(topics, [logFor({ service: service.name, source_ip: hostA.ipAddress })]);
    expect(statusOf(warm.outputs, warm.ids[0])?.status).toBe('complete');

    // Act 1: the database becomes unreachable
    await proxy.cut();
    const during = await roundTrip(topics, [
      logFor({ service: service.name, source_ip: hostA.ipAddress }),
      logFor({ service: service.name, source_ip: hostC.ipAddress }),
    ]);

    // Assess 1
    expect(breakerState(runner.dependencies, 'postgres')).toBe('open');
    expect(statusOf(during.outputs, during.ids[0])?.status).toBe('complete');
    expect(statusOf(during.outputs, during.ids[1])).toMatchObject({ status: 'partial', missing: { 'host.hostname': 'unavailable', 'host.zone': 'unavailable' } });

    // Act 2: host C is registered meanwhile, the database comes back
    await seed.host(hostC);
    await proxy.restore();
    const after: string[] = [];
    let lastStatus: string | undefined;
    const recovered = await eventually(async () => {
      const trip = await roundTrip(topics, [logFor({ service: service.name, source_ip: hostC.ipAddress })]);
      after.push(...trip.ids);
      lastStatus = statusOf(trip.outputs, trip.ids[0])?.status;
      return lastStatus === 'complete';
    }, 20_000, 200);

    // Assess 2
    expect(recovered).toBe(true);
    expect(breakerState(runner.dependencies, 'postgres')).toBe('closed');
    const all = [...warm.ids, ...during.ids, ...after];
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, all).length === 0);
    expect(accountedFor(outputs, all)).toEqual([]);
  });
});

describe('breaker state shared between instances', () => {
  it('a second instance starting afterwards skips PostgreSQL because the first one opened the breaker', async () => {
    // Prepare: instance A cannot reach PostgreSQL; B can, and shares A's breaker keys
    const topics = await throwawayTopics('shared-breaker');
    const env = enrichTestEnv(topics, { ENRICH_BREAKER_RESET_MS: '60000' });
    const deadDatabase = new URL(process.env.DATABASE_URL ?? '');
    deadDatabase.port = String(await freePort());
    const a = createEnrichDependencies({ env: { ...env, DATABASE_URL: deadDatabase.toString() }, instanceId: 'instance-a' });
    const redis = new Redis(process.env.REDIS_URL ?? '');
    const unseen = { hostname: `d-${id}`, ipAddress: net.ip(4), datacenter: 'dc-d', environment: 'production', costCenter: 'cc-4' };
    await seed.host(unseen);
    let b: EnrichDependencies | undefined;
    try {
      const ids = [randomUUID(), randomUUID()];
      await a.enrich(eventOf(topics.raw, [rawValue(ids[0] as string, net.ip(99))]));
      expect(breakerState(a, 'postgres')).toBe('open');
      const shared = await eventually(async () => (await redis.get(`${env.ENRICH_BREAKER_KEY_PREFIX}postgres`))?.includes('"open"') ?? false, 5_000);
      expect(shared).toBe(true);

      // Act: B starts afterwards and enriches a host only PostgreSQL knows
      b = createEnrichDependencies({ env, instanceId: 'instance-b' });
      await b.enrich(eventOf(topics.raw, [rawValue(ids[1] as string, unseen.ipAddress)]));

      // Assess
      expect(breakerState(b, 'postgres')).toBe('open');
      const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
      expect(accountedFor(outputs, ids)).toEqual([]);
      expect(statusOf(outputs, ids[1])).toMatchObject({ status: 'partial', missing: { 'host.hostname': 'unavailable' } });
    } finally {
      await a.close();
      await b?.close();
      redis.disconnect();
      await deleteTopics(topics);
    }
  });
});

describe('enrich when producing fails', () => {
  it.each([
    ['the invocation fails', 'false'],
    ['item failures are reported', 'true'],
  ])('retries the batch (%s) until the outputs are stored, losing nothing', async (_, reportItemFailures) => {
    // Prepare: the runner's publisher first points at a dead broker
    const topics = await throwawayTopics('produce-fail');
    const dead = new KafkaPublisher({ ...kafka(), KAFKA_BROKERS: [`127.0.0.1:${await freePort()}`] }, 'enrich-test-dead');
    const live = new KafkaPublisher(kafka(), 'enrich-test-live');
    const publisher: EventPublisher & { current: EventPublisher } = {
      current: dead,
      publish(messages: readonly OutgoingMessage[]) {
        return this.current.publish(messages);
      },
      async close() {
        await dead.close();
        await live.close();
      },
    };
    const runner = await startEnrichRunner({
      env: enrichTestEnv(topics, { ENRICH_REPORT_BATCH_ITEM_FAILURES: reportItemFailures }),
      topic: topics.raw,
      groupId: `enrich-test-${randomUUID()}`,
      batchWindowMs: 50,
      retryInitialMs: 100,
      retryMaxMs: 400,
      publisher,
    });
    try {
      const ids = await ingest(
        ingestPublisher,
        topics.raw,
        Array.from({ length: 12 }, (_, index) => logFor({ service: service.name, source_ip: index % 2 === 0 ? hostA.ipAddress : net.ip(100 + index) })),
      );
      const failing = await eventually(() => runner.stats.failedInvocations >= 2, 20_000);
      expect(failing).toBe(true);

      // Act: the broker "comes back"
      publisher.current = live;
      const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);

      // Assess
      expect(accountedFor(outputs, ids)).toEqual([]);
      expect(await eventually(() => runner.stats.pending === 0 && runner.stats.records >= ids.length, 10_000)).toBe(true);
    } finally {
      await runner.stop();
      await deleteTopics(topics);
    }
  });
});

function rawValue(eventId: string, sourceIp: string): Buffer {
  const now = new Date().toISOString();
  return Buffer.from(
    JSON.stringify({ level: 'INFO', message: 'direct', service: service.name, source_ip: sourceIp, timestamp: now, received_at: now, event_id: eventId }),
  );
}

/** The event the mapping would deliver for these values (one partition). */
function eventOf(topic: string, values: Buffer[]) {
  return {
    eventSource: 'SelfManagedKafka',
    bootstrapServers: (kafka().KAFKA_BROKERS ?? []).join(','),
    records: {
      [`${topic}-0`]: values.map((value, offset) => ({
        topic,
        partition: 0,
        offset,
        timestamp: Date.now(),
        timestampType: 'CREATE_TIME',
        value: value.toString('base64'),
        headers: [],
      })),
    },
  };
}
