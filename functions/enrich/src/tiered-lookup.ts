/**
 * Stage 2: host, network and service metadata for all distinct keys of a batch, from three tiers.
 *
 * 1. In-process cache (per instance): answers most keys without I/O.
 * 2. Redis, ONE round trip per batch: the version token and every key the in-process tier missed (MGET).
 *    When some key missed (the batch may reach PostgreSQL), the PostgreSQL breaker reads its shared reports
 *    (HMGET, through its own port) at the same moment, so both commands share that round trip (see `#fetch`);
 *    a batch the in-process tier answered whole sends the version read alone (the reports only matter to a
 *    call to PostgreSQL). When the version moved (a metadata write happened), the in-process cache moves to
 *    the new version (dropping every entry) and the keys it had answered are read again (a second round
 *    trip, only after a write, with the reports if the first did not carry them), so no batch is enriched from a
 *    value older than the last write the instance could see. Versions are random tokens
 *    (`cacheKeys.version`), compared for equality only: "moved" means "differs", never "is greater".
 * 3. PostgreSQL, ONE statement (every entity kind) for what Redis missed; results go to the in-process cache and back
 *    to Redis (fire-and-forget), both under the version observed BEFORE the query: if a write moved it
 *    meanwhile, both refuse the value, which would otherwise hide the write for a whole TTL.
 *
 * Batches run side by side and Redis answers arrive in the order they were asked, so only the answer to
 * the latest request moves the in-process version: a late answer to an older one cannot move it back. (That
 * order is of this instance's requests, counted here; versions themselves carry no order.)
 *
 * Each remote tier runs behind its own circuit breaker; a tier that fails or whose breaker is open is skipped
 * at once. Keys nothing could answer are served from an expired in-process value (flagged stale) where there
 * is one, else reported unavailable. Concurrent lookups of one key share one remote fetch (in-flight map),
 * unless the answer came from before a version this instance has since seen.
 *
 * Provenance: every answer names the tier that gave it (`Resolution.tier`) and when its value was read from
 * PostgreSQL (`fetchedAt`, this instance's wall clock, taken just before the query: an age is never
 * understated), which Redis stores with the value and the in-process entry keeps. An in-process entry is its
 * own object, tier `memory`, made once when it is stored, so every later hit hands out that same object (the
 * BlockCache of ./enriched-log.ts reuses blocks by object identity). A stale answer is the in-process entry's,
 * flagged; unavailable has no tier. With `provenance` on, the answer carries `provenanceAt` (the time ages are
 * measured to) and the batch's events are enriched-log v2.
 *
 * Trace (opt-in, `resolve(request, { trace })`): what each tier did for each key, for the dashboard's "why is
 * this log partial?" (scripts/local/dashboard/preview.ts). Without a trace nothing is recorded or allocated
 * (each site is one `trace !== undefined` test). A traced lookup fetches its own keys instead of awaiting a
 * concurrent batch's fetch of them, so that every step it reports is its own (one more remote read, for a
 * preview only).
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import type { Log } from '#shared/log-port.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { isBreakerRejection, type SharedBreaker } from './breaker.ts';
import {
  type BreakerHealth,
  type CacheWrite,
  type Entity,
  type LocalCache,
  type LookupHealth,
  type MetadataCacheTier,
  type MetadataKind,
  type MetadataLookup,
  type MetadataRequest,
  type MetadataSource,
  type MetadataVersion,
  type RemoteCacheRead,
  type Resolution,
  type ResolvedMetadata,
  type SourceResult,
  type Tier,
  type TierTally,
  UNAVAILABLE,
} from './ports.ts';

type Kind = MetadataKind;

/** A lookup the in-process cache answered: kind and raw id, no Redis key (built only if it is read again). */
interface Lookup {
  kind: Kind;
  id: string;
}
/** A lookup that goes to Redis: its Redis key, built once. */
interface Pending extends Lookup {
  key: string;
}

const redisKey: Record<Kind, (id: string) => string> = {
  hostsByIp: cacheKeys.hostByIp,
  networks: cacheKeys.networkForIp,
  hostsByName: cacheKeys.hostByName,
  services: cacheKeys.service,
};

/**
 * What one tier did for one key. `found` / `not_found`: the tier answered (Redis `not_found` is a stored
 * negative entry); `miss`: it holds nothing for the key; `outdated` (memory): its entry was read under an
 * older metadata version than Redis reported, so the key was read again; `stale` (memory): nothing else could
 * answer and an expired entry was served. A remote call that failed: `breaker_open` (the breaker refused it:
 * open, or half-open with its one probe out), `timeout` (the breaker's call budget, or a socket, timed out:
 * `ETIMEDOUT`), `error` (anything else), with the error's text.
 */
export type TraceStep =
  | { readonly tier: 'memory'; readonly outcome: 'found' | 'not_found' | 'miss' | 'stale' }
  | { readonly tier: 'memory'; readonly outcome: 'outdated' }
  | { readonly tier: 'redis'; readonly outcome: 'found' | 'not_found' | 'miss' }
  | { readonly tier: 'postgres'; readonly outcome: 'found' | 'not_found' }
  | { readonly tier: 'redis' | 'postgres'; readonly outcome: 'breaker_open' | 'timeout' | 'error'; readonly detail: string };

/**
 * The steps of one traced `resolve`, per key (kind and raw id), in the order they happened.
 *
 * @example
 * const trace = new LookupTrace();
 * await lookup.resolve({ ips: new Set(['10.0.0.1']), hostnames: new Set(), services: new Set(['api']) }, { trace });
 * trace.steps('services', 'api'); // [{ tier: 'memory', outcome: 'miss' }, { tier: 'redis', outcome: 'miss' }, { tier: 'postgres', outcome: 'found' }]
 */
export class LookupTrace {
  readonly #steps = new Map<string, TraceStep[]>();

  add(kind: Kind, id: string, step: TraceStep): void {
    const key = `${kind}\u0000${id}`;
    const steps = this.#steps.get(key);
    if (steps === undefined) this.#steps.set(key, [step]);
    else steps.push(step);
  }

  steps(kind: Kind, id: string): readonly TraceStep[] {
    return this.#steps.get(`${kind}\u0000${id}`) ?? [];
  }
}

export interface ResolveOptions {
  /** Records what each tier did per key; absent (enrich's batches), nothing is recorded. */
  trace?: LookupTrace | undefined;
}

const MEMORY_STEPS = {
  found: { tier: 'memory', outcome: 'found' },
  not_found: { tier: 'memory', outcome: 'not_found' },
  miss: { tier: 'memory', outcome: 'miss' },
  outdated: { tier: 'memory', outcome: 'outdated' },
  stale: { tier: 'memory', outcome: 'stale' },
} as const satisfies Record<string, TraceStep>;
const REDIS_STEPS = {
  found: { tier: 'redis', outcome: 'found' },
  not_found: { tier: 'redis', outcome: 'not_found' },
  miss: { tier: 'redis', outcome: 'miss' },
} as const satisfies Record<string, TraceStep>;
const POSTGRES_STEPS = {
  found: { tier: 'postgres', outcome: 'found' },
  not_found: { tier: 'postgres', outcome: 'not_found' },
} as const satisfies Record<string, TraceStep>;

/** The step of a remote call that failed: refused by its breaker, timed out, or failed otherwise. */
function failedStep(tier: 'redis' | 'postgres', error: unknown): TraceStep {
  const detail = describe(error);
  if (isBreakerRejection(error)) return { tier, outcome: 'breaker_open', detail };
  return { tier, outcome: (error as { code?: unknown } | null)?.code === 'ETIMEDOUT' ? 'timeout' : 'error', detail };
}

function traceFailure(trace: LookupTrace, tier: 'redis' | 'postgres', keys: readonly Pending[], error: unknown): void {
  const step = failedStep(tier, error);
  for (const pending of keys) trace.add(pending.kind, pending.id, step);
}

function pendingOf(lookup: Lookup): Pending {
  return { kind: lookup.kind, id: lookup.id, key: redisKey[lookup.kind](lookup.id) };
}

/** What one fetch answered, per key, with the version each answer was read under. */
type Fetched = Map<string, { resolution: Resolution<Entity>; version: MetadataVersion }>;

export interface TieredLookupDeps {
  memory: LocalCache;
  remote: MetadataCacheTier;
  source: MetadataSource;
  redisBreaker: SharedBreaker;
  postgresBreaker: SharedBreaker;
  log: Log;
  /** Answers carry `provenanceAt`, so that events say where each field group came from (`ENRICH_PROVENANCE`); on by default. */
  provenance?: boolean;
  /** Wall clock in ms (PostgreSQL read times, ages); injectable for tests. */
  clock?: () => number;
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

function answered(entity: Entity | null | undefined, tier: Tier, fetchedAt: number | null): Resolution<Entity> {
  return entity === undefined || entity === null ? { state: 'not_found', stale: false, tier, fetchedAt } : { state: 'found', value: entity, stale: false, tier, fetchedAt };
}

/** The in-process entry of an answer: the same value and PostgreSQL read time, answered by `memory` from now on. */
function inMemory(resolution: Resolution<Entity>): Resolution<Entity> {
  return resolution.state === 'unavailable' ? resolution : { ...resolution, tier: 'memory' };
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
  readonly #log: Log;
  readonly #provenance: boolean;
  readonly #clock: () => number;
  readonly #inflight = new Map<string, Promise<Fetched>>();
  readonly #totals = emptyTally();
  /** Redis reads asked so far, and the latest one whose answer was applied to the in-process version. */
  #readsAsked = 0;
  #readsApplied = 0;

  constructor(deps: TieredLookupDeps) {
    this.#memory = deps.memory;
    this.#remote = deps.remote;
    this.#source = deps.source;
    this.#redisBreaker = deps.redisBreaker;
    this.#postgresBreaker = deps.postgresBreaker;
    this.#log = deps.log;
    this.#provenance = deps.provenance ?? true;
    this.#clock = deps.clock ?? Date.now;
  }

  /**
   * @param options.trace records what each tier did per key (the dashboard's preview); enrich passes none.
   */
  async resolve(request: MetadataRequest, options?: ResolveOptions): Promise<ResolvedMetadata> {
    const trace = options?.trace;
    const tally = emptyTally();
    const hostsByIp = new Map<string, Resolution<Host>>();
    const hostsByName = new Map<string, Resolution<Host>>();
    const services = new Map<string, Resolution<Service>>();
    const networks = new Map<string, Resolution<Network>>();
    const result: ResolvedMetadata = { hostsByIp, hostsByName, services, networks, tally };
    const maps: Record<Kind, Map<string, Resolution<Entity>>> = result as unknown as Record<Kind, Map<string, Resolution<Entity>>>;

    // The in-process answers below hold for this version; the batch's Redis read tells whether it moved.
    const memoryVersion = this.#memory.version;
    // Keyed by raw id: a Redis key string is built only for what the in-process cache missed.
    const misses: Pending[] = [];
    const memoryHits: Lookup[] = [];
    const visit = (kind: Kind, id: string): void => {
      const cached = this.#memory.get(kind, id);
      if (cached === undefined) {
        misses.push({ kind, id, key: redisKey[kind](id) });
        if (trace !== undefined) trace.add(kind, id, MEMORY_STEPS.miss);
      } else {
        maps[kind].set(id, cached);
        memoryHits.push({ kind, id });
        if (trace !== undefined) trace.add(kind, id, cached.state === 'found' ? MEMORY_STEPS.found : MEMORY_STEPS.not_found);
      }
    };
    for (const ip of request.ips) {
      visit('hostsByIp', ip);
      visit('networks', ip);
    }
    for (const name of request.hostnames) visit('hostsByName', name);
    for (const name of request.services) visit('services', name);
    tally.memory.hits = memoryHits.length;
    tally.memory.misses = misses.length;

    // Keys another concurrent batch is already fetching are awaited, not fetched twice (a traced lookup
    // fetches its own: the steps it reports must be its own).
    const own: Pending[] = [];
    const borrowed: { pending: Pending; fetch: Promise<Fetched> }[] = [];
    for (const pending of misses) {
      const fetch = trace === undefined ? this.#inflight.get(pending.key) : undefined;
      if (fetch === undefined) own.push(pending);
      else borrowed.push({ pending, fetch });
    }
    const fetch = this.#fetch(own, memoryHits, memoryVersion, tally, maps, trace);
    for (const pending of own) this.#inflight.set(pending.key, fetch);
    try {
      await fetch;
    } finally {
      for (const pending of own) if (this.#inflight.get(pending.key) === fetch) this.#inflight.delete(pending.key);
    }
    // A borrowed answer read under another version than the one now known predates a write: fetch it again.
    const again: Pending[] = [];
    for (const { pending, fetch: other } of borrowed) {
      const answer = (await other.catch(() => undefined))?.get(pending.key);
      if (answer !== undefined && answer.version !== this.#memory.version) again.push(pending);
      else maps[pending.kind].set(pending.id, answer?.resolution ?? this.#fallback(pending, tally));
    }
    if (again.length > 0) await this.#fetch(again, [], this.#memory.version, tally, maps, undefined);
    addTally(this.#totals, tally);
    if (this.#provenance) result.provenanceAt = this.#clock();
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
   * and into the returned map (for concurrent batches waiting on the same keys). `memoryHits` were answered
   * by the in-process cache under `memoryVersion`; if Redis says the version moved, they are read again.
   * `trace`, when given, records each tier's step per key.
   */
  async #fetch(
    own: Pending[],
    memoryHits: Lookup[],
    memoryVersion: MetadataVersion,
    tally: TierTally,
    maps: Record<Kind, Map<string, Resolution<Entity>>>,
    trace: LookupTrace | undefined,
  ): Promise<Fetched> {
    const out: Fetched = new Map();
    const answer = (pending: Pending, resolution: Resolution<Entity>, version: MetadataVersion): void => {
      out.set(pending.key, { resolution, version });
      maps[pending.kind].set(pending.id, resolution);
    };
    const fromRedis = (keys: readonly Pending[], read: RemoteCacheRead, misses: Pending[]): void => {
      const { values, version } = read;
      for (let i = 0; i < keys.length; i++) {
        const pending = keys[i] as Pending;
        const value = values[i];
        if (value === undefined) {
          misses.push(pending);
          tally.redis.misses++;
          if (trace !== undefined) trace.add(pending.kind, pending.id, REDIS_STEPS.miss);
          continue;
        }
        tally.redis.hits++;
        if (trace !== undefined) trace.add(pending.kind, pending.id, value === null ? REDIS_STEPS.not_found : REDIS_STEPS.found);
        const resolution = answered(value, 'redis', read.fetchedAt?.[i] ?? null);
        this.#memory.set(pending.kind, pending.id, inMemory(resolution), version);
        answer(pending, resolution, version);
      }
    };
    let missing = own;
    let redisUsable = false;
    /** The keys of the Redis read under way (what a failure is traced against). */
    let reading: readonly Pending[] = own;
    try {
      const asked = ++this.#readsAsked;
      // Started together on the one Redis client, so ioredis writes the MGET and the breaker's HMGET before
      // either answer arrives: one round trip for both. A refresh never rejects; Redis down fails the read.
      // Only a batch with keys the in-process cache missed can reach PostgreSQL (the only user of the
      // reports), so a batch answered in process asks Redis for the version alone.
      const refreshed = own.length > 0;
      const [first] = await this.#redisBreaker.fire(() => Promise.all([this.#remote.read(own.map(keyOf)), refreshed ? this.#postgresBreaker.refresh() : undefined]));
      this.#applyVersion(asked, first.version);
      const misses: Pending[] = [];
      fromRedis(own, first, misses);
      missing = misses;
      redisUsable = true;
      if (first.version !== memoryVersion && memoryHits.length > 0) {
        this.#log.debug('metadata version moved; reading the in-process answers again', { from: memoryVersion, to: first.version });
        const rereads = memoryHits.map(pendingOf);
        if (trace !== undefined) for (const lookup of rereads) trace.add(lookup.kind, lookup.id, MEMORY_STEPS.outdated);
        reading = rereads;
        // Should this second read fail, PostgreSQL answers them instead of the in-process cache.
        missing = misses.concat(rereads);
        const askedAgain = ++this.#readsAsked;
        // These keys may reach PostgreSQL now: the reports come with this read if the first did not carry them.
        const [again] = await this.#redisBreaker.fire(() =>
          Promise.all([this.#remote.read(rereads.map(keyOf)), refreshed ? undefined : this.#postgresBreaker.refresh()]),
        );
        this.#applyVersion(askedAgain, again.version);
        fromRedis(rereads, again, misses);
        missing = misses;
      }
    } catch (error) {
      if (!isBreakerRejection(error)) this.#log.warn('Redis metadata lookup failed', { error: describe(error), keys: missing.length });
      if (trace !== undefined) traceFailure(trace, 'redis', reading, error);
    }

    if (missing.length > 0) {
      const writeBack: CacheWrite[] = [];
      // The version before the query: if a write moves it while the query runs, its answer is not cached.
      const version = this.#memory.version;
      try {
        const request = toSourceRequest(missing);
        // Before the query: its snapshot is no older than this, so the ages shown are never too young.
        const fetchedAt = this.#clock();
        const rows = await this.#postgresBreaker.fire(() => this.#source.fetch(request));
        for (const pending of missing) {
          const entity = entityFrom(rows, pending.kind, pending.id);
          const resolution = answered(entity, 'postgres', fetchedAt);
          if (entity === undefined) tally.postgres.misses++;
          else tally.postgres.hits++;
          if (trace !== undefined) trace.add(pending.kind, pending.id, entity === undefined ? POSTGRES_STEPS.not_found : POSTGRES_STEPS.found);
          this.#memory.set(pending.kind, pending.id, inMemory(resolution), version);
          answer(pending, resolution, version);
          writeBack.push({ key: pending.key, value: entity ?? null, fetchedAt });
        }
        missing = [];
      } catch (error) {
        if (!isBreakerRejection(error)) this.#log.warn('PostgreSQL metadata lookup failed', { error: describe(error), keys: missing.length });
        if (trace !== undefined) traceFailure(trace, 'postgres', missing, error);
      }
      // Only under a version Redis gave: undefined (Redis never read) or null (a tier without one) is no version.
      if (writeBack.length > 0 && redisUsable && version !== undefined && version !== null) {
        this.#remote.write(writeBack, version).catch((error: unknown) => {
          this.#log.warn('could not write metadata back to Redis', { error: describe(error), keys: writeBack.length });
        });
      }
    }

    for (const pending of missing) answer(pending, this.#fallback(pending, tally, trace), this.#memory.version);
    return out;
  }

  /** Moves the in-process version to what the Redis read `asked` answered, unless a later read already did. */
  #applyVersion(asked: number, version: string | null): void {
    if (asked < this.#readsApplied) return;
    this.#readsApplied = asked;
    if (version !== this.#memory.version) {
      this.#log.debug('metadata version moved; dropping the in-process cache', { from: this.#memory.version, to: version });
      this.#memory.useVersion(version);
    }
  }

  /** Nothing could answer: the last in-process value (stale) if any, else unavailable. */
  #fallback(lookup: Lookup, tally: TierTally, trace?: LookupTrace): Resolution<Entity> {
    const stale = this.#memory.getStale(lookup.kind, lookup.id);
    if (stale === undefined || stale.state === 'unavailable') {
      tally.unavailable++;
      return UNAVAILABLE;
    }
    tally.stale++;
    if (trace !== undefined) trace.add(lookup.kind, lookup.id, MEMORY_STEPS.stale);
    // The in-process entry (tier memory, its PostgreSQL read time), flagged.
    return { ...stale, stale: true };
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
