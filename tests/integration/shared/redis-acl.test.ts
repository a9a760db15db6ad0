/**
 * The ElastiCache users' access strings (infra/cdk/lib/cache-users.ts CACHE_ACCESS) on a real server: this
 * test's own redis-server gets one ACL user per function with exactly those rules, and the functions' real
 * adapters run as them through the shared client in IAM mode (user name + a token from the password source;
 * locally the "token" is the user's password, ElastiCache has no stand-in here). The server's ACL LOG records
 * every command it refused, including the ones ioredis sends on its own at connect and whose errors it
 * swallows: it must stay empty.
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { createRedis, ensureConnected, type RedisPasswordSource } from '#shared/clients/redis.ts';
import type { RedisEnv } from '#shared/config.ts';
import { silentLog } from '#shared/log-port.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { enrichEnv } from '../../../functions/enrich/config.ts';
import { RedisBreakerReports } from '../../../functions/enrich/src/adapters/redis-breaker-reports.ts';
import { RedisMetadataCache } from '../../../functions/enrich/src/adapters/redis-metadata-cache.ts';
import { RedisCacheInvalidator } from '../../../functions/metadata/src/adapters/redis-cache-invalidator.ts';
import { CACHE_ACCESS, type CacheClient } from '../../../infra/cdk/lib/cache-users.ts';
import { OwnRedis } from '../../support/own-services.ts';

const BREAKER_PREFIX = enrichEnv.shape.ENRICH_BREAKER_KEY_PREFIX.parse(undefined);
const USERS: Record<CacheClient, string> = { enrich: 'dev-le-enrich', metadata: 'dev-le-metadata' };

let server: OwnRedis;
let admin: Redis;
const clients: Redis[] = [];

/** What the ACL log holds: one entry per refused command ([reason, object, username] of each). */
async function refusals(): Promise<string[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((entry) => {
    const fields = new Map<string, unknown>();
    for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    return `${fields.get('username')}: ${fields.get('reason')} ${fields.get('object')}`;
  });
}

/** A password source like the token signer, returning `passwords` in turn (the last one from then on). */
function passwords(...values: string[]): RedisPasswordSource & { calls: number } {
  const source = { calls: 0, current: async () => values[Math.min(source.calls++, values.length - 1)] as string };
  return source;
}

/** The function's client exactly as createRedis builds it for ElastiCache IAM auth, minus TLS. */
function clientAs(client: CacheClient, source: RedisPasswordSource): Redis {
  const env: RedisEnv = {
    REDIS_URL: server.url,
    REDIS_TIMEOUT_MS: 2000,
    REDIS_AUTH: 'aws-iam',
    REDIS_USER: USERS[client],
    REDIS_CACHE_NAME: 'dev-le-cache',
    AWS_REGION: 'eu-west-1',
  };
  const redis = createRedis(env, client, source);
  redis.on('error', () => undefined);
  clients.push(redis);
  return redis;
}

beforeAll(async () => {
  server = await OwnRedis.start();
  admin = new Redis(server.url);
  for (const client of Object.keys(USERS) as CacheClient[]) {
    await admin.call('ACL', 'SETUSER', USERS[client], 'reset', `>${client}-password`, ...CACHE_ACCESS[client].split(' '));
  }
});

afterEach(() => {
  // A client left connected would reconnect (with its old password) when a later test drops the user's connections.
  for (const redis of clients.splice(0)) redis.disconnect();
});

afterAll(async () => {
  admin.disconnect();
  await server.destroy();
});

beforeEach(async () => {
  await admin.flushall();
  await admin.call('ACL', 'LOG', 'RESET');
});

it('runs enrich\'s cache reads, write-backs and breaker reports as its user without a refusal', async () => {
  // Prepare
  const redis = clientAs('enrich', passwords('enrich-password'));
  const cache = new RedisMetadataCache(redis, { ttlSeconds: 60, negativeTtlSeconds: 10, log: silentLog });
  const reports = new RedisBreakerReports(redis, { keyPrefix: BREAKER_PREFIX, reportTtlMs: 10_000 });
  const key = cacheKeys.service('checkout');
  const checkout = { name: 'checkout', team: 'payments', owner: 'ana', tier: '1', version: '2.3.0', costCenter: 'cc-1', tags: {} };

  // Act: a first read finds no version and creates one (SET NX GET), a write-back (script), a hit.
  const first = await cache.read([key]);
  await cache.write([{ key, value: checkout }], first.version);
  const second = await cache.read([key, cacheKeys.hostByIp('10.0.0.1')]);
  const report = await reports.reportOpen('postgres', 'instance-a');
  const read = await reports.read(['postgres', 'redis']);
  await redis.quit();

  // Assess
  expect(second.values).toEqual([checkout, undefined]);
  expect(read).toEqual([report]);
  expect(await refusals()).toEqual([]);
});

it('runs metadata\'s invalidation (exact keys, a pattern sweep, the version) as its user without a refusal', async () => {
  // Prepare
  await admin.mset(cacheKeys.version, 'v0', cacheKeys.service('checkout'), '{}', cacheKeys.networkForIp('10.0.0.1'), '{}');
  const redis = clientAs('metadata', passwords('metadata-password'));

  // Act
  await new RedisCacheInvalidator(redis).invalidate({ keys: [cacheKeys.service('checkout')], patterns: [cacheKeys.networkPattern] });

  // Assess
  expect(await admin.exists(cacheKeys.service('checkout'), cacheKeys.networkForIp('10.0.0.1'))).toBe(0);
  expect(await admin.get(cacheKeys.version)).not.toBe('v0');
  expect(await refusals()).toEqual([]);
});

it.each([
  ['enrich', (redis: Redis) => redis.flushall(), 'flushall'],
  ['enrich', (redis: Redis) => redis.del(cacheKeys.version), 'del'],
  ['enrich', (redis: Redis) => redis.get('other-app:secret'), 'other-app:secret'],
  ['enrich', (redis: Redis) => redis.keys('*'), 'keys'],
  ['metadata', (redis: Redis) => redis.eval("return redis.call('GET', KEYS[1])", 1, cacheKeys.version), 'eval'],
  ['metadata', (redis: Redis) => redis.hset(`${BREAKER_PREFIX}postgres`, 'epoch', '1'), 'hset'],
  ['metadata', (redis: Redis) => redis.config('GET', '*'), 'config|get'],
] as const)('refuses %s a command or key outside its grant (%#)', async (client, command, object) => {
  // Prepare
  const redis = clientAs(client, passwords(`${client}-password`));
  await ensureConnected(redis);

  // Act + Assess
  await expect(command(redis)).rejects.toThrow(/NOPERM/);
  expect(await refusals()).toEqual([expect.stringContaining(`${USERS[client]}: `)]);
  expect((await refusals())[0]).toContain(object);
});

it('reconnects with the password the source gives at that moment (a fresh token after each loss)', async () => {
  // Prepare: connected with the first password.
  const source = passwords('enrich-password', 'enrich-password-2');
  const redis = clientAs('enrich', source);
  const cache = new RedisMetadataCache(redis, { ttlSeconds: 60, negativeTtlSeconds: 10, log: silentLog });
  await cache.read([cacheKeys.service('checkout')]);

  // Act: only the second password is valid from now on, and the server drops the connection.
  await admin.call('ACL', 'SETUSER', USERS.enrich, 'resetpass', '>enrich-password-2');
  const ready = once(redis, 'ready');
  await admin.call('CLIENT', 'KILL', 'USER', USERS.enrich);
  await ready;

  // Assess: the reconnect authenticated with the new password and works.
  await expect(cache.read([cacheKeys.service('checkout')])).resolves.toMatchObject({ values: [undefined] });
  expect(source.calls).toBe(2);
  expect(await refusals()).toEqual([]);
});
