/**
 * The metadata use cases: create, read, list, replace, delete and upsert hosts, services and networks.
 * Every write goes to the repository first (PostgreSQL is the source of truth) and then removes what it
 * changed from the cache enrich reads, and bumps the metadata version.
 */
import { NotFoundError } from '#shared/errors.ts';
import type { Log } from '#shared/log-port.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { canonicalIp } from '#shared/net/ip.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import type {
  CacheInvalidation,
  KeyRange,
  MetadataCacheInvalidator,
  MetadataMetrics,
  MetadataRepository,
  RecordCollection,
  Stored,
} from './ports.ts';

/** One page of a keyset listing; `nextAfter` is the key to continue after, null on the last page. */
export interface Page<T> {
  items: T[];
  nextAfter: string | null;
}

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Where a failed cache invalidation is told (the write itself succeeds). The function's wiring passes
 * Powertools' logger and metrics; tests and tools pass their own.
 */
export interface CatalogObservers {
  log: Log;
  metrics: MetadataMetrics;
}

/** What every catalog of one repository shares (and the bulk import, `bulk.ts`). */
export interface CatalogContext extends CatalogObservers {
  invalidator: MetadataCacheInvalidator;
}

/** What differs between hosts, services and networks as far as the use cases care. */
export interface RecordKind<T> {
  /** For messages: "host", "service", "network". */
  noun: string;
  keyField: string;
  keyOf(record: T): string;
  /** The cache entries that may hold any of `records`. */
  cacheEntries(records: readonly T[]): CacheInvalidation;
}

const HOST: RecordKind<Host> = {
  noun: 'host',
  keyField: 'hostname',
  keyOf: (host) => host.hostname,
  // Under the address as PostgreSQL stores it and the enricher looks it up (`2001:db8::7`), whatever spelling
  // the record came in: a bulk import passes the records of its file, the single path the stored record.
  cacheEntries: (hosts) => ({
    keys: unique(hosts.flatMap((host) => [cacheKeys.hostByIp(canonicalIp(host.ipAddress)), cacheKeys.hostByName(host.hostname)])),
    patterns: [],
  }),
};

const SERVICE: RecordKind<Service> = {
  noun: 'service',
  keyField: 'name',
  keyOf: (service) => service.name,
  cacheEntries: (services) => ({ keys: unique(services.map((service) => cacheKeys.service(service.name))), patterns: [] }),
};

const NETWORK: RecordKind<Network> = {
  noun: 'network',
  keyField: 'cidr',
  keyOf: (network) => network.cidr,
  // Enrich caches "most specific network for this IP", and any network write can change the answer for
  // any IP, so every such entry goes. Network writes are rare admin actions; the sweep is cheap enough.
  cacheEntries: () => ({ keys: [], patterns: [cacheKeys.networkPattern] }),
};

/** Each kind's description, by the API's name for it, for the bulk import and export (`bulk.ts`). */
export const RECORD_KINDS = { hosts: HOST, services: SERVICE, networks: NETWORK } as const;

/**
 * Removes `change` from the cache and bumps the metadata version; a failure is logged and counted, never thrown:
 * the write it follows is committed, and PostgreSQL is the source of truth.
 *
 * @example
 * await invalidateCache(context, RECORD_KINDS.hosts.cacheEntries([host]));
 */
export async function invalidateCache(context: CatalogContext, change: CacheInvalidation): Promise<void> {
  const { invalidator, log, metrics } = context;
  try {
    await invalidator.invalidate(change);
  } catch (error) {
    // Enrich may then serve the old value, but not indefinitely: every Redis entry enrich writes
    // carries a TTL, which bounds the staleness. Stale for up to a TTL is still wrong, so the failure
    // must be loud: an error log naming the keys, and a metric the dashboard alarms on.
    log.error('metadata cache invalidation failed; enrich may serve stale metadata until the entries expire', {
      keys: change.keys.length > 100 ? [...change.keys.slice(0, 100), `… ${change.keys.length - 100} more`] : change.keys,
      patterns: change.patterns,
      error,
    });
    metrics.cacheInvalidationFailed();
  }
}

/**
 * The use cases for one kind of record.
 *
 * @example
 * const catalog = new MetadataCatalog(repository, invalidator, { log, metrics });
 * const host = await catalog.hosts.create({ hostname: 'web-1', ipAddress: '10.0.0.5', ... });
 */
export class RecordCatalog<T> {
  readonly #collection: RecordCollection<T>;
  readonly #kind: RecordKind<T>;
  readonly #context: CatalogContext;

  constructor(collection: RecordCollection<T>, kind: RecordKind<T>, context: CatalogContext) {
    this.#collection = collection;
    this.#kind = kind;
    this.#context = context;
  }

  /** Rejects with `DuplicateKeyError` (409) when the key or another unique field is taken. */
  async create(record: T): Promise<Stored<T>> {
    const stored = await this.#collection.insert(record);
    await this.#invalidate([stored]);
    return stored;
  }

  /** Rejects with `NotFoundError` (404) when there is no such record. */
  async get(key: string): Promise<Stored<T>> {
    const found = await this.#collection.get(key);
    if (found === undefined) throw this.#notFound(key);
    return found;
  }

  async list(range: KeyRange): Promise<Page<Stored<T>>> {
    // One row more than asked tells whether another page exists, so the last page says so itself
    // instead of sending the client for an empty one.
    const rows = await this.#collection.list({ ...range, limit: range.limit + 1 });
    const items = rows.slice(0, range.limit);
    const last = items.at(-1);
    return { items, nextAfter: rows.length > range.limit && last !== undefined ? this.#kind.keyOf(last) : null };
  }

  /** Overwrites every field but the key. Rejects with `NotFoundError` (404) when there is no such record. */
  async replace(record: T): Promise<Stored<T>> {
    const replaced = await this.#collection.replace(record);
    if (replaced === undefined) throw this.#notFound(this.#kind.keyOf(record));
    // Both: a host that moved from one IP to another is cached under the old IP too.
    await this.#invalidate([replaced.previous, replaced.current]);
    return replaced.current;
  }

  /** Rejects with `NotFoundError` (404) when there is no such record. */
  async remove(key: string): Promise<Stored<T>> {
    const removed = await this.#collection.remove(key);
    if (removed === undefined) throw this.#notFound(key);
    await this.#invalidate([removed]);
    return removed;
  }

  /** Inserts or overwrites (seeding); a record that is already exactly so is not written again. */
  async upsert(record: T): Promise<UpsertOutcome> {
    const change = await this.#collection.upsert(record);
    if (change === undefined) return 'unchanged';
    await this.#invalidate(change.previous === undefined ? [change.current] : [change.previous, change.current]);
    return change.previous === undefined ? 'created' : 'updated';
  }

  #notFound(key: string): NotFoundError {
    return new NotFoundError(`no ${this.#kind.noun} with ${this.#kind.keyField} ${JSON.stringify(key)}`);
  }

  async #invalidate(records: readonly T[]): Promise<void> {
    await invalidateCache(this.#context, this.#kind.cacheEntries(records));
  }
}

/** A catalog whose list takes `?ip=`: the one record for that address, if there is one. */
export class IpFilteredCatalog<T> extends RecordCatalog<T> {
  readonly #forIp: (ip: string) => Promise<Stored<T> | undefined>;

  constructor(
    collection: RecordCollection<T>,
    kind: RecordKind<T>,
    context: CatalogContext,
    forIp: (ip: string) => Promise<Stored<T> | undefined>,
  ) {
    super(collection, kind, context);
    this.#forIp = forIp;
  }

  async listForIp(ip: string): Promise<Page<Stored<T>>> {
    const found = await this.#forIp(ip);
    return { items: found === undefined ? [] : [found], nextAfter: null };
  }
}

/** Hosts, services and networks over one repository and one cache. */
export class MetadataCatalog {
  readonly hosts: IpFilteredCatalog<Host>;
  readonly services: RecordCatalog<Service>;
  readonly networks: IpFilteredCatalog<Network>;

  constructor(repository: MetadataRepository, invalidator: MetadataCacheInvalidator, observers: CatalogObservers) {
    const context = { ...observers, invalidator };
    const { hosts, services, networks } = repository;
    // Hosts: the host with exactly this address. Networks: the most specific network containing it.
    this.hosts = new IpFilteredCatalog(hosts, HOST, context, (ip) => hosts.findByIp(ip));
    this.services = new RecordCatalog(services, SERVICE, context);
    this.networks = new IpFilteredCatalog(networks, NETWORK, context, (ip) => networks.findMostSpecific(ip));
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
