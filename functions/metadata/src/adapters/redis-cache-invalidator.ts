/**
 * `MetadataCacheInvalidator` over Redis: UNLINK the exact keys, sweep the patterns with SCAN + UNLINK in
 * batches (never KEYS, which blocks Redis for the whole keyspace), and give the metadata version a new
 * random token (`newVersionToken`: not INCR, whose numbers repeat after a Redis restart; see `cacheKeys.version`).
 */
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { ensureConnected } from '#shared/clients/redis.ts';
import { cacheKeys, newVersionToken } from '#shared/metadata/cache-keys.ts';
import type { CacheInvalidation, MetadataCacheInvalidator } from '../ports.ts';

/** Keys asked for per SCAN step, and at most per UNLINK: small enough to keep each call short. */
const SCAN_BATCH = 500;
/** How long a write waits for a connection that is already being made before giving up on the cache. */
const CONNECTING_WAIT_MS = 1000;

/**
 * @example
 * const invalidator = new RedisCacheInvalidator(createRedis(readConfig(redisEnv), 'metadata'));
 * await invalidator.invalidate({ keys: [cacheKeys.service('checkout')], patterns: [] });
 */
export class RedisCacheInvalidator implements MetadataCacheInvalidator {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /**
   * Enrich writes entries back with a script that refuses to write when the version moved since its read
   * (functions/enrich/src/adapters/redis-metadata-cache.ts). So:
   * - exact keys go in one MULTI with the new version: a write-back of a value read before our database write
   *   lands either before the transaction (and is deleted by it) or after it (and is refused), and no
   *   reader sees the keys gone under the old version or still there under the new one;
   * - a sweep cannot be atomic, so the version is bumped before it too: from then on no stale write-back
   *   can land behind the sweep, and the final bump drops what readers cached while it ran.
   */
  async invalidate({ keys, patterns }: CacheInvalidation): Promise<void> {
    await this.#connected();
    if (patterns.length > 0) {
      await this.#redis.set(cacheKeys.version, newVersionToken());
      for (const pattern of patterns) await this.#sweep(pattern);
    }
    const transaction = this.#redis.multi();
    // UNLINK rather than DEL: the values are freed off the main thread. In commands of SCAN_BATCH keys: a bulk
    // import names hundreds of thousands, more than one call's arguments may hold; one MULTI keeps them atomic.
    for (let start = 0; start < keys.length; start += SCAN_BATCH) transaction.unlink(...keys.slice(start, start + SCAN_BATCH));
    transaction.set(cacheKeys.version, newVersionToken());
    const results = await transaction.exec();
    if (results === null) throw new Error('cache invalidation transaction was aborted');
    for (const [error] of results) if (error) throw error;
  }

  async #connected(): Promise<void> {
    const status = this.#redis.status;
    // ensureConnected returns at once while a connection is under way (lookups must fail fast), and with
    // no offline queue the commands would then fail. A metadata write is rare and worth a short wait.
    if (status === 'connecting' || status === 'connect' || status === 'reconnecting') {
      await once(this.#redis, 'ready', { signal: AbortSignal.timeout(CONNECTING_WAIT_MS) });
      return;
    }
    await ensureConnected(this.#redis);
  }

  async #sweep(pattern: string): Promise<void> {
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      if (batch.length > 0) await this.#redis.unlink(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
}
