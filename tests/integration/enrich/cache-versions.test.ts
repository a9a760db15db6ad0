/**
 * Cache versions on real services: metadata writes go through the real metadata handler (PostgreSQL write,
 * Redis keys deleted, version bumped); enrich instances are the real dependencies. PostgreSQL answers to
 * enrich go through a proxy this test owns, which can hold them back: that is how a read that began before
 * a write is made to finish after it. Every test ends with the accounting check.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import { postgresEnv, readConfig, redisEnv } from '#shared/config.ts';
import { silentLog } from '#shared/log-port.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import type { Service } from '#shared/metadata/model.ts';
import { logger, metrics } from '#shared/observability.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { RedisMetadataCache } from '../../../functions/enrich/src/adapters/redis-metadata-cache.ts';
import { createMetadataDependencies } from '../../../functions/metadata/dependencies.ts';
import { PgMetadataRepository } from '../../../functions/metadata/src/adapters/pg-metadata-repository.ts';
import { PowertoolsMetadataMetrics } from '../../../functions/metadata/src/adapters/powertools-metrics.ts';
import { RedisCacheInvalidator } from '../../../functions/metadata/src/adapters/redis-cache-invalidator.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { lambdaContext } from '../../support/apigw.ts';
import { type ApiRequest, apiEvent } from '../../support/metadata-api.ts';
import { freePort } from '../../support/net.ts';
import {
  accountedFor,
  collectOutputs,
  deleteTopics,
  enrichTestEnv,
  eventually,
  kafka,
  OwnRedis,
  type Topics,
  throwawayTopics,
  uniqueNetwork,
} from './support.ts';

/**
 * A TCP proxy that can hold back what the server sends: `hold()` stops forwarding server bytes (they are
 * kept, in order, and counted in `heldBytes`), `release()` forwards them. Client bytes always pass, so a
 * query sent while held runs on the server; only its answer waits.
 */
class HoldingProxy {
  readonly port: number;
  heldBytes = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #holding = false;
  readonly #waiting: (() => void)[] = [];

  private constructor(port: number, server: Server) {
    this.port = port;
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<HoldingProxy> {
    const port = await freePort();
    let proxy: HoldingProxy | undefined;
    const server = createServer((client) => proxy?.connection(client, target));
    proxy = new HoldingProxy(port, server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return proxy;
  }

  connection(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    this.#sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!this.#holding) {
        client.write(chunk);
        return;
      }
      this.heldBytes += chunk.length;
      upstream.pause();
      this.#waiting.push(() => {
        client.write(chunk);
        upstream.resume();
      });
    });
  }

  hold(): void {
    this.#holding = true;
    this.heldBytes = 0;
  }

  release(): void {
    this.#holding = false;
    for (const forward of this.#waiting.splice(0)) forward();
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// The metadata function as handler.ts wires it, over the test environment.
const metadataDependencies = createMetadataDependencies(process.env);
const { handler: metadataHandler } = createMetadataApi(metadataDependencies);

const metadata = async (request: ApiRequest) => {
  const response = await metadataHandler(apiEvent(request), lambdaContext('metadata'));
  if (response.statusCode >= 300) throw new Error(`${request.method} ${request.path} answered ${response.statusCode}: ${response.body}`);
  return response;
};

const id = randomUUID().slice(0, 8);
const net = uniqueNetwork();
const host = { hostname: `cv-${id}`, ipAddress: net.ip(7), datacenter: 'dc-cv', environment: 'production', costCenter: 'cc-cv' };
const created = { hosts: [] as string[], services: [] as string[] };
const redis = new Redis(process.env.REDIS_URL ?? '');

function serviceNamed(label: string): Omit<Service, 'tags'> {
  return { name: `cv-${label}-${id}`, team: 'team-old', owner: 'old@example.com', tier: 'tier-1', version: '1.0.0', costCenter: 'cc-svc' };
}

async function createService(service: Omit<Service, 'tags'>): Promise<void> {
  await metadata({ method: 'POST', path: '/api/metadata/services', body: service });
  created.services.push(service.name);
}

/** What the metadata API's clients do: replace the record (PostgreSQL, then the Redis keys and the version). */
async function renameTeam(service: Omit<Service, 'tags'>, team: string): Promise<void> {
  await metadata({ method: 'PUT', path: `/api/metadata/services/${service.name}`, body: { ...service, team } });
}

function rawValue(eventId: string, serviceName: string): Buffer {
  const now = new Date().toISOString();
  return Buffer.from(
    JSON.stringify({ level: 'INFO', message: 'cache versions', service: serviceName, source_ip: host.ipAddress, timestamp: now, received_at: now, event_id: eventId }),
  );
}

let offset = 0;
/** The event the mapping would deliver: one record per service name. */
function eventOf(topic: string, ids: string[], services: string[]) {
  return {
    eventSource: 'SelfManagedKafka',
    bootstrapServers: (kafka().KAFKA_BROKERS ?? []).join(','),
    records: {
      [`${topic}-0`]: services.map((name, index) => ({
        topic,
        partition: 0,
        offset: offset++,
        timestamp: Date.now(),
        timestampType: 'CREATE_TIME',
        value: rawValue(ids[index] as string, name).toString('base64'),
        headers: [],
      })),
    },
  };
}

/** Starts one batch (one log per service name) and returns its event ids and the invocation. */
function batch(deps: EnrichDependencies, topic: string, services: string[]): { ids: string[]; done: Promise<unknown> } {
  const ids = services.map(() => randomUUID());
  return { ids, done: deps.enrich(eventOf(topic, ids, services)) };
}

const teamOf = (outputs: Awaited<ReturnType<typeof collectOutputs>>, eventId: string | undefined) =>
  ((outputs.complete.get(eventId ?? '') ?? outputs.partial.get(eventId ?? ''))?.service as { team: string | null } | undefined)?.team;

beforeAll(async () => {
  await metadata({ method: 'POST', path: '/api/metadata/hosts', body: host });
  created.hosts.push(host.hostname);
});

afterAll(async () => {
  for (const name of created.services) await metadata({ method: 'DELETE', path: `/api/metadata/services/${name}` });
  for (const name of created.hosts) await metadata({ method: 'DELETE', path: `/api/metadata/hosts/${name}` });
  await metadataDependencies.close();
  redis.disconnect();
});

describe('in-process cache versions', () => {
  let topics: Topics;
  let proxy: HoldingProxy;
  let deps: EnrichDependencies;

  beforeAll(async () => {
    topics = await throwawayTopics('cache-versions');
    const database = new URL(process.env.DATABASE_URL ?? '');
    proxy = await HoldingProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
    database.port = String(proxy.port);
    deps = createEnrichDependencies(
      // Budgets far above how long the test holds an answer back: the held read must succeed, late.
      enrichTestEnv(topics, { DATABASE_URL: database.toString(), ENRICH_DB_TIMEOUT_MS: '20000', ENRICH_DB_CONNECT_TIMEOUT_MS: '5000' }),
      { instanceId: `cache-versions-${id}` },
    );
  });

  afterAll(async () => {
    await deps?.close();
    await proxy?.close();
    await deleteTopics(topics);
  });

  it('shows a metadata write in the next batch', async () => {
    // Prepare: a first batch caches the service in process and in Redis
    const service = serviceNamed('next');
    await createService(service);
    const first = batch(deps, topics.raw, [service.name]);
    await first.done;
    await eventually(async () => (await redis.exists(cacheKeys.service(service.name))) === 1, 5_000);
    // Act
    await renameTeam(service, 'team-new');
    const second = batch(deps, topics.raw, [service.name]);
    await second.done;
    // Assess
    const ids = [...first.ids, ...second.ids];
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
    expect(accountedFor(outputs, ids)).toEqual([]);
    expect(teamOf(outputs, first.ids[0])).toBe('team-old');
    expect(teamOf(outputs, second.ids[0])).toBe('team-new');
  });

  it('does not serve a PostgreSQL answer that was read before a write and arrived after it', async () => {
    // Prepare: the host's keys and a second service are cached (in process and in Redis), the raced one nowhere
    const raced = serviceNamed('raced');
    const other = serviceNamed('other');
    await createService(raced);
    await createService(other);
    const warm = batch(deps, topics.raw, [other.name]);
    await warm.done;
    const cached = await eventually(async () => (await redis.exists(cacheKeys.service(other.name), cacheKeys.hostByIp(host.ipAddress))) === 2, 5_000);
    expect(cached).toBe(true);

    // Act 1: batch X reads the raced service from PostgreSQL; its answer is held back by the proxy
    proxy.hold();
    const x = batch(deps, topics.raw, [raced.name]);
    const queried = await eventually(() => proxy.heldBytes > 0, 10_000, 10);
    // Act 2: the metadata write lands; batch Y (answered by the caches alone) sees the new version
    await renameTeam(raced, 'team-new');
    const y = batch(deps, topics.raw, [other.name]);
    await y.done;
    // Act 3: X's old answer arrives; then the next batch asks for the raced service
    proxy.release();
    await x.done;
    const next = batch(deps, topics.raw, [raced.name]);
    await next.done;

    // Assess: X did read before the write (the race happened); the next batch has the new value
    expect(queried).toBe(true);
    const ids = [...warm.ids, ...x.ids, ...y.ids, ...next.ids];
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
    expect(accountedFor(outputs, ids)).toEqual([]);
    expect(teamOf(outputs, x.ids[0])).toBe('team-old');
    expect(outputs.complete.has(y.ids[0] as string)).toBe(true);
    expect(teamOf(outputs, next.ids[0])).toBe('team-new');
  });
});

describe('Redis write-back script', () => {
  const client = createRedis(readConfig(redisEnv), 'cache-versions-test');
  const writer = createRedis(readConfig(redisEnv), 'cache-versions-writer');
  const cache = new RedisMetadataCache(client, { ttlSeconds: 300, negativeTtlSeconds: 30, log: silentLog });
  const invalidator = new RedisCacheInvalidator(writer);
  const value: Service = { ...serviceNamed('write-back'), tags: {} };

  afterAll(() => {
    client.disconnect();
    writer.disconnect();
  });

  it('refuses a write-back whose version moved since the read', async () => {
    // Prepare
    const key = cacheKeys.service(`wb-moved-${randomUUID()}`);
    const { version } = await cache.read([key]);
    // Act: a metadata write moves the version between our read and our write-back
    await invalidator.invalidate({ keys: [], patterns: [] });
    await cache.write([{ key, value }], version);
    // Assess
    expect(await redis.exists(key)).toBe(0);
  });

  it('stores a write-back whose version held, each entry with its TTL', async () => {
    // Prepare
    const found = cacheKeys.service(`wb-held-${randomUUID()}`);
    const missing = cacheKeys.service(`wb-none-${randomUUID()}`);
    const { version } = await cache.read([found, missing]);
    // Act
    await cache.write(
      [
        { key: found, value },
        { key: missing, value: null },
      ],
      version,
    );
    // Assess
    expect(JSON.parse((await redis.get(found)) ?? 'null')).toEqual(value);
    expect(await redis.get(missing)).toBe('!none');
    const [foundTtl, missingTtl] = [await redis.pttl(found), await redis.pttl(missing)];
    expect(foundTtl).toBeGreaterThan(30_000);
    expect(foundTtl).toBeLessThanOrEqual(300_000);
    expect(missingTtl).toBeGreaterThan(0);
    expect(missingTtl).toBeLessThanOrEqual(30_000);
    await redis.del(found, missing);
  });
});

/**
 * Redis without persistence (or a failover that loses the last writes) comes back empty. Versions must never
 * repeat across that: an instance frozen through the restart still holds in-process entries, and a write-back
 * it started before, under the version it saw last. Its own redis-server, which the test restarts.
 */
describe('cache versions across a Redis restart', () => {
  let own: OwnRedis;
  let topics: Topics;
  let deps: EnrichDependencies;
  let pool: ReturnType<typeof createPool>;
  let writer: ReturnType<typeof createRedis>;
  let reader: ReturnType<typeof createRedis>;
  let observer: Redis;
  let catalog: MetadataCatalog;

  beforeAll(async () => {
    own = await OwnRedis.start();
    topics = await throwawayTopics('cache-restart');
    const ownEnv = { ...process.env, REDIS_URL: own.url };
    deps = createEnrichDependencies(enrichTestEnv(topics, { REDIS_URL: own.url }), { instanceId: `cache-restart-${id}` });
    // The metadata function's own use case and adapters, over this test's Redis (its handler is wired to the shared one).
    pool = createPool(readConfig(postgresEnv), 'cache-restart-test');
    writer = createRedis(readConfig(redisEnv, ownEnv), 'cache-restart-metadata');
    writer.on('error', () => undefined);
    reader = createRedis(readConfig(redisEnv, ownEnv), 'cache-restart-reader');
    reader.on('error', () => undefined);
    observer = new Redis(own.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    observer.on('error', () => undefined);
    catalog = new MetadataCatalog(new PgMetadataRepository(pool), new RedisCacheInvalidator(writer), {
      log: logger,
      metrics: new PowertoolsMetadataMetrics(metrics),
    });
  });

  afterAll(async () => {
    await deps?.close();
    writer?.disconnect();
    reader?.disconnect();
    observer?.disconnect();
    await pool?.end();
    await own?.destroy();
    await deleteTopics(topics);
  });

  /**
   * Restarts the test's Redis (empty: no persistence) and waits until the clients named are connected to it
   * again and past their ready check (INFO, after CLIENT SETNAME): the enrich client is not ours to ask.
   */
  async function restartRedis(...clients: string[]): Promise<void> {
    await own.stop();
    await own.start();
    const connected = await eventually(async () => {
      const list = String(await observer.client('LIST').catch(() => '')).split('\n');
      return clients.every((name) => list.some((line) => line.includes(`name=${name} `) && !line.includes(' cmd=client|setname ')));
    }, 10_000, 50);
    const ours = [writer, reader].filter((client) => clients.includes(client.options.connectionName ?? ''));
    const ready = await eventually(() => ours.every((client) => client.status === 'ready'), 10_000, 10);
    expect([connected, ready]).toEqual([true, true]);
  }

  it('shows a write made after a restart to an instance that ran no batch through it', async () => {
    // Prepare: the service is created and cached, in process and in Redis, under the version before the restart
    const service = serviceNamed('restart-frozen');
    await catalog.services.create({ ...service, tags: {} });
    created.services.push(service.name);
    const first = batch(deps, topics.raw, [service.name]);
    await first.done;
    const cached = await eventually(async () => (await observer.exists(cacheKeys.service(service.name))) === 1, 5_000);
    expect(cached).toBe(true);

    // Act: Redis restarts empty; the first metadata write after it; then this instance's next batch
    await restartRedis('enrich', 'cache-restart-metadata');
    await catalog.services.replace({ ...service, team: 'team-new', tags: {} });
    const second = batch(deps, topics.raw, [service.name]);
    await second.done;

    // Assess
    const ids = [...first.ids, ...second.ids];
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
    expect(accountedFor(outputs, ids)).toEqual([]);
    expect(teamOf(outputs, first.ids[0])).toBe('team-old');
    expect(teamOf(outputs, second.ids[0])).toBe('team-new');
  });

  it('refuses a write-back begun before a restart and sent after the first write that followed it', async () => {
    // Prepare: a Redis fresh from a restart, a metadata write, then a read (the version a PostgreSQL answer
    // would be written back under)
    const cache = new RedisMetadataCache(reader, { ttlSeconds: 300, negativeTtlSeconds: 30, log: silentLog });
    const invalidator = new RedisCacheInvalidator(writer);
    const key = cacheKeys.service(`wb-restart-${randomUUID()}`);
    await restartRedis('cache-restart-metadata');
    await invalidator.invalidate({ keys: [key], patterns: [] });
    const { version } = await cache.read([key]);

    // Act: Redis restarts empty, a metadata write follows, then the write-back arrives
    await restartRedis('cache-restart-metadata', 'cache-restart-reader');
    await invalidator.invalidate({ keys: [key], patterns: [] });
    await cache.write([{ key, value: { ...serviceNamed('wb-restart'), tags: {} } }], version);

    // Assess
    expect(await observer.exists(key)).toBe(0);
  });

  it('gives a Redis that lost its version a new one at the first read, never one seen before', async () => {
    // Prepare
    const cache = new RedisMetadataCache(reader, { ttlSeconds: 300, negativeTtlSeconds: 30, log: silentLog });
    const key = cacheKeys.service(`wb-fresh-${randomUUID()}`);
    const before = (await cache.read([key])).version;

    // Act: Redis restarts empty; nobody writes metadata; the next read
    await restartRedis('cache-restart-reader');
    const after = (await cache.read([key])).version;
    await cache.write([{ key, value: null }], before);

    // Assess: a fresh version, and a write-back under the old one is refused
    expect(typeof after).toBe('string');
    expect(after).not.toBe(before);
    expect(await observer.exists(key)).toBe(0);
  });
});
