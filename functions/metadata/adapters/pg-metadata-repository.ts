/**
 * `MetadataRepository` over PostgreSQL (schema: layers/shared/migrations/1764200000000_metadata.sql).
 * One generic collection per table; every statement is built once from constant table descriptions and
 * every value is a bind parameter. Writes return what they replaced in the same statement, so the
 * use case knows which cache keys to drop (a host's old IP) without a second round trip or a race.
 */
import pg from 'pg';
import { ServiceUnavailableError } from '#shared/errors.ts';
import type { Host, Network, Service, Tags } from '#shared/metadata/model.ts';
import {
  DuplicateKeyError,
  type KeyRange,
  type MetadataRepository,
  type RecordCollection,
  type Replacement,
  type Stored,
  type StoredHost,
  type StoredNetwork,
} from '../domain/ports.ts';

type Row = Record<string, unknown>;

interface Column {
  name: string;
  type: 'text' | 'inet' | 'cidr' | 'jsonb';
}

interface Table<T> {
  name: string;
  key: Column;
  /** Every column but the key and the timestamps, in bind order ($2, $3, …). */
  fields: Column[];
  /** The select list over alias `a`; each output column is named as in the table. */
  select(a: string): string;
  /** Bind values: the key, then `fields`. */
  params(record: T): unknown[];
  fromRow(row: Row): Stored<T>;
  /** The client-facing error for a unique constraint the record violated. */
  duplicate(constraint: string | undefined, record: T): DuplicateKeyError | undefined;
}

const HOSTS: Table<Host> = {
  name: 'hosts',
  key: { name: 'hostname', type: 'text' },
  fields: [
    { name: 'ip_address', type: 'inet' },
    { name: 'datacenter', type: 'text' },
    { name: 'environment', type: 'text' },
    { name: 'cost_center', type: 'text' },
    { name: 'tags', type: 'jsonb' },
  ],
  // host(): the address without a mask, in PostgreSQL's canonical spelling (what enrich keys by).
  select: (a) =>
    `${a}.hostname, host(${a}.ip_address) AS ip_address, ${a}.datacenter, ${a}.environment, ${a}.cost_center, ${a}.tags, ${a}.created_at, ${a}.updated_at`,
  params: (host) => [
    host.hostname,
    host.ipAddress,
    host.datacenter,
    host.environment,
    host.costCenter,
    JSON.stringify(host.tags),
  ],
  fromRow: (row) => ({
    hostname: String(row.hostname),
    ipAddress: String(row.ip_address),
    datacenter: String(row.datacenter),
    environment: String(row.environment),
    costCenter: String(row.cost_center),
    tags: row.tags as Tags,
    ...timestamps(row),
  }),
  duplicate: (constraint, host) => {
    if (constraint === 'hosts_pkey') {
      return new DuplicateKeyError('hostname', `hostname: a host named ${JSON.stringify(host.hostname)} already exists`);
    }
    if (constraint === 'hosts_ip_address_key') {
      return new DuplicateKeyError('ipAddress', `ipAddress: ${host.ipAddress} is already registered to another host`);
    }
    return undefined;
  },
};

const SERVICES: Table<Service> = {
  name: 'services',
  key: { name: 'name', type: 'text' },
  fields: [
    { name: 'team', type: 'text' },
    { name: 'owner', type: 'text' },
    { name: 'tier', type: 'text' },
    { name: 'version', type: 'text' },
    { name: 'cost_center', type: 'text' },
    { name: 'tags', type: 'jsonb' },
  ],
  select: (a) =>
    `${a}.name, ${a}.team, ${a}.owner, ${a}.tier, ${a}.version, ${a}.cost_center, ${a}.tags, ${a}.created_at, ${a}.updated_at`,
  params: (service) => [
    service.name,
    service.team,
    service.owner,
    service.tier,
    service.version,
    service.costCenter,
    JSON.stringify(service.tags),
  ],
  fromRow: (row) => ({
    name: String(row.name),
    team: String(row.team),
    owner: String(row.owner),
    tier: String(row.tier),
    version: String(row.version),
    costCenter: String(row.cost_center),
    tags: row.tags as Tags,
    ...timestamps(row),
  }),
  duplicate: (constraint, service) =>
    constraint === 'services_pkey'
      ? new DuplicateKeyError('name', `name: a service named ${JSON.stringify(service.name)} already exists`)
      : undefined,
};

const NETWORKS: Table<Network> = {
  name: 'networks',
  key: { name: 'cidr', type: 'cidr' },
  fields: [
    { name: 'datacenter', type: 'text' },
    { name: 'environment', type: 'text' },
    { name: 'zone', type: 'text' },
    { name: 'description', type: 'text' },
  ],
  select: (a) =>
    `${a}.cidr::text AS cidr, ${a}.datacenter, ${a}.environment, ${a}.zone, ${a}.description, ${a}.created_at, ${a}.updated_at`,
  params: (network) => [network.cidr, network.datacenter, network.environment, network.zone, network.description],
  fromRow: (row) => ({
    cidr: String(row.cidr),
    datacenter: String(row.datacenter),
    environment: String(row.environment),
    zone: String(row.zone),
    description: row.description === null || row.description === undefined ? null : String(row.description),
    ...timestamps(row),
  }),
  duplicate: (constraint, network) =>
    constraint === 'networks_pkey'
      ? new DuplicateKeyError('cidr', `cidr: network ${network.cidr} already exists`)
      : undefined,
};

class PgCollection<T> implements RecordCollection<T> {
  protected readonly pool: pg.Pool;
  protected readonly table: Table<T>;
  readonly #sql: Record<'insert' | 'get' | 'listFirst' | 'listAfter' | 'replace' | 'upsert' | 'remove', string>;

  constructor(pool: pg.Pool, table: Table<T>) {
    this.pool = pool;
    this.table = table;
    this.#sql = statements(table);
  }

  async insert(record: T): Promise<Stored<T>> {
    const rows = await this.query(this.#sql.insert, this.table.params(record), record);
    return this.#one(rows);
  }

  async get(key: string): Promise<Stored<T> | undefined> {
    const rows = await this.query(this.#sql.get, [key]);
    return rows[0] === undefined ? undefined : this.table.fromRow(rows[0]);
  }

  async list({ limit, after }: KeyRange): Promise<Stored<T>[]> {
    const rows =
      after === undefined
        ? await this.query(this.#sql.listFirst, [limit])
        : await this.query(this.#sql.listAfter, [limit, after]);
    return rows.map((row) => this.table.fromRow(row));
  }

  async replace(record: T): Promise<Replacement<T> | undefined> {
    const rows = await this.query(this.#sql.replace, this.table.params(record), record);
    const row = rows[0];
    if (row === undefined) return undefined;
    return { previous: this.table.fromRow(row.previous as Row), current: this.table.fromRow(row) };
  }

  async upsert(record: T): Promise<{ previous: Stored<T> | undefined; current: Stored<T> } | undefined> {
    const rows = await this.query(this.#sql.upsert, this.table.params(record), record);
    const row = rows[0];
    if (row === undefined) return undefined; // the stored record already had exactly these values
    const previous = row.previous === null ? undefined : this.table.fromRow(row.previous as Row);
    return { previous, current: this.table.fromRow(row) };
  }

  async remove(key: string): Promise<Stored<T> | undefined> {
    const rows = await this.query(this.#sql.remove, [key]);
    return rows[0] === undefined ? undefined : this.table.fromRow(rows[0]);
  }

  protected async query(text: string, params: unknown[], record?: T): Promise<Row[]> {
    try {
      const result = await this.pool.query<Row>(text, params);
      return result.rows;
    } catch (error) {
      throw this.#translate(error, record);
    }
  }

  #one(rows: Row[]): Stored<T> {
    const row = rows[0];
    if (row === undefined) throw new Error(`${this.table.name}: the statement returned no row`);
    return this.table.fromRow(row);
  }

  /** Client mistakes become their 4xx error, an unreachable database a 503; anything else stays a 500. */
  #translate(error: unknown, record: T | undefined): unknown {
    if (error instanceof pg.DatabaseError) {
      if (error.code === UNIQUE_VIOLATION && record !== undefined) {
        return this.table.duplicate(error.constraint, record) ?? error;
      }
      if (UNAVAILABLE_SQLSTATE.test(error.code ?? '')) return unavailable(error);
      return error;
    }
    if (isConnectionFailure(error)) return unavailable(error);
    return error;
  }
}

class PgHosts extends PgCollection<Host> {
  readonly #findByIp = `SELECT ${HOSTS.select('t')} FROM hosts AS t WHERE t.ip_address = $1::inet`;

  async findByIp(ip: string): Promise<StoredHost | undefined> {
    const rows = await this.query(this.#findByIp, [ip]);
    return rows[0] === undefined ? undefined : this.table.fromRow(rows[0]);
  }
}

class PgNetworks extends PgCollection<Network> {
  // `>>=` (contains or equals) is served by the GiST inet_ops index; the longest prefix is the most specific.
  readonly #findMostSpecific = `SELECT ${NETWORKS.select('t')} FROM networks AS t WHERE t.cidr >>= $1::inet ORDER BY masklen(t.cidr) DESC LIMIT 1`;

  async findMostSpecific(ip: string): Promise<StoredNetwork | undefined> {
    const rows = await this.query(this.#findMostSpecific, [ip]);
    return rows[0] === undefined ? undefined : this.table.fromRow(rows[0]);
  }
}

/**
 * @example
 * const repository = new PgMetadataRepository(createPool(readConfig(postgresEnv), 'metadata'));
 * const host = await repository.hosts.get('payment-api-01');
 */
export class PgMetadataRepository implements MetadataRepository {
  readonly hosts: PgHosts;
  readonly services: PgCollection<Service>;
  readonly networks: PgNetworks;

  constructor(pool: pg.Pool) {
    this.hosts = new PgHosts(pool, HOSTS);
    this.services = new PgCollection(pool, SERVICES);
    this.networks = new PgNetworks(pool, NETWORKS);
  }
}

const UNIQUE_VIOLATION = '23505';
/** Connection exceptions (08), insufficient resources (53), operator intervention incl. statement timeout (57). */
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;

function unavailable(cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('PostgreSQL is unavailable', 5, { cause });
}

/**
 * Socket errors (ECONNREFUSED, ETIMEDOUT, EAI_AGAIN…) and pg's own connection failures ("timeout exceeded
 * when trying to connect", "Connection terminated unexpectedly", "Query read timeout"). Judged by shape, not
 * `instanceof Error`: Node's socket errors are not plain `Error`s and may come from another realm.
 */
function isConnectionFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return true;
  return typeof message === 'string' && /timeout|Connection terminated/i.test(message);
}

/** Every statement of one table. Identifiers come from the constant table descriptions above, never from input. */
function statements<T>({ name, key, fields, select }: Table<T>) {
  const columns = [key, ...fields];
  const names = columns.map((column) => column.name).join(', ');
  const values = columns.map((column, index) => `$${index + 1}::${column.type}`).join(', ');
  const keyIs = (alias: string) => `${alias}.${key.name} = $1::${key.type}`;
  const assign = fields.map((field, index) => `${field.name} = $${index + 2}::${field.type}`).join(', ');
  const fromExcluded = fields.map((field) => `${field.name} = EXCLUDED.${field.name}`).join(', ');
  const current = fields.map((field) => `t.${field.name}`).join(', ');
  const excluded = fields.map((field) => `EXCLUDED.${field.name}`).join(', ');
  const previous = (lock: string) => `WITH previous AS (SELECT ${select('p')} FROM ${name} AS p WHERE ${keyIs('p')}${lock})`;
  return {
    insert: `INSERT INTO ${name} AS t (${names}) VALUES (${values}) RETURNING ${select('t')}`,
    get: `SELECT ${select('t')} FROM ${name} AS t WHERE ${keyIs('t')}`,
    listFirst: `SELECT ${select('t')} FROM ${name} AS t ORDER BY t.${key.name} LIMIT $1`,
    listAfter: `SELECT ${select('t')} FROM ${name} AS t WHERE t.${key.name} > $2::${key.type} ORDER BY t.${key.name} LIMIT $1`,
    // FOR UPDATE: the join reads `previous` before the update, and a concurrent writer waits, so
    // `previous` really is what this statement replaced.
    replace:
      `${previous(' FOR UPDATE')} UPDATE ${name} AS t SET ${assign}, updated_at = now() FROM previous WHERE ${keyIs('t')} ` +
      `RETURNING ${select('t')}, row_to_json(previous) AS previous`,
    // The WHERE on DO UPDATE skips a row that already holds these values: re-running a seed writes
    // nothing, keeps updated_at, and returns no row (so nothing needs invalidating).
    // No FOR UPDATE here: RETURNING reads `previous` only after the row was updated, and a locking read
    // then skips the row this very statement modified. A plain read sees the statement's snapshot, i.e.
    // the row as it was before; a concurrent writer in between invalidates its own keys.
    upsert:
      `${previous('')} INSERT INTO ${name} AS t (${names}) VALUES (${values}) ` +
      `ON CONFLICT (${key.name}) DO UPDATE SET ${fromExcluded}, updated_at = now() ` +
      `WHERE (${current}) IS DISTINCT FROM (${excluded}) ` +
      `RETURNING ${select('t')}, (SELECT row_to_json(previous) FROM previous) AS previous`,
    remove: `DELETE FROM ${name} AS t WHERE ${keyIs('t')} RETURNING ${select('t')}`,
  };
}

function timestamps(row: Row): { createdAt: string; updatedAt: string } {
  // pg parses timestamptz into Date; row_to_json (the `previous` row) carries ISO text. Both parse.
  return {
    createdAt: new Date(row.created_at as Date | string).toISOString(),
    updatedAt: new Date(row.updated_at as Date | string).toISOString(),
  };
}
