/**
 * The ports the enrich use case depends on. Adapters (Redis, PostgreSQL, lru-cache, Kafka, metrics sinks)
 * live in ./adapters and are wired in ../dependencies.ts; the domain never imports a driver.
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';

export type Entity = Host | Service | Network;

/** What one tier answered for one key. `stale`: an expired in-process value served because its sources are down. */
export type Resolution<T> =
  | { readonly state: 'found'; readonly value: T; readonly stale: boolean }
  | { readonly state: 'not_found'; readonly stale: boolean }
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
  openedAt: number | null;
  counts: BreakerCounts;
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

/** The in-process tier. Expired entries stay readable through `getStale` (served, flagged stale, while sources are down). */
export interface LocalCache {
  get(key: string): Resolution<Entity> | undefined;
  getStale(key: string): Resolution<Entity> | undefined;
  set(key: string, value: Resolution<Entity>): void;
  clear(): void;
  readonly entries: number;
  readonly bytes: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** Breaker state as shared between function instances. `openedAt` is recorded by us on `open` (not opossum's lastTimerAt). */
export interface StoredBreakerState {
  name: string;
  state: BreakerStateName;
  openedAt: number | null;
  updatedAt: number;
  instanceId: string;
  counts: BreakerCounts;
}

export interface BreakerStateStore {
  save(state: StoredBreakerState): Promise<void>;
}

/** One entry read from the shared cache: an entity, `null` for a stored negative marker, `undefined` for a miss. */
export type CachedValue = Entity | null | undefined;

export interface RemoteCacheRead {
  /** The metadata version counter (`cacheKeys.version`), null when never written. */
  version: string | null;
  values: CachedValue[];
  /** Shared breaker states, read in the same round trip. */
  breakers: StoredBreakerState[];
}

/** The shared cache tier (Redis): one round trip per call. */
export interface MetadataCacheTier {
  read(keys: readonly string[]): Promise<RemoteCacheRead>;
  /** Writes entries back with a TTL, unless the version moved since `seenVersion` (a write raced our read). */
  write(entries: readonly { key: string; value: Entity | null }[], seenVersion: string | null): Promise<void>;
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

/** The source of truth (PostgreSQL): one query per entity kind per call. */
export interface MetadataSource {
  fetch(request: SourceRequest): Promise<SourceResult>;
}

/** What one batch did, for metrics. */
export interface BatchReport {
  records: number;
  complete: number;
  partial: number;
  deadLettered: number;
  /** Milliseconds from batch start to every output acknowledged (or to the failure). */
  latencyMs: number;
  published: boolean;
  tally: TierTally;
  breakers: readonly BreakerHealth[];
}

export interface EnrichMetrics {
  batch(report: BatchReport): void;
}
