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

/** Connects a lazy client once; concurrent callers share the attempt. */
export async function ensureConnected(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') {
    await redis.connect();
    return;
  }
  if (redis.status === 'end') throw new Error('redis client was closed');
  // connecting / reconnecting: commands fail fast (no offline queue); the caller's breaker handles it.
}
