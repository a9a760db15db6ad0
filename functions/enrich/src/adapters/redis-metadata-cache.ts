/**
 * The Redis tier: cached values only (breaker reports are another port: ./redis-breaker-reports.ts). Key
 * layout: `#shared/metadata/cache-keys.ts` (the metadata writer deletes those keys and replaces the `version`
 * token on every write, so they must match exactly). Versions are opaque tokens, compared for equality only
 * (here, in the script below and in process).
 *
 * Values: the entity as JSON (camelCase model), or NEGATIVE_MARKER for "looked up, does not exist", so a
 * log from an unknown host does not reach PostgreSQL on every batch. Negative entries get a shorter TTL.
 *
 * Each value also says when it was read from PostgreSQL (wall-clock ms), for the provenance of enriched
 * events: the entity's JSON carries one more member, FETCHED_AT (a name no model field can have), and a
 * negative entry is `!none@<ms>`. The key layout (`meta:v1`) is not bumped, since the metadata writer deletes
 * exactly these keys and both functions would have to move together; the values stay readable both ways
 * during a rolling deploy instead:
 * - an entry an older version wrote (no time) is read as it was, with its time unknown (`null`), never guessed;
 * - an older version reads a new entity as before (it reads the model's fields and ignores the extra member);
 *   it cannot read a new negative entry (it knows only `!none`): it logs it as unreadable, takes it as a miss,
 *   asks PostgreSQL and writes `!none` back, which this version then reads with its time unknown. That costs
 *   PostgreSQL queries for unknown keys while both versions run, never a wrong answer.
 */
import type { Redis } from 'ioredis';
import { ensureConnected } from '#shared/clients/redis.ts';
import type { Log } from '#shared/log-port.ts';
import { cacheKeys, newVersionToken } from '#shared/metadata/cache-keys.ts';
import type { CacheWrite, CachedValue, Entity, MetadataCacheTier, RemoteCacheRead } from '../ports.ts';

/** Stored for a key whose entity does not exist. Entities are JSON objects, so this can never collide. */
export const NEGATIVE_MARKER = '!none';
/** The member of an entity's JSON that holds when it was read from PostgreSQL: not an identifier, so never a model field. */
export const FETCHED_AT = '@fetched_at';
const TIMED_NEGATIVE = /^!none@(\d{1,15})$/;

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
 * const { version, values, fetchedAt } = await cache.read([cacheKeys.service('checkout')]); // fetchedAt[0]: null for an old entry
 * await cache.write([{ key: cacheKeys.service('checkout'), value: service, fetchedAt: Date.now() }], version); // refused if version moved
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
    const fetchedAt: (number | null)[] = new Array(keys.length).fill(null);
    const version = answer[0] ?? null;
    if (version === null) {
      const token = newVersionToken();
      const existing = await this.#redis.set(cacheKeys.version, token, 'NX', 'GET');
      this.#log.info('metadata version was missing in Redis (restarted or flushed); a new one is in place', { created: existing === null });
      return { version: existing ?? token, values: values.fill(undefined), fetchedAt };
    }
    for (let i = 0; i < keys.length; i++) {
      const decoded = this.#decode(answer[1 + i] ?? null, keys[i] as string);
      if (decoded === undefined) {
        values[i] = undefined;
      } else {
        values[i] = decoded.value;
        fetchedAt[i] = decoded.fetchedAt;
      }
    }
    return { version, values, fetchedAt };
  }

  /** Refused (by the script) unless the version is still `seenVersion`; never written under no version. */
  async write(entries: readonly CacheWrite[], seenVersion: string | null): Promise<void> {
    if (entries.length === 0 || seenVersion === null) return;
    const args: string[] = [cacheKeys.version];
    for (const entry of entries) args.push(entry.key);
    args.push(seenVersion);
    for (const entry of entries) {
      const at = entry.fetchedAt;
      if (entry.value === null) args.push(at === undefined ? NEGATIVE_MARKER : `${NEGATIVE_MARKER}@${at}`, this.#negativeTtl);
      else args.push(JSON.stringify(at === undefined ? entry.value : { ...entry.value, [FETCHED_AT]: at }), this.#ttl);
    }
    await ensureConnected(this.#redis);
    const written = await this.#redis.eval(WRITE_BACK, entries.length + 1, ...args);
    if (written === -1) this.#log.debug('metadata write-back skipped: version moved during the batch', { keys: entries.length });
  }

  /** An entry's value and its PostgreSQL read time (`null`: stored without one); `undefined` for a miss. */
  #decode(raw: string | null, key: string): { value: Entity | null; fetchedAt: number | null } | undefined {
    if (raw === null) return undefined;
    if (raw === NEGATIVE_MARKER) return { value: null, fetchedAt: null };
    if (raw.startsWith('!')) {
      const timed = TIMED_NEGATIVE.exec(raw);
      if (timed !== null) return { value: null, fetchedAt: Number(timed[1]) };
    } else {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (parsed !== null && typeof parsed === 'object') {
          if (!Object.hasOwn(parsed, FETCHED_AT)) return { value: parsed as Entity, fetchedAt: null };
          const { [FETCHED_AT]: at, ...entity } = parsed as Record<string, unknown>;
          return { value: entity as unknown as Entity, fetchedAt: typeof at === 'number' && Number.isSafeInteger(at) && at >= 0 ? at : null };
        }
      } catch {
        // fall through: treated as a miss, and overwritten by the write-back
      }
    }
    this.#log.warn('unreadable metadata cache entry ignored', { key });
    return undefined;
  }
}
