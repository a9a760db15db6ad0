/**
 * The in-process tier: lru-caches bounded by entries AND bytes, with a TTL (shorter for negative entries).
 * Expired entries are kept (`noDeleteOnStaleGet`, no autopurge) until the LRU evicts them: when Redis and
 * PostgreSQL are both unreachable, the last value this instance saw is still served, flagged stale.
 *
 * One lru-cache per lookup kind, keyed by the raw id (the IP, hostname or service name the batch already
 * holds): a lookup builds no key string, which would have to be allocated, hashed and compared on every get
 * (about 3.7× the cost of the get itself). The bounds are global, over every kind together: when the kinds
 * hold more than `maxEntries` (or `maxBytes`) between them, the least recently used entries of the kind that
 * holds the most go first. So one kind may use the whole budget while the others are idle, and a flood of
 * never-seen IPs evicts IP entries before it touches the fewer hostnames and services.
 *
 * Versioned: each entry keeps the metadata version that was current when its read began. Batches run side
 * by side in one process, so a PostgreSQL read that began before a metadata write can finish after another
 * batch has already seen the write's new version; storing its answer would serve the old value as fresh
 * for a whole TTL. Such a write is refused, and an entry of any other version than the current is a miss.
 * Versions are opaque tokens (`cacheKeys.version`): only equality is ever asked, never which is newer.
 *
 * An entry is the resolution object it was given, handed out as is by every get: the lookup stores one made
 * for the purpose (tier `memory`, the PostgreSQL read time of its value: provenance), so that the blocks built
 * from it are reused for as long as the entry lives (../tiered-lookup.ts, ../enriched-log.ts).
 */
import { LRUCache } from 'lru-cache';
import type { Entity, LocalCache, MetadataKind, MetadataVersion, Resolution } from '../ports.ts';

export interface MemoryCacheOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  negativeTtlMs: number;
}

/** Rough heap size of an entry: UTF-16 strings plus object overhead; only needs to be proportional. */
export function approximateSize(key: string, value: Resolution<Entity>): number {
  let size = 64 + key.length * 2;
  if (value.state === 'found') {
    const entity = value.value as unknown as Record<string, unknown>;
    for (const field in entity) {
      const item = entity[field];
      size += 16 + field.length * 2;
      if (typeof item === 'string') size += item.length * 2;
      else if (item !== null && typeof item === 'object') size += 32 + JSON.stringify(item).length * 2;
    }
  }
  return size;
}

interface Entry {
  value: Resolution<Entity>;
  version: MetadataVersion;
}

type Caches = Record<MetadataKind, LRUCache<string, Entry>>;

/**
 * @example
 * const memory = new MemoryCache({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024, ttlMs: 60_000, negativeTtlMs: 10_000 });
 * memory.useVersion('0b5c…');                                  // the token the batch's Redis read answered
 * memory.set('hostsByIp', '10.0.0.1', resolution, '0b5c…');    // stored
 * memory.set('hostsByIp', '10.0.0.1', resolution, '9f21…');    // refused: read under another version (before the latest write)
 */
export class MemoryCache implements LocalCache {
  readonly #caches: Caches;
  readonly #all: readonly LRUCache<string, Entry>[];
  readonly #negative: { ttl: number };
  #version: MetadataVersion;
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor(options: MemoryCacheOptions) {
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.#negative = { ttl: options.negativeTtlMs };
    // Each kind alone may take the whole budget; `#bound` keeps their sum within it. No `max`: with one,
    // lru-cache preallocates its arrays for that many entries (about 20 ms and 5 MB per kind at 100,000, at
    // every cold start); without, they grow with use, and lookups cost the same.
    const create = (): LRUCache<string, Entry> =>
      new LRUCache<string, Entry>({
        maxSize: options.maxBytes,
        sizeCalculation: (entry, id) => approximateSize(id, entry.value),
        ttl: options.ttlMs,
        allowStale: false,
        noDeleteOnStaleGet: true,
        ttlAutopurge: false,
        updateAgeOnGet: false,
      });
    this.#caches = { hostsByIp: create(), networks: create(), hostsByName: create(), services: create() };
    this.#all = Object.values(this.#caches);
  }

  get version(): MetadataVersion {
    return this.#version;
  }

  useVersion(version: MetadataVersion): void {
    if (version === this.#version) return;
    this.#version = version;
    // Every entry is of the old version now: none could be served, so free them at once.
    this.clear();
  }

  get(kind: MetadataKind, id: string): Resolution<Entity> | undefined {
    return this.#current(this.#caches[kind].get(id));
  }

  getStale(kind: MetadataKind, id: string): Resolution<Entity> | undefined {
    return this.#current(this.#caches[kind].get(id, { allowStale: true }));
  }

  set(kind: MetadataKind, id: string, value: Resolution<Entity>, version: MetadataVersion): boolean {
    if (value.state === 'unavailable' || version !== this.#version) return false;
    this.#caches[kind].set(id, { value, version }, value.state === 'found' ? undefined : this.#negative);
    this.#bound();
    return true;
  }

  clear(): void {
    for (const cache of this.#all) cache.clear();
  }

  get entries(): number {
    let entries = 0;
    for (const cache of this.#all) entries += cache.size;
    return entries;
  }

  get bytes(): number {
    let bytes = 0;
    for (const cache of this.#all) bytes += cache.calculatedSize;
    return bytes;
  }

  /** Over a global bound: evicts the least recently used entry of the kind holding the most, until within. */
  #bound(): void {
    while (this.entries > this.maxEntries) largest(this.#all, (cache) => cache.size).pop();
    while (this.bytes > this.maxBytes) largest(this.#all, (cache) => cache.calculatedSize).pop();
  }

  #current(entry: Entry | undefined): Resolution<Entity> | undefined {
    return entry !== undefined && entry.version === this.#version ? entry.value : undefined;
  }
}

function largest(caches: readonly LRUCache<string, Entry>[], measure: (cache: LRUCache<string, Entry>) => number): LRUCache<string, Entry> {
  let best = caches[0] as LRUCache<string, Entry>;
  for (const cache of caches) if (measure(cache) > measure(best)) best = cache;
  return best;
}
