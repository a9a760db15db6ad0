/**
 * The ports the enrich use case depends on. Their adapters (Redis, PostgreSQL, lru-cache, metrics sinks) live
 * in ./adapters; the publisher (`#shared/kafka/publisher.ts`) and the log (`#shared/log-port.ts`) are shared
 * with the other functions. ../dependencies.ts wires them; the use cases never import a driver.
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';

export type Entity = Host | Service | Network;

/** The lookup tiers, in the order a key is asked. */
export type Tier = 'memory' | 'redis' | 'postgres';

/**
 * What one tier answered for one key. `stale`: an expired in-process value served because its sources are down.
 *
 * Provenance: `tier` is the tier that gave this answer, `fetchedAt` when the value (or the "does not exist") was
 * read from PostgreSQL, the source of truth, in wall-clock ms, kept through Redis and the in-process cache; `null`
 * when a tier holds the value without that time (a Redis entry an older version wrote). Both are set by the
 * lookup; a resolution built by hand (tests, `NOT_FOUND`) has neither, and its provenance says "unknown".
 * They never change for an object: the in-process cache hands out one object per entry (tier `memory`), so
 * the BlockCache can keep reusing what it built from it. How OLD the value is differs per batch, and is
 * computed from `fetchedAt` when an event is written (./enriched-log.ts).
 */
export type Resolution<T> =
  | { readonly state: 'found'; readonly value: T; readonly stale: boolean; readonly tier?: Tier; readonly fetchedAt?: number | null }
  | { readonly state: 'not_found'; readonly stale: boolean; readonly tier?: Tier; readonly fetchedAt?: number | null }
  | { readonly state: 'unavailable' };

export const NOT_FOUND: Resolution<never> = Object.freeze({ state: 'not_found', stale: false });
export const NOT_FOUND_STALE: Resolution<never> = Object.freeze({ state: 'not_found', stale: true });
export const UNAVAILABLE: Resolution<never> = Object.freeze({ state: 'unavailable' });

/** Distinct lookup keys of one batch. */
export interface MetadataRequest {
  /** Source IPs: host by exact IP and most specific network, each. */
  ips: ReadonlySet<string>;
  hostnames: ReadonlySet<string>;
  services: ReadonlySet<string>;
}

export interface ResolvedMetadata {
  hostsByIp: ReadonlyMap<string, Resolution<Host>>;
  hostsByName: ReadonlyMap<string, Resolution<Host>>;
  services: ReadonlyMap<string, Resolution<Service>>;
  networks: ReadonlyMap<string, Resolution<Network>>;
  /** Per-tier hit and miss counts of this batch (distinct keys). */
  tally: TierTally;
  /**
   * Set when the lookup reports provenance (`ENRICH_PROVENANCE`, on by default): the wall-clock time (ms) of
   * this answer, which the age of every value is measured to. The events of the batch are then
   * enriched-log v2 (`enrichment.provenance`); without it, v1 exactly as before.
   */
  provenanceAt?: number;
}

export interface TierCounts {
  hits: number;
  misses: number;
}
export interface TierTally {
  memory: TierCounts;
  redis: TierCounts;
  postgres: TierCounts;
  stale: number;
  unavailable: number;
}

export type BreakerStateName = 'closed' | 'open' | 'halfOpen';

export interface BreakerHealth {
  name: string;
  state: BreakerStateName;
  /** When this instance's breaker opened (its own clock; for display only, never compared across instances). */
  openedAt: number | null;
  /** Another instance reported this source failing and this instance has not probed it yet (see SharedBreaker). */
  probePending: boolean;
  /** Computed when read (SharedBreaker sums its rolling window then): current at that moment. */
  readonly counts: BreakerCounts;
}
export interface BreakerCounts {
  fires: number;
  failures: number;
  successes: number;
  rejects: number;
  timeouts: number;
}

export interface LookupHealth {
  breakers: BreakerHealth[];
  memory: { entries: number; bytes: number; maxEntries: number; maxBytes: number };
  totals: TierTally;
}

/** Host, network and service metadata for the distinct keys of one batch. Never rejects: a tier that fails is skipped. */
export interface MetadataLookup {
  resolve(request: MetadataRequest): Promise<ResolvedMetadata>;
  health(): LookupHealth;
  breakers(): BreakerHealth[];
}

/**
 * The metadata version (`cacheKeys.version`) a value was read under: an opaque token from Redis (compared for
 * equality only, never order), `null` from a tier that has none (the Redis adapter always answers one),
 * `undefined` while this instance has not read Redis yet.
 */
export type MetadataVersion = string | null | undefined;

/** The lookup kinds of a batch, named as in `ResolvedMetadata`: `id` is an IP (hosts by IP, networks), a hostname or a service name. */
export type MetadataKind = 'hostsByIp' | 'hostsByName' | 'services' | 'networks';

/**
 * The in-process tier, keyed by kind and raw id (not by the Redis key: building that string on every lookup
 * cost more than the lookup itself). Every entry carries the metadata version observed BEFORE the read that
 * produced it; only entries of the current version are served. Expired entries stay readable through
 * `getStale` (served, flagged stale, while sources are down).
 */
export interface LocalCache {
  /** The metadata version of the latest Redis answer (a new token too when Redis lost its version). */
  readonly version: MetadataVersion;
  /** Moves to `version`; when it differs from the current one, every entry is dropped (all were read under another). */
  useVersion(version: MetadataVersion): void;
  get(kind: MetadataKind, id: string): Resolution<Entity> | undefined;
  getStale(kind: MetadataKind, id: string): Resolution<Entity> | undefined;
  /**
   * Stores `value` read under `version`. Refused (returns false) when that is not the current version: the
   * value was read before a metadata write this instance has already seen, and would hide it for a whole TTL.
   */
  set(kind: MetadataKind, id: string, value: Resolution<Entity>, version: MetadataVersion): boolean;
  clear(): void;
  readonly entries: number;
  readonly bytes: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * The latest "this source failed" report any instance made for a breaker: evidence, not a verdict. An
 * instance that reads one it has not seen probes the source with its own next call (see SharedBreaker).
 */
export interface SharedOpenReport {
  name: string;
  /** Redis-side counter, bumped by every report: with `instanceId`, tells one report from the next. */
  epoch: number;
  /** Redis server time of the report (ms): comparable between instances, unlike their own clocks. */
  reportedAt: number;
  instanceId: string;
}

/**
 * Where instances share breaker evidence (Redis): "opened" reports, never states. Used by SharedBreaker only;
 * the metadata cache tier knows nothing of it.
 */
export interface BreakerReports {
  /** The latest report of each named breaker still within its time to live; one round trip. */
  read(names: readonly string[]): Promise<SharedOpenReport[]>;
  /** Reports that `instanceId` opened `name`; Redis orders concurrent reports and stamps its own time. */
  reportOpen(name: string, instanceId: string): Promise<SharedOpenReport>;
}

/** One entry read from the shared cache: an entity, `null` for a stored negative marker, `undefined` for a miss. */
export type CachedValue = Entity | null | undefined;

export interface RemoteCacheRead {
  /** The metadata version token (`cacheKeys.version`); the Redis adapter creates one when Redis has none. */
  version: string | null;
  values: CachedValue[];
  /**
   * Per key, beside `values`: when the entry's value was read from PostgreSQL (wall-clock ms), `null` for an
   * entry stored without that time (written by a version before provenance) and for a miss. Absent: a tier
   * that keeps no times at all (every answer's age is then unknown).
   */
  fetchedAt?: (number | null)[];
}

/** One entry written back to the shared cache: the entity (`null`: "does not exist") and when PostgreSQL said so. */
export interface CacheWrite {
  key: string;
  value: Entity | null;
  /** Wall-clock ms of the PostgreSQL read; without it the entry is stored without a time (its age reads as unknown). */
  fetchedAt?: number;
}

/** The shared cache tier (Redis): cached values only; one round trip per call (a read that finds no version, two). */
export interface MetadataCacheTier {
  read(keys: readonly string[]): Promise<RemoteCacheRead>;
  /** Writes entries back with a TTL, unless the version moved since `seenVersion` (a write raced our read). */
  write(entries: readonly CacheWrite[], seenVersion: string | null): Promise<void>;
}

export interface SourceRequest {
  hostIps: readonly string[];
  hostnames: readonly string[];
  services: readonly string[];
  networkIps: readonly string[];
}
export interface SourceResult {
  hostsByIp: ReadonlyMap<string, Host>;
  hostsByName: ReadonlyMap<string, Host>;
  services: ReadonlyMap<string, Service>;
  networks: ReadonlyMap<string, Network>;
}

/** The source of truth (PostgreSQL): one round trip per call, every entity kind in it. */
export interface MetadataSource {
  fetch(request: SourceRequest): Promise<SourceResult>;
}

/** What one batch did, for metrics. */
export interface BatchReport {
  /**
   * Logs attempted: complete + partial + deadLettered. A JSON record is one log; an OTLP record is as many
   * as it holds log records (or one, when it fails as a whole).
   */
  records: number;
  complete: number;
  partial: number;
  deadLettered: number;
  /** Milliseconds from batch start to every output acknowledged (or to the failure). */
  latencyMs: number;
  published: boolean;
  tally: TierTally;
  breakers: readonly BreakerHealth[];
  /**
   * After a successful publish of enrich's own pass (attempt 1): per Kafka record with a log enriched, the
   * wall-clock milliseconds from the record's Kafka timestamp (ingest's produce time, i.e. receipt) to the
   * outputs acknowledged. One number per record, none for a timestamp ≤ 0 (Kafka's "none" is -1); absent
   * for a failed publish and for re-enrich attempts, whose records keep their original, older timestamps.
   */
  endToEndMs?: readonly number[];
}

export interface EnrichMetrics {
  batch(report: BatchReport): void;
}
