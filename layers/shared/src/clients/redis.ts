/**
 * ioredis client factory. Lookups against Redis must fail fast (tens of ms), never wait for the driver's
 * defaults: with Redis down, a queued command would otherwise hold the whole batch.
 */
import { Redis } from 'ioredis';
import type { RedisEnv } from '../config.ts';

/**
 * @example
 * const redis = createRedis(readConfig(redisEnv));
 */
export function createRedis(env: RedisEnv, name = 'log-enrichment'): Redis {
  const url = new URL(env.REDIS_URL);
  return new Redis(env.REDIS_URL, {
    connectionName: name,
    lazyConnect: true,
    // Fail commands at once while disconnected instead of queueing them until Redis returns.
    enableOfflineQueue: false,
    commandTimeout: env.REDIS_TIMEOUT_MS,
    connectTimeout: Math.max(env.REDIS_TIMEOUT_MS * 4, 200),
    maxRetriesPerRequest: 0,
    // Reconnect in the background with a short, capped backoff.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  });
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
  if (redis.status === 'wait') {
    const attempt = redis.connect().finally(() => firstConnects.delete(redis));
    firstConnects.set(redis, attempt);
    await attempt;
    return;
  }
  const first = firstConnects.get(redis);
  if (first !== undefined) await first;
  // Otherwise it is reconnecting after a loss: commands fail fast (no offline queue) and the caller's
  // breaker handles it.
}
