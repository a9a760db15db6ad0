/**
 * ioredis client factory. Lookups against Redis must fail fast (tens of ms), never wait for the driver's
 * defaults: with Redis down, a queued command would otherwise hold the whole batch.
 *
 * With REDIS_AUTH=aws-iam the client authenticates as REDIS_USER with an ElastiCache IAM token. ioredis reads
 * `options.password` synchronously at every connect (the first one and each reconnect) and has no async
 * password hook, so a fresh token is put there before the first connect and again on every 'reconnecting'
 * (ioredis waits at least the retry delay, 100 ms here, before it connects; signing is local and takes
 * about a millisecond). A token that expired anyway fails AUTH, which ioredis turns into another reconnect,
 * which carries a new token.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisEnv } from '../config.ts';
import { logger } from '../observability.ts';
import { ElastiCacheTokens } from './elasticache-token.ts';

/** Where a client's password comes from: the ElastiCache token signer, or a fake in tests. */
export interface RedisPasswordSource {
  current(): Promise<string>;
}

const passwordSources = new WeakMap<Redis, RedisPasswordSource>();

/**
 * @example
 * const redis = createRedis(readConfig(redisEnv));
 */
export function createRedis(env: RedisEnv, name = 'log-enrichment', password = passwordSourceOf(env)): Redis {
  const url = new URL(env.REDIS_URL);
  const options: RedisOptions = {
    lazyConnect: true,
    // Fail commands at once while disconnected instead of queueing them until Redis returns.
    enableOfflineQueue: false,
    commandTimeout: env.REDIS_TIMEOUT_MS,
    connectTimeout: Math.max(env.REDIS_TIMEOUT_MS * 4, 200),
    maxRetriesPerRequest: 0,
    // Reconnect in the background with a short, capped backoff.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  if (password === undefined) {
    options.connectionName = name;
  } else {
    // The user names the connection; CLIENT SETNAME / SETINFO would need grants of their own in its ACL.
    options.username = env.REDIS_USER;
    options.disableClientInfo = true;
  }
  const redis = new Redis(env.REDIS_URL, options);
  if (password !== undefined) {
    passwordSources.set(redis, password);
    redis.on('reconnecting', () => {
      refreshPassword(redis).catch((error: unknown) => logger.warn('could not sign a Redis auth token', { error }));
    });
  }
  return redis;
}

function passwordSourceOf(env: RedisEnv): RedisPasswordSource | undefined {
  if (env.REDIS_AUTH === 'none') return undefined;
  const { REDIS_USER: user, REDIS_CACHE_NAME: cacheName, AWS_REGION: region } = env;
  // redisEnv's refinement guarantees these with aws-iam; this narrows the types.
  if (user === undefined || cacheName === undefined || region === undefined) {
    throw new Error('REDIS_AUTH=aws-iam needs REDIS_USER, REDIS_CACHE_NAME and AWS_REGION');
  }
  return new ElastiCacheTokens({ cacheName, user, region });
}

async function refreshPassword(redis: Redis): Promise<void> {
  const source = passwordSources.get(redis);
  if (source !== undefined) redis.options.password = await source.current();
}

const firstConnects = new WeakMap<Redis, Promise<void>>();

/**
 * Connects a lazy client once; concurrent callers share the attempt. Without that, a second caller arriving
 * while the first connect is under way would send on a socket that is not ready and, with no offline
 * queue, fail at once ("Stream isn't writeable") — opening a breaker on a healthy Redis.
 */
export async function ensureConnected(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'end') throw new Error('redis client was closed');
  const first = firstConnects.get(redis);
  if (redis.status === 'wait' && first === undefined) {
    // The status stays 'wait' while the token is signed: the map, not the status, says an attempt is under way.
    const attempt = refreshPassword(redis)
      .then(() => redis.connect())
      .finally(() => firstConnects.delete(redis));
    firstConnects.set(redis, attempt);
    await attempt;
    return;
  }
  if (first !== undefined) await first;
  // Otherwise it is reconnecting after a loss: commands fail fast (no offline queue) and the caller's
  // breaker handles it.
}
