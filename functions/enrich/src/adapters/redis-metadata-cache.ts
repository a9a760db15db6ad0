/**
 * The Redis tier, and the shared store of the circuit breaker states. Key layout: `#shared/metadata/cache-keys.ts`
 * (the metadata writer deletes those keys and bumps `version` on every write, so they must match exactly).
 *
 * Values: the entity as JSON (camelCase model), or NEGATIVE_MARKER for "looked up, does not exist", so a
 * log from an unknown host does not reach PostgreSQL on every batch. Negative entries get a shorter TTL.
 */
import type { Redis } from 'ioredis';
import { ensureConnected } from '#shared/clients/redis.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { logger } from '#shared/observability.ts';
import type { BreakerStateStore, CachedValue, Entity, MetadataCacheTier, RemoteCacheRead, StoredBreakerState } from '../ports.ts';

/** Stored for a key whose entity does not exist. Entities are JSON objects, so this can never collide. */
export const NEGATIVE_MARKER = '!none';

/**
 * Writes entries only if the version still equals the one the batch read: a metadata write between our read
 * and this write-back would otherwise be hidden for a whole TTL behind the older value we fetched.
 * KEYS[1] = version key, KEYS[2..] = entry keys; ARGV[1] = seen version ('' = none), then (value, ttl) pairs.
 */
const WRITE_BACK = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return -1 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i * 2 - 2], 'EX', ARGV[i * 2 - 1])
end
return #KEYS - 1
`;

export interface RedisMetadataCacheOptions {
  ttlSeconds: number;
  negativeTtlSeconds: number;
  breakerKeyPrefix: string;
  /** Breakers whose shared state is read with every batch. */
  breakerNames: readonly string[];
  /** Shared breaker states expire so a forgotten one cannot hold a breaker open forever. */
  breakerStateTtlSeconds?: number;
}

export class RedisMetadataCache implements MetadataCacheTier, BreakerStateStore {
  readonly #redis: Redis;
  readonly #options: RedisMetadataCacheOptions;
  readonly #breakerKeys: string[];
  readonly #ttl: string;
  readonly #negativeTtl: string;

  constructor(redis: Redis, options: RedisMetadataCacheOptions) {
    this.#redis = redis;
    this.#options = options;
    this.#breakerKeys = options.breakerNames.map((name) => options.breakerKeyPrefix + name);
    this.#ttl = String(options.ttlSeconds);
    this.#negativeTtl = String(options.negativeTtlSeconds);
  }

  /** One MGET: version, breaker states, then the keys. */
  async read(keys: readonly string[]): Promise<RemoteCacheRead> {
    await ensureConnected(this.#redis);
    const breakerKeys = this.#breakerKeys;
    const answer = await this.#redis.mget(cacheKeys.version, ...breakerKeys, ...keys);
    const head = 1 + breakerKeys.length;
    const values: CachedValue[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = decodeValue(answer[head + i] ?? null, keys[i] as string);
    const breakers: StoredBreakerState[] = [];
    for (let i = 1; i < head; i++) {
      const state = decodeBreaker(answer[i] ?? null);
      if (state !== undefined) breakers.push(state);
    }
    return { version: answer[0] ?? null, values, breakers };
  }

  async write(entries: readonly { key: string; value: Entity | null }[], seenVersion: string | null): Promise<void> {
    if (entries.length === 0) return;
    const args: string[] = [cacheKeys.version];
    for (const entry of entries) args.push(entry.key);
    args.push(seenVersion ?? '');
    for (const entry of entries) {
      if (entry.value === null) args.push(NEGATIVE_MARKER, this.#negativeTtl);
      else args.push(JSON.stringify(entry.value), this.#ttl);
    }
    await ensureConnected(this.#redis);
    const written = await this.#redis.eval(WRITE_BACK, entries.length + 1, ...args);
    if (written === -1) logger.debug('metadata write-back skipped: version moved during the batch', { keys: entries.length });
  }

  async save(state: StoredBreakerState): Promise<void> {
    await ensureConnected(this.#redis);
    const ttl = this.#options.breakerStateTtlSeconds ?? 3600;
    await this.#redis.set(this.#options.breakerKeyPrefix + state.name, JSON.stringify(state), 'EX', ttl);
  }
}

function decodeValue(raw: string | null, key: string): CachedValue {
  if (raw === null) return undefined;
  if (raw === NEGATIVE_MARKER) return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (value !== null && typeof value === 'object') return value as Entity;
  } catch {
    // fall through: treated as a miss, and overwritten by the write-back
  }
  logger.warn('unreadable metadata cache entry ignored', { key });
  return undefined;
}

function decodeBreaker(raw: string | null): StoredBreakerState | undefined {
  if (raw === null) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<StoredBreakerState>;
    if (typeof value.name === 'string' && typeof value.state === 'string' && typeof value.updatedAt === 'number') {
      return value as StoredBreakerState;
    }
  } catch {
    // fall through
  }
  return undefined;
}
