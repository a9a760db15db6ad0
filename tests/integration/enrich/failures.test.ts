/**
 * Enrich under failure, on real services: a Redis this test owns is killed and restarted, PostgreSQL is cut
 * behind a TCP proxy this test owns, the producer points at a dead broker. Logs keep flowing; every test ends
 * with the accounting check: every accepted event id is in complete ∪ partial ∪ dead-letter.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type EventPublisher, KafkaPublisher, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
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
  unroutedIp,
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

describe('PostgreSQL breaker reports shared between instances', () => {
  // Volume 3: an instance's own calls need three failures to open it; a failed probe after another
  // instance's report opens it on one. Both instances share one report key prefix (same `env`). A generous
  // connect budget: a healthy instance's first connection (through its proxy, on a busy test machine) must
  // not fail its probe; a cut proxy refuses connections at once whatever the budget.
  const sharedEnv = (topics: Topics) =>
    enrichTestEnv(topics, { ENRICH_BREAKER_VOLUME: '3', ENRICH_BREAKER_RESET_MS: '1500', ENRICH_DB_CONNECT_TIMEOUT_MS: '2000' });
  const redis = new Redis(process.env.REDIS_URL ?? '');
  const opened: { deps: EnrichDependencies; proxy: TcpProxy }[] = [];

  /** An enrich instance whose PostgreSQL connections go through a TCP proxy of its own. */
  async function instance(env: NodeJS.ProcessEnv, instanceId: string): Promise<{ deps: EnrichDependencies; proxy: TcpProxy }> {
    const database = new URL(process.env.DATABASE_URL ?? '');
    const proxy = await TcpProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
    database.port = String(proxy.port);
    const deps = createEnrichDependencies({ ...env, DATABASE_URL: database.toString() }, { instanceId });
    opened.push({ deps, proxy });
    return { deps, proxy };
  }

  /** Enriches one batch of logs (host IP → event id) on `deps`; returns the event ids. */
  async function batch(deps: EnrichDependencies, topic: string, ips: string[]): Promise<string[]> {
    const ids = ips.map(() => randomUUID());
    await deps.enrich(eventOf(topic, ips.map((ip, index) => rawValue(ids[index] as string, ip))));
    return ids;
  }

  // Addresses for unseen hosts: numbered within a random /24, a new one every 200 (IPs are unique in hosts).
  let unseen = { net: uniqueNetwork(), count: 0 };

  /** A host registered in PostgreSQL only: no cache tier has seen it, so only a PostgreSQL call can answer. */
  async function unseenHost(label: string): Promise<string> {
    if (unseen.count === 200) unseen = { net: uniqueNetwork(), count: 0 };
    unseen.count += 1;
    const ip = unseen.net.ip(unseen.count);
    await seed.host({ hostname: `${label}-${randomUUID().slice(0, 8)}`, ipAddress: ip, datacenter: 'dc-u', environment: 'production', costCenter: 'cc-u' });
    return ip;
  }

  const reporter = (env: NodeJS.ProcessEnv) => redis.hget(`${env.ENRICH_BREAKER_KEY_PREFIX}postgres`, 'instanceId');
  const countsOf = (deps: EnrichDependencies) => deps.lookup.breakers().find((breaker) => breaker.name === 'postgres')?.counts;

  afterEach(async () => {
    for (const { deps, proxy } of opened.splice(0)) {
      await deps.close();
      await proxy.cut();
    }
  });

  afterAll(() => {
    redis.disconnect();
  });

  it('a healthy instance keeps publishing complete records while a sick one has its breaker open', async () => {
    // Prepare: A cannot reach PostgreSQL (its own proxy is cut); B can; both share the breaker reports
    const topics = await throwawayTopics('shared-breaker-sick');
    const env = sharedEnv(topics);
    const a = await instance(env, 'instance-a');
    const b = await instance(env, 'instance-b');
    const ids: string[] = [];
    try {
      await a.proxy.cut();
      // ENRICH_BREAKER_VOLUME (3) failed calls open it; on a loaded machine a call can land outside the
      // rolling window, so A goes on (bounded) until its breaker is open: that is the precondition here.
      for (let i = 0; i < 10 && breakerState(a.deps, 'postgres') !== 'open'; i++) ids.push(...(await batch(a.deps, topics.raw, [unroutedIp()])));
      expect(breakerState(a.deps, 'postgres')).toBe('open');
      expect(await eventually(async () => (await reporter(env)) === 'instance-a', 5_000)).toBe(true);

      // Act: B enriches hosts only PostgreSQL knows, batch after batch
      const healthy: string[] = [];
      for (let i = 0; i < 3; i++) healthy.push(...(await batch(b.deps, topics.raw, [await unseenHost('b'), await unseenHost('b')])));
      ids.push(...healthy);

      // Assess: B stayed closed and paid no failure; A is still not closed; every B record is complete
      expect(breakerState(b.deps, 'postgres')).toBe('closed');
      expect(countsOf(b.deps)).toMatchObject({ failures: 0, rejects: 0 });
      expect(breakerState(a.deps, 'postgres')).not.toBe('closed');
      const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
      expect(accountedFor(outputs, ids)).toEqual([]);
      const unavailable = healthy.filter((eventId) => Object.values(statusOf(outputs, eventId)?.missing ?? {}).includes('unavailable'));
      expect(unavailable).toEqual([]);
      expect(healthy.filter((eventId) => !outputs.complete.has(eventId))).toEqual([]);
    } finally {
      await deleteTopics(topics);
    }
  });

  it('when PostgreSQL is down for both, the second opens after one probe, both skip it, and both recover', async () => {
    // Prepare: both instances behind proxies that are cut
    const topics = await throwawayTopics('shared-breaker-down');
    const env = sharedEnv(topics);
    const first = await instance(env, 'instance-first');
    const second = await instance(env, 'instance-second');
    const ids: string[] = [];
    try {
      await first.proxy.cut();
      await second.proxy.cut();
      for (let i = 0; i < 3; i++) ids.push(...(await batch(first.deps, topics.raw, [unroutedIp()])));
      expect(breakerState(first.deps, 'postgres')).toBe('open');
      expect(await eventually(async () => (await reporter(env)) === 'instance-first', 5_000)).toBe(true);

      // Act 1: the second instance enriches two batches
      ids.push(...(await batch(second.deps, topics.raw, [unroutedIp()])));
      const afterProbe = { state: breakerState(second.deps, 'postgres'), counts: countsOf(second.deps) };
      const skipped = await batch(second.deps, topics.raw, [unroutedIp()]);
      ids.push(...skipped);

      // Assess 1: one failed call (the probe) opened it, below its own volume of three; the next was skipped
      expect(afterProbe).toMatchObject({ state: 'open', counts: { fires: 1, failures: 1 } });
      expect(countsOf(second.deps)).toMatchObject({ failures: 1, rejects: 1 });

      // Act 2: PostgreSQL comes back for both; both keep enriching hosts only PostgreSQL knows
      await first.proxy.restore();
      await second.proxy.restore();
      let last: string[] = [];
      const recovered = await eventually(async () => {
        last = [
          ...(await batch(first.deps, topics.raw, [await unseenHost('first')])),
          ...(await batch(second.deps, topics.raw, [await unseenHost('second')])),
        ];
        ids.push(...last);
        return breakerState(first.deps, 'postgres') === 'closed' && breakerState(second.deps, 'postgres') === 'closed';
      }, 20_000, 200);

      // Assess 2: both closed, the last records of both complete, every event accounted for
      expect(recovered).toBe(true);
      const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
      expect(accountedFor(outputs, ids)).toEqual([]);
      expect(statusOf(outputs, skipped[0])).toMatchObject({ status: 'partial', missing: { 'host.hostname': 'unavailable' } });
      expect(last.map((eventId) => statusOf(outputs, eventId)?.status)).toEqual(['complete', 'complete']);
    } finally {
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
