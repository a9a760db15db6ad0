/**
 * The in-process tier: an lru-cache bounded by entries AND bytes, with a TTL (shorter for negative entries).
 * Expired entries are kept (`noDeleteOnStaleGet`, no autopurge) until the LRU evicts them: when Redis and
 * PostgreSQL are both unreachable, the last value this instance saw is still served, flagged stale.
 *
 * Versioned: each entry keeps the metadata version that was current when its read began. Batches run side
 * by side in one process, so a PostgreSQL read that began before a metadata write can finish after another
 * batch has already seen the write's new version; storing its answer would serve the old value as fresh
 * for a whole TTL. Such a write is refused, and an entry of any other version than the current is a miss.
 * Versions are opaque tokens (`cacheKeys.version`): only equality is ever asked, never which is newer.
 */
import { LRUCache } from 'lru-cache';
import type { Entity, LocalCache, MetadataVersion, Resolution } from '../ports.ts';

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

/**
 * @example
 * const memory = new MemoryCache({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024, ttlMs: 60_000, negativeTtlMs: 10_000 });
 * memory.useVersion('0b5c…');               // the token the batch's Redis read answered
 * memory.set(key, resolution, '0b5c…');     // stored
 * memory.set(key, resolution, '9f21…');     // refused: read under another version (before the latest write)
 */
export class MemoryCache implements LocalCache {
  readonly #cache: LRUCache<string, Entry>;
  readonly #negative: { ttl: number };
  #version: MetadataVersion;
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor(options: MemoryCacheOptions) {
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.#negative = { ttl: options.negativeTtlMs };
    this.#cache = new LRUCache<string, Entry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => approximateSize(key, entry.value),
      ttl: options.ttlMs,
      allowStale: false,
      noDeleteOnStaleGet: true,
      ttlAutopurge: false,
      updateAgeOnGet: false,
    });
  }

  get version(): MetadataVersion {
    return this.#version;
  }

  useVersion(version: MetadataVersion): void {
    if (version === this.#version) return;
    this.#version = version;
    // Every entry is of the old version now: none could be served, so free them at once.
    this.#cache.clear();
  }

  get(key: string): Resolution<Entity> | undefined {
    return this.#current(this.#cache.get(key));
  }

  getStale(key: string): Resolution<Entity> | undefined {
    return this.#current(this.#cache.get(key, { allowStale: true }));
  }

  set(key: string, value: Resolution<Entity>, version: MetadataVersion): boolean {
    if (value.state === 'unavailable' || version !== this.#version) return false;
    this.#cache.set(key, { value, version }, value.state === 'found' ? undefined : this.#negative);
    return true;
  }

  clear(): void {
    this.#cache.clear();
  }

  get entries(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.calculatedSize;
  }

  #current(entry: Entry | undefined): Resolution<Entity> | undefined {
    return entry !== undefined && entry.version === this.#version ? entry.value : undefined;
  }
}
