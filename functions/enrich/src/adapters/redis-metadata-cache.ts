/**
 * The Redis tier: cached values only (breaker reports are another port: ./redis-breaker-reports.ts). Key
 * layout: `#shared/metadata/cache-keys.ts` (the metadata writer deletes those keys and replaces the `version`
 * token on every write, so they must match exactly). Versions are opaque tokens, compared for equality only
 * (here, in the script below and in process).
 *
 * Values: the entity as JSON (camelCase model), or NEGATIVE_MARKER for "looked up, does not exist", so a
 * log from an unknown host does not reach PostgreSQL on every batch. Negative entries get a shorter TTL.
 */
import type { Redis } from 'ioredis';
import { ensureConnected } from '#shared/clients/redis.ts';
import type { Log } from '#shared/log-port.ts';
import { cacheKeys, newVersionToken } from '#shared/metadata/cache-keys.ts';
import type { CachedValue, Entity, MetadataCacheTier, RemoteCacheRead } from '../ports.ts';

/** Stored for a key whose entity does not exist. Entities are JSON objects, so this can never collide. */
export const NEGATIVE_MARKER = '!none';

/**
 * Writes entries only if the version still equals the one the batch read: a metadata write between our read
 * and this write-back would otherwise be hidden for a whole TTL behind the older value we fetched. A missing
 * version (Redis restarted since the read) is never equal: nothing is written under "no version".
 * KEYS[1] = version key, KEYS[2..] = entry keys; ARGV[1] = seen version, then (value, ttl) pairs.
 */
const WRITE_BACK = `
local current = redis.call('GET', KEYS[1])
if not current or current ~= ARGV[1] then return -1 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i * 2 - 2], 'EX', ARGV[i * 2 - 1])
end
return #KEYS - 1
`;

export interface RedisMetadataCacheOptions {
  ttlSeconds: number;
  negativeTtlSeconds: number;
  log: Log;
}

/**
 * @example
 * const cache = new RedisMetadataCache(createRedis(config, 'enrich'), { ttlSeconds: 300, negativeTtlSeconds: 30, log: logger });
 * const { version, values } = await cache.read([cacheKeys.service('checkout')]);
 * await cache.write([{ key: cacheKeys.service('checkout'), value: service }], version); // refused if version moved
 */
export class RedisMetadataCache implements MetadataCacheTier {
  readonly #redis: Redis;
  readonly #ttl: string;
  readonly #negativeTtl: string;
  readonly #log: Log;

  constructor(redis: Redis, options: RedisMetadataCacheOptions) {
    this.#redis = redis;
    this.#ttl = String(options.ttlSeconds);
    this.#negativeTtl = String(options.negativeTtlSeconds);
    this.#log = options.log;
  }

  /**
   * One MGET: the version, then the keys (so every value comes with the version it was current under). Never
   * answers without a version: when Redis has none (it restarted empty, or lost it in a failover), this read
   * creates one with SET NX (a second round trip, once per Redis incarnation) and answers every key as a miss,
   * since values found under no version are of unknown age. Whoever won the SET NX (us, another instance or a
   * metadata write), the token it left is new, so it matches nothing an instance cached before.
   */
  async read(keys: readonly string[]): Promise<RemoteCacheRead> {
    await ensureConnected(this.#redis);
    const answer = await this.#redis.mget(cacheKeys.version, ...keys);
    const values: CachedValue[] = new Array(keys.length);
    const version = answer[0] ?? null;
    if (version === null) {
      const token = newVersionToken();
      const existing = await this.#redis.set(cacheKeys.version, token, 'NX', 'GET');
      this.#log.info('metadata version was missing in Redis (restarted or flushed); a new one is in place', { created: existing === null });
      return { version: existing ?? token, values: values.fill(undefined) };
    }
    for (let i = 0; i < keys.length; i++) values[i] = this.#decode(answer[1 + i] ?? null, keys[i] as string);
    return { version, values };
  }

  /** Refused (by the script) unless the version is still `seenVersion`; never written under no version. */
  async write(entries: readonly { key: string; value: Entity | null }[], seenVersion: string | null): Promise<void> {
    if (entries.length === 0 || seenVersion === null) return;
    const args: string[] = [cacheKeys.version];
    for (const entry of entries) args.push(entry.key);
    args.push(seenVersion);
    for (const entry of entries) {
      if (entry.value === null) args.push(NEGATIVE_MARKER, this.#negativeTtl);
      else args.push(JSON.stringify(entry.value), this.#ttl);
    }
    await ensureConnected(this.#redis);
    const written = await this.#redis.eval(WRITE_BACK, entries.length + 1, ...args);
    if (written === -1) this.#log.debug('metadata write-back skipped: version moved during the batch', { keys: entries.length });
  }

  #decode(raw: string | null, key: string): CachedValue {
    if (raw === null) return undefined;
    if (raw === NEGATIVE_MARKER) return null;
    try {
      const value: unknown = JSON.parse(raw);
      if (value !== null && typeof value === 'object') return value as Entity;
    } catch {
      // fall through: treated as a miss, and overwritten by the write-back
    }
    this.#log.warn('unreadable metadata cache entry ignored', { key });
    return undefined;
  }
}
