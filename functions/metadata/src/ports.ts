/**
 * The ports the metadata use cases depend on. PostgreSQL implements `MetadataRepository`
 * (`adapters/pg-metadata-repository.ts`), Redis implements `MetadataCacheInvalidator`
 * (`adapters/redis-cache-invalidator.ts`), Powertools EMF implements `MetadataMetrics`
 * (`adapters/powertools-metrics.ts`); unit tests implement the first two in memory. Logs go to a `Log` (`#shared/log-port.ts`).
 */
import { ConflictError } from '#shared/errors.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';

/** A record as stored, with its timestamps as ISO 8601 strings. */
export type Stored<T> = T & { createdAt: string; updatedAt: string };

export type StoredHost = Stored<Host>;
export type StoredService = Stored<Service>;
export type StoredNetwork = Stored<Network>;

/** Keyset page: up to `limit` records whose key is strictly greater than `after`, in key order. */
export interface KeyRange {
  limit: number;
  after?: string;
}

/** A write that replaced a record: what was there and what is there now (both needed to invalidate). */
export interface Replacement<T> {
  previous: Stored<T>;
  current: Stored<T>;
}

/** CRUD over one kind of record, addressed by its key (hostname, service name, CIDR). */
export interface RecordCollection<T> {
  /** Rejects with `DuplicateKeyError` when the key or another unique field is taken. */
  insert(record: T): Promise<Stored<T>>;
  get(key: string): Promise<Stored<T> | undefined>;
  list(range: KeyRange): Promise<Stored<T>[]>;
  /** Overwrites every non-key field of the record with `record`'s key; undefined when there is no such record. */
  replace(record: T): Promise<Replacement<T> | undefined>;
  /** Inserts or replaces. `previous` is undefined for an insert; the result is undefined when nothing changed. */
  upsert(record: T): Promise<{ previous: Stored<T> | undefined; current: Stored<T> } | undefined>;
  /** Deletes and returns the record; undefined when there was none. */
  remove(key: string): Promise<Stored<T> | undefined>;
}

export interface MetadataRepository {
  hosts: RecordCollection<Host> & {
    /** The host registered with exactly this address. */
    findByIp(ip: string): Promise<StoredHost | undefined>;
  };
  services: RecordCollection<Service>;
  networks: RecordCollection<Network> & {
    /** The most specific (longest prefix) network that contains `ip`. */
    findMostSpecific(ip: string): Promise<StoredNetwork | undefined>;
  };
}

/** The records of each kind, by the name the API gives the kind (`/api/metadata/{kind}`). */
export interface KindRecords {
  hosts: Host;
  services: Service;
  networks: Network;
}

/** A bulk write of one record that changed something: what was there before (undefined: it was created). */
export interface BulkChange<T> {
  previous: T | undefined;
}

/** The writes of a bulk import, all inside one transaction (`MetadataBulkStore.transaction`). */
export interface BulkTransaction {
  /**
   * Inserts or overwrites `records` (keys distinct); a record that is already exactly so is not written and
   * not returned. Rejects with `DuplicateKeyError` when another unique field is taken.
   */
  upsertMany<K extends keyof KindRecords>(kind: K, records: readonly KindRecords[K][]): Promise<BulkChange<KindRecords[K]>[]>;
  /** The hosts that hold any of these addresses now (address → hostname), locked until the transaction ends. */
  hostsHoldingIps(ips: readonly string[]): Promise<Map<string, string>>;
}

export interface MetadataBulkStore {
  /** Runs `work` in one transaction: commits when it resolves, rolls back (nothing written) when it rejects. */
  transaction<R>(work: (transaction: BulkTransaction) => Promise<R>): Promise<R>;
  /**
   * Every record of `kind` in key order, `pageSize` at a time, after the key `after` when given, all read from
   * one snapshot (a read-only repeatable-read transaction held while the pages are read).
   */
  pages<K extends keyof KindRecords>(kind: K, pageSize: number, after?: string): AsyncIterable<Stored<KindRecords[K]>[]>;
}

/** What a write changed in the cache: exact keys, and key patterns to sweep (network writes). */
export interface CacheInvalidation {
  keys: string[];
  patterns: string[];
}

export interface MetadataCacheInvalidator {
  /**
   * Deletes `keys` and every key matching `patterns`, and bumps the metadata version
   * (`cacheKeys.version`) so enrich instances drop their in-process caches and refuse stale write-backs.
   * Rejects when the cache is unreachable; the caller decides what that means for the write.
   */
  invalidate(change: CacheInvalidation): Promise<void>;
}

/** What the use cases count. */
export interface MetadataMetrics {
  /** A committed write whose cache entries could not be removed: enrich may serve them until they expire. */
  cacheInvalidationFailed(): void;
}

/** A unique field is already taken; `field` is the API's name for it (hostname, ipAddress, name, cidr). */
export class DuplicateKeyError extends ConflictError {
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.field = field;
  }
}
