/**
 * Stage 2: host, network and service metadata for all distinct keys of a batch, from three tiers.
 *
 * 1. In-process cache (per instance): answers most keys without I/O.
 * 2. Redis, ONE round trip per batch: the version counter, the shared breaker states and every key the
 *    in-process tier missed. When the version moved (a metadata write happened), the in-process cache is
 *    dropped and the keys it had answered are read again (a second round trip, only after a write), so no
 *    batch is enriched from a value older than the last write the instance could see.
 * 3. PostgreSQL, ONE query per entity kind for what Redis missed; results go to the in-process cache and back
 *    to Redis (fire-and-forget, only if the version has not moved since the read: a write that raced our
 *    query would otherwise be hidden behind our older value for the whole TTL).
 *
 * Each remote tier runs behind its own circuit breaker; a tier that fails or whose breaker is open is skipped
 * at once. Keys nothing could answer are served from an expired in-process value (flagged stale) where there
 * is one, else reported unavailable. Concurrent lookups of one key share one remote fetch (in-flight map).
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { logger } from '#shared/observability.ts';
import { isBreakerRejection, type SharedBreaker } from './breaker.ts';
import {
  type BreakerHealth,
  type CachedValue,
  type Entity,
  type LocalCache,
  type LookupHealth,
  type MetadataCacheTier,
  type MetadataLookup,
  type MetadataRequest,
  type MetadataSource,
  NOT_FOUND,
  NOT_FOUND_STALE,
  type Resolution,
  type ResolvedMetadata,
  type SourceResult,
  type TierTally,
  UNAVAILABLE,
} from './ports.ts';

type Kind = 'hostsByIp' | 'hostsByName' | 'services' | 'networks';

interface Pending {
  kind: Kind;
  id: string;
  key: string;
}

type Fetched = Map<string, Resolution<Entity>>;

export interface TieredLookupDeps {
  memory: LocalCache;
  remote: MetadataCacheTier;
  source: MetadataSource;
  redisBreaker: SharedBreaker;
  postgresBreaker: SharedBreaker;
}

export function emptyTally(): TierTally {
  return { memory: { hits: 0, misses: 0 }, redis: { hits: 0, misses: 0 }, postgres: { hits: 0, misses: 0 }, stale: 0, unavailable: 0 };
}

function addTally(total: TierTally, batch: TierTally): void {
  total.memory.hits += batch.memory.hits;
  total.memory.misses += batch.memory.misses;
  total.redis.hits += batch.redis.hits;
  total.redis.misses += batch.redis.misses;
  total.postgres.hits += batch.postgres.hits;
  total.postgres.misses += batch.postgres.misses;
  total.stale += batch.stale;
  total.unavailable += batch.unavailable;
}

function found(value: Entity): Resolution<Entity> {
  return { state: 'found', value, stale: false };
}

function entityFrom(result: SourceResult, kind: Kind, id: string): Entity | undefined {
  return result[kind].get(id);
}

export class TieredMetadataLookup implements MetadataLookup {
  readonly #memory: LocalCache;
  readonly #remote: MetadataCacheTier;
  readonly #source: MetadataSource;
  readonly #redisBreaker: SharedBreaker;
  readonly #postgresBreaker: SharedBreaker;
  readonly #inflight = new Map<string, Promise<Fetched>>();
  readonly #totals = emptyTally();
  /** Last metadata version seen in Redis; undefined until the first successful read. */
  #version: string | null | undefined;

  constructor(deps: TieredLookupDeps) {
    this.#memory = deps.memory;
    this.#remote = deps.remote;
    this.#source = deps.source;
    this.#redisBreaker = deps.redisBreaker;
    this.#postgresBreaker = deps.postgresBreaker;
  }

  async resolve(request: MetadataRequest): Promise<ResolvedMetadata> {
    const tally = emptyTally();
    const hostsByIp = new Map<string, Resolution<Host>>();
    const hostsByName = new Map<string, Resolution<Host>>();
    const services = new Map<string, Resolution<Service>>();
    const networks = new Map<string, Resolution<Network>>();
    const result = { hostsByIp, hostsByName, services, networks, tally };
    const maps: Record<Kind, Map<string, Resolution<Entity>>> = result as unknown as Record<Kind, Map<string, Resolution<Entity>>>;

    const misses: Pending[] = [];
    const memoryHits: Pending[] = [];
    const visit = (kind: Kind, id: string, key: string): void => {
      const cached = this.#memory.get(key);
      if (cached === undefined) {
        misses.push({ kind, id, key });
      } else {
        maps[kind].set(id, cached);
        memoryHits.push({ kind, id, key });
      }
    };
    for (const ip of request.ips) {
      visit('hostsByIp', ip, cacheKeys.hostByIp(ip));
      visit('networks', ip, cacheKeys.networkForIp(ip));
    }
    for (const name of request.hostnames) visit('hostsByName', name, cacheKeys.hostByName(name));
    for (const name of request.services) visit('services', name, cacheKeys.service(name));
    tally.memory.hits = memoryHits.length;
    tally.memory.misses = misses.length;

    // Keys another concurrent batch is already fetching are awaited, not fetched twice.
    const own: Pending[] = [];
    const borrowed: { pending: Pending; fetch: Promise<Fetched> }[] = [];
    for (const pending of misses) {
      const fetch = this.#inflight.get(pending.key);
      if (fetch === undefined) own.push(pending);
      else borrowed.push({ pending, fetch });
    }
    const fetch = this.#fetch(own, memoryHits, tally, maps);
    for (const pending of own) this.#inflight.set(pending.key, fetch);
    try {
      await fetch;
    } finally {
      for (const pending of own) if (this.#inflight.get(pending.key) === fetch) this.#inflight.delete(pending.key);
    }
    for (const { pending, fetch: other } of borrowed) {
      const answer = (await other.catch(() => undefined))?.get(pending.key) ?? this.#fallback(pending.key, tally);
      maps[pending.kind].set(pending.id, answer);
    }
    addTally(this.#totals, tally);
    return result;
  }

  breakers(): BreakerHealth[] {
    return [this.#redisBreaker.health(), this.#postgresBreaker.health()];
  }

  health(): LookupHealth {
    const memory = this.#memory;
    return {
      breakers: this.breakers(),
      memory: { entries: memory.entries, bytes: memory.bytes, maxEntries: memory.maxEntries, maxBytes: memory.maxBytes },
      totals: structuredClone(this.#totals),
    };
  }

  /**
   * Redis, then PostgreSQL, then stale in-process values; never rejects. Answers go into `maps` (this batch)
   * and into the returned map (for concurrent batches waiting on the same keys). After a version move the
   * re-read memory hits replace what the in-process cache had said.
   */
  async #fetch(own: Pending[], memoryHits: Pending[], tally: TierTally, maps: Record<Kind, Map<string, Resolution<Entity>>>): Promise<Fetched> {
    const out: Fetched = new Map();
    const answer = (pending: Pending, resolution: Resolution<Entity>): void => {
      out.set(pending.key, resolution);
      maps[pending.kind].set(pending.id, resolution);
    };
    let missing = own;
    let version: string | null | undefined = this.#version;
    let redisUsable = true;
    try {
      const first = await this.#redisBreaker.fire(() => this.#remote.read(own.map(keyOf)));
      for (const state of first.breakers) {
        if (state.name === this.#redisBreaker.name) this.#redisBreaker.adopt(state);
        else if (state.name === this.#postgresBreaker.name) this.#postgresBreaker.adopt(state);
      }
      let keys = own;
      let values = first.values;
      version = first.version;
      if (this.#version !== undefined && first.version !== this.#version) {
        logger.debug('metadata version moved; dropping the in-process cache', { from: this.#version, to: first.version });
        this.#memory.clear();
        if (memoryHits.length > 0) {
          missing = own.concat(memoryHits);
          const again = await this.#redisBreaker.fire(() => this.#remote.read(memoryHits.map(keyOf)));
          keys = missing;
          values = values.concat(again.values);
          version = again.version;
        }
      }
      this.#version = version;
      missing = [];
      for (let i = 0; i < keys.length; i++) {
        const pending = keys[i] as Pending;
        const value: CachedValue = values[i];
        if (value === undefined) {
          missing.push(pending);
          tally.redis.misses++;
          continue;
        }
        tally.redis.hits++;
        const resolution = value === null ? NOT_FOUND : found(value);
        this.#memory.set(pending.key, resolution);
        answer(pending, resolution);
      }
    } catch (error) {
      redisUsable = false;
      if (!isBreakerRejection(error)) logger.warn('Redis metadata lookup failed', { error: describe(error), keys: missing.length });
    }

    if (missing.length > 0) {
      const writeBack: { key: string; value: Entity | null }[] = [];
      try {
        const request = toSourceRequest(missing);
        const rows = await this.#postgresBreaker.fire(() => this.#source.fetch(request));
        for (const pending of missing) {
          const entity = entityFrom(rows, pending.kind, pending.id);
          const resolution = entity === undefined ? NOT_FOUND : found(entity);
          if (entity === undefined) tally.postgres.misses++;
          else tally.postgres.hits++;
          this.#memory.set(pending.key, resolution);
          answer(pending, resolution);
          writeBack.push({ key: pending.key, value: entity ?? null });
        }
        missing = [];
      } catch (error) {
        if (!isBreakerRejection(error)) logger.warn('PostgreSQL metadata lookup failed', { error: describe(error), keys: missing.length });
      }
      if (writeBack.length > 0 && redisUsable && version !== undefined) {
        this.#remote.write(writeBack, version).catch((error: unknown) => {
          logger.warn('could not write metadata back to Redis', { error: describe(error), keys: writeBack.length });
        });
      }
    }

    for (const pending of missing) answer(pending, this.#fallback(pending.key, tally));
    return out;
  }

  /** Nothing could answer: the last in-process value (stale) if any, else unavailable. */
  #fallback(key: string, tally: TierTally): Resolution<Entity> {
    const stale = this.#memory.getStale(key);
    if (stale === undefined || stale.state === 'unavailable') {
      tally.unavailable++;
      return UNAVAILABLE;
    }
    tally.stale++;
    return stale.state === 'found' ? { state: 'found', value: stale.value, stale: true } : NOT_FOUND_STALE;
  }
}

function keyOf(pending: Pending): string {
  return pending.key;
}

function toSourceRequest(missing: readonly Pending[]): { hostIps: string[]; hostnames: string[]; services: string[]; networkIps: string[] } {
  const request = { hostIps: [] as string[], hostnames: [] as string[], services: [] as string[], networkIps: [] as string[] };
  for (const pending of missing) {
    if (pending.kind === 'hostsByIp') request.hostIps.push(pending.id);
    else if (pending.kind === 'hostsByName') request.hostnames.push(pending.id);
    else if (pending.kind === 'services') request.services.push(pending.id);
    else request.networkIps.push(pending.id);
  }
  return request;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
