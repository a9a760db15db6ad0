/**
 * The in-process tier: an lru-cache bounded by entries AND bytes, with a TTL (shorter for negative entries).
 * Expired entries are kept (`noDeleteOnStaleGet`, no autopurge) until the LRU evicts them: when Redis and
 * PostgreSQL are both unreachable, the last value this instance saw is still served, flagged stale.
 */
import { LRUCache } from 'lru-cache';
import type { Entity, LocalCache, Resolution } from '../ports.ts';

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

export class MemoryCache implements LocalCache {
  readonly #cache: LRUCache<string, Resolution<Entity>>;
  readonly #negative: { ttl: number };
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor(options: MemoryCacheOptions) {
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.#negative = { ttl: options.negativeTtlMs };
    this.#cache = new LRUCache<string, Resolution<Entity>>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => approximateSize(key, value),
      ttl: options.ttlMs,
      allowStale: false,
      noDeleteOnStaleGet: true,
      ttlAutopurge: false,
      updateAgeOnGet: false,
    });
  }

  get(key: string): Resolution<Entity> | undefined {
    return this.#cache.get(key);
  }

  getStale(key: string): Resolution<Entity> | undefined {
    return this.#cache.get(key, { allowStale: true });
  }

  set(key: string, value: Resolution<Entity>): void {
    if (value.state === 'unavailable') return;
    this.#cache.set(key, value, value.state === 'found' ? undefined : this.#negative);
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
}
