/** In-memory stand-ins for the metadata ports, and record factories, for unit tests. */
import { silentLog } from '#shared/log-port.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { formatCidr, parseCidr, parseIp } from '#shared/net/ip.ts';
import type { CatalogObservers } from '../../../functions/metadata/src/catalog.ts';
import {
  type BulkChange,
  type BulkTransaction,
  type CacheInvalidation,
  type KindRecords,
  type MetadataBulkStore,
  DuplicateKeyError,
  type KeyRange,
  type MetadataCacheInvalidator,
  type MetadataRepository,
  type RecordCollection,
  type Replacement,
  type Stored,
  type StoredHost,
  type StoredNetwork,
} from '../../../functions/metadata/src/ports.ts';

export function host(overrides: Partial<Host> = {}): Host {
  return {
    hostname: 'payment-api-01',
    ipAddress: '192.168.1.100',
    datacenter: 'us-east-1',
    environment: 'production',
    costCenter: 'payments',
    tags: {},
    ...overrides,
  };
}

export function service(overrides: Partial<Service> = {}): Service {
  return {
    name: 'payment-service',
    team: 'payments',
    owner: 'payments-oncall@example.com',
    tier: 'tier-1',
    version: '2.4.1',
    costCenter: 'payments',
    tags: {},
    ...overrides,
  };
}

export function network(overrides: Partial<Network> = {}): Network {
  return {
    cidr: '10.20.0.0/16',
    datacenter: 'us-west-2',
    environment: 'production',
    zone: 'us-west-2b',
    description: null,
    ...overrides,
  };
}

/** A unique field besides the key, checked like the database's unique constraint. */
interface Unique<T> {
  field: string;
  valueIn(record: T): string;
}

class MemoryCollection<T> implements RecordCollection<T> {
  readonly records = new Map<string, Stored<T>>();
  readonly #keyField: string;
  readonly #keyOf: (record: T) => string;
  readonly #unique: Unique<T>[];
  #clock = Date.parse('2026-11-27T12:00:00.000Z');

  constructor(keyField: string, keyOf: (record: T) => string, unique: Unique<T>[] = []) {
    this.#keyField = keyField;
    this.#keyOf = keyOf;
    this.#unique = unique;
  }

  async insert(record: T): Promise<Stored<T>> {
    const key = this.#keyOf(record);
    if (this.records.has(key)) throw new DuplicateKeyError(this.#keyField, `${this.#keyField}: ${key} already exists`);
    this.#checkUnique(record, key);
    const now = this.#tick();
    const stored = { ...record, createdAt: now, updatedAt: now };
    this.records.set(key, stored);
    return stored;
  }

  async get(key: string): Promise<Stored<T> | undefined> {
    return this.records.get(key);
  }

  async list({ limit, after }: KeyRange): Promise<Stored<T>[]> {
    return [...this.records.keys()]
      .sort()
      .filter((key) => after === undefined || key > after)
      .slice(0, limit)
      .flatMap((key) => this.records.get(key) ?? []);
  }

  async replace(record: T): Promise<Replacement<T> | undefined> {
    const key = this.#keyOf(record);
    const previous = this.records.get(key);
    if (previous === undefined) return undefined;
    this.#checkUnique(record, key);
    const current = { ...record, createdAt: previous.createdAt, updatedAt: this.#tick() };
    this.records.set(key, current);
    return { previous, current };
  }

  async upsert(record: T): Promise<{ previous: Stored<T> | undefined; current: Stored<T> } | undefined> {
    const key = this.#keyOf(record);
    const previous = this.records.get(key);
    if (previous === undefined) return { previous: undefined, current: await this.insert(record) };
    const { createdAt: _created, updatedAt: _updated, ...stored } = previous;
    if (JSON.stringify(stored) === JSON.stringify(record)) return undefined;
    return this.replace(record);
  }

  async remove(key: string): Promise<Stored<T> | undefined> {
    const removed = this.records.get(key);
    this.records.delete(key);
    return removed;
  }

  #checkUnique(record: T, key: string): void {
    for (const { field, valueIn } of this.#unique) {
      for (const [otherKey, other] of this.records) {
        if (otherKey !== key && valueIn(other) === valueIn(record)) {
          throw new DuplicateKeyError(field, `${field}: ${valueIn(record)} is already registered to another host`);
        }
      }
    }
  }

  #tick(): string {
    this.#clock += 1000;
    return new Date(this.#clock).toISOString();
  }
}

class MemoryHosts extends MemoryCollection<Host> {
  async findByIp(ip: string): Promise<StoredHost | undefined> {
    return [...this.records.values()].find((stored) => stored.ipAddress === ip);
  }
}

class MemoryNetworks extends MemoryCollection<Network> {
  async findMostSpecific(ip: string): Promise<StoredNetwork | undefined> {
    const address = parseIp(ip);
    if (address === undefined) return undefined;
    const containing = [...this.records.values()].flatMap((stored) => {
      const cidr = parseCidr(stored.cidr);
      if (cidr === undefined || cidr.version !== address.version) return [];
      const masked = parseCidr(`${ip}/${cidr.prefix}`);
      return masked !== undefined && formatCidr(masked) === formatCidr(cidr) ? [{ stored, prefix: cidr.prefix }] : [];
    });
    return containing.sort((a, b) => b.prefix - a.prefix)[0]?.stored;
  }
}

/** A repository in memory, with the same unique rules as the schema (hostname, ipAddress; name; cidr). */
export class MemoryRepository implements MetadataRepository {
  readonly hosts = new MemoryHosts('hostname', (record) => record.hostname, [
    { field: 'ipAddress', valueIn: (record) => record.ipAddress },
  ]);
  readonly services = new MemoryCollection<Service>('name', (record) => record.name);
  readonly networks = new MemoryNetworks('cidr', (record) => record.cidr);
}

/** Records every invalidation it is asked for. */
export class RecordingInvalidator implements MetadataCacheInvalidator {
  readonly calls: CacheInvalidation[] = [];

  async invalidate(change: CacheInvalidation): Promise<void> {
    this.calls.push(change);
  }
}

/** A cache that is down. */
export class FailingInvalidator implements MetadataCacheInvalidator {
  async invalidate(): Promise<void> {
    throw new Error('connect ECONNREFUSED 127.0.0.1:6399');
  }
}

/** Logs and counts nothing: for the tests that do not watch them (those that do pass Powertools' and spy on it). */
export const unobserved: CatalogObservers = {
  log: silentLog,
  metrics: { cacheInvalidationFailed: () => undefined },
};

/**
 * The bulk store over a `MemoryRepository`: a transaction works on the repository and puts every map back as it
 * was when its work rejects (all or nothing, as PostgreSQL's ROLLBACK).
 */
export class MemoryBulkStore implements MetadataBulkStore {
  readonly repository: MemoryRepository;
  transactions = 0;

  constructor(repository = new MemoryRepository()) {
    this.repository = repository;
  }

  async transaction<R>(work: (transaction: BulkTransaction) => Promise<R>): Promise<R> {
    this.transactions += 1;
    const { hosts, services, networks } = this.repository;
    const saved = [hosts, services, networks].map((collection) => new Map(collection.records as Map<string, unknown>));
    const repository = this.repository;
    try {
      return await work({
        async upsertMany<K extends keyof KindRecords>(kind: K, records: readonly KindRecords[K][]) {
          const collection = repository[kind] as unknown as RecordCollection<KindRecords[K]>;
          const changes: BulkChange<KindRecords[K]>[] = [];
          for (const record of records) {
            const change = await collection.upsert(record);
            if (change !== undefined) changes.push({ previous: change.previous });
          }
          return changes;
        },
        async hostsHoldingIps(ips: readonly string[]) {
          const wanted = new Set(ips);
          return new Map([...hosts.records.values()].filter((h) => wanted.has(h.ipAddress)).map((h) => [h.ipAddress, h.hostname]));
        },
      });
    } catch (error) {
      [hosts, services, networks].forEach((collection, index) => {
        (collection.records as Map<string, unknown>).clear();
        for (const [key, value] of saved[index] ?? []) (collection.records as Map<string, unknown>).set(key, value);
      });
      throw error;
    }
  }

  async *pages<K extends keyof KindRecords>(kind: K, pageSize: number, after?: string): AsyncIterable<Stored<KindRecords[K]>[]> {
    const collection = this.repository[kind] as unknown as RecordCollection<KindRecords[K]>;
    let cursor = after;
    for (;;) {
      const page = await collection.list({ limit: pageSize, ...(cursor === undefined ? {} : { after: cursor }) });
      if (page.length === 0) return;
      yield page;
      if (page.length < pageSize) return;
      const last = page.at(-1) as unknown as Record<string, unknown>;
      cursor = String(last.hostname ?? last.name ?? last.cidr);
    }
  }
}
