/**
 * `MetadataRepository` over PostgreSQL (schema: layers/shared/migrations/1764200000000_metadata.sql).
 * One generic collection per table; every statement is built once from constant table descriptions and
 * every value is a bind parameter. Writes return what they replaced in the same statement, so the
 * use case knows which cache keys to drop (a host's old IP) without a second round trip or a race.
 */
import pg from 'pg';
import { ServiceUnavailableError } from '#shared/errors.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import {
  type HostRow,
  hostFromRow,
  hostToRow,
  type NetworkRow,
  networkFromRow,
  networkToRow,
  type ServiceRow,
  serviceFromRow,
  serviceToRow,
} from '#shared/metadata/rows.ts';
import {
  DuplicateKeyError,
  type KeyRange,
  type MetadataRepository,
  type RecordCollection,
  type Replacement,
  type Stored,
  type StoredHost,
  type StoredNetwork,
} from '../ports.ts';

export type ColumnType = 'text' | 'inet' | 'cidr' | 'jsonb';

export interface Column {
  name: string;
  type: ColumnType;
}

/** A row as selected: the table's columns and its timestamps (Date from pg, ISO text from `row_to_json`). */
export type StoredRow<R> = R & { created_at: Date | string; updated_at: Date | string };
/** A write's row, with the row it replaced (`row_to_json(previous)`; null when it inserted). */
type WrittenRow<R> = StoredRow<R> & { previous: StoredRow<R> | null };

/** How one table stores one kind of record; the row mapping itself is shared with enrich (`#shared/metadata/rows.ts`). */
export interface Table<T, R> {
  name: string;
  key: keyof R & string;
  /** Every column but the timestamps, with its SQL type. */
  columns: { [K in keyof R]: ColumnType };
  toRow(record: T): R;
  fromRow(row: R): T;
  /** The client-facing error for a unique constraint the record violated. */
  duplicate(constraint: string | undefined, record: T): DuplicateKeyError | undefined;
}

const HOSTS: Table<Host, HostRow> = {
  name: 'hosts',
  key: 'hostname',
  columns: { hostname: 'text', ip_address: 'inet', datacenter: 'text', environment: 'text', cost_center: 'text', tags: 'jsonb' },
  toRow: hostToRow,
  fromRow: hostFromRow,
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

const SERVICES: Table<Service, ServiceRow> = {
  name: 'services',
  key: 'name',
  columns: { name: 'text', team: 'text', owner: 'text', tier: 'text', version: 'text', cost_center: 'text', tags: 'jsonb' },
  toRow: serviceToRow,
  fromRow: serviceFromRow,
  duplicate: (constraint, service) =>
    constraint === 'services_pkey'
      ? new DuplicateKeyError('name', `name: a service named ${JSON.stringify(service.name)} already exists`)
      : undefined,
};

const NETWORKS: Table<Network, NetworkRow> = {
  name: 'networks',
  key: 'cidr',
  columns: { cidr: 'cidr', datacenter: 'text', environment: 'text', zone: 'text', description: 'text' },
  toRow: networkToRow,
  fromRow: networkFromRow,
  duplicate: (constraint, network) =>
    constraint === 'networks_pkey'
      ? new DuplicateKeyError('cidr', `cidr: network ${network.cidr} already exists`)
      : undefined,
};

/** The table of each kind, for the bulk import and export (`pg-metadata-bulk.ts`). */
export const TABLES = { hosts: HOSTS, services: SERVICES, networks: NETWORKS } as const;

/**
 * Client mistakes become their 4xx error, an unreachable database a 503; anything else stays a 500. A unique
 * violation of a bulk write (no one record to name) is still a 409, with PostgreSQL's detail naming the value.
 */
export function translateError<T, R>(table: Table<T, R>, error: unknown, record: T | undefined): unknown {
  if (error instanceof pg.DatabaseError) {
    if (error.code === UNIQUE_VIOLATION) {
      if (record !== undefined) return table.duplicate(error.constraint, record) ?? error;
      const field = error.constraint === 'hosts_ip_address_key' ? 'ipAddress' : table.key;
      return new DuplicateKeyError(field, `${field}: ${error.detail ?? 'a value is already taken'}`, { cause: error });
    }
    if (UNAVAILABLE_SQLSTATE.test(error.code ?? '')) return unavailable(error);
    return error;
  }
  if (isConnectionFailure(error)) return unavailable(error);
  return error;
}

/** A record as stored, from a row as selected (`selectOf`): pg gives timestamptz as Date, `row_to_json` as ISO text. */
export function storedFromRow<T, R>(table: Table<T, R>, row: StoredRow<R>): Stored<T> {
  return {
    ...table.fromRow(row),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

class PgCollection<T, R extends object> implements RecordCollection<T> {
  protected readonly pool: pg.Pool;
  protected readonly table: Table<T, R>;
  /** The select list over alias `t`, for the statements of subclasses. */
  protected readonly selectList: string;
  readonly #sql: ReturnType<typeof statements>;

  constructor(pool: pg.Pool, table: Table<T, R>) {
    this.pool = pool;
    this.table = table;
    this.#sql = statements(table);
    this.selectList = this.#sql.select('t');
  }

  async insert(record: T): Promise<Stored<T>> {
    const rows = await this.query(this.#sql.insert, this.#params(record), record);
    const row = rows[0];
    if (row === undefined) throw new Error(`${this.table.name}: the statement returned no row`);
    return this.stored(row);
  }

  async get(key: string): Promise<Stored<T> | undefined> {
    return this.first(await this.query(this.#sql.get, [key]));
  }

  async list({ limit, after }: KeyRange): Promise<Stored<T>[]> {
    const rows =
      after === undefined
        ? await this.query(this.#sql.listFirst, [limit])
        : await this.query(this.#sql.listAfter, [limit, after]);
    return rows.map((row) => this.stored(row));
  }

  async replace(record: T): Promise<Replacement<T> | undefined> {
    const rows = await this.query<WrittenRow<R>>(this.#sql.replace, this.#params(record), record);
    const row = rows[0];
    if (row === undefined || row.previous === null) return undefined;
    return { previous: this.stored(row.previous), current: this.stored(row) };
  }

  async upsert(record: T): Promise<{ previous: Stored<T> | undefined; current: Stored<T> } | undefined> {
    const rows = await this.query<WrittenRow<R>>(this.#sql.upsert, this.#params(record), record);
    const row = rows[0];
    if (row === undefined) return undefined; // the stored record already had exactly these values
    return { previous: row.previous === null ? undefined : this.stored(row.previous), current: this.stored(row) };
  }

  async remove(key: string): Promise<Stored<T> | undefined> {
    return this.first(await this.query(this.#sql.remove, [key]));
  }

  protected first(rows: StoredRow<R>[]): Stored<T> | undefined {
    return rows[0] === undefined ? undefined : this.stored(rows[0]);
  }

  protected stored(row: StoredRow<R>): Stored<T> {
    return storedFromRow(this.table, row);
  }

  protected async query<Q = StoredRow<R>>(text: string, params: unknown[], record?: T): Promise<Q[]> {
    try {
      const result = await this.pool.query(text, params);
      return result.rows;
    } catch (error) {
      throw translateError(this.table, error, record);
    }
  }

  /** Bind values in the order of `statements`: the key, then the other columns. */
  #params(record: T): unknown[] {
    const row = this.table.toRow(record);
    return columnsOf(this.table).map(({ name, type }) => {
      const value = row[name as keyof R];
      return type === 'jsonb' ? JSON.stringify(value) : value;
    });
  }
}

class PgHosts extends PgCollection<Host, HostRow> {
  readonly #findByIp = `SELECT ${this.selectList} FROM hosts AS t WHERE t.ip_address = $1::inet`;

  async findByIp(ip: string): Promise<StoredHost | undefined> {
    return this.first(await this.query(this.#findByIp, [ip]));
  }
}

class PgNetworks extends PgCollection<Network, NetworkRow> {
  // `>>=` (contains or equals) is served by the GiST inet_ops index; the longest prefix is the most specific.
  readonly #findMostSpecific = `SELECT ${this.selectList} FROM networks AS t WHERE t.cidr >>= $1::inet ORDER BY masklen(t.cidr) DESC LIMIT 1`;

  async findMostSpecific(ip: string): Promise<StoredNetwork | undefined> {
    return this.first(await this.query(this.#findMostSpecific, [ip]));
  }
}

/**
 * @example
 * const repository = new PgMetadataRepository(createPool(readConfig(postgresEnv), 'metadata'));
 * const host = await repository.hosts.get('payment-api-01');
 */
export class PgMetadataRepository implements MetadataRepository {
  readonly hosts: PgHosts;
  readonly services: PgCollection<Service, ServiceRow>;
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

/** The key column first, then the others in the order the table lists them. */
export function columnsOf<R>({ key, columns }: Table<unknown, R>): Column[] {
  const all = Object.entries(columns as Record<string, ColumnType>).map(([name, type]) => ({ name, type }));
  return [...all.filter((column) => column.name === key), ...all.filter((column) => column.name !== key)];
}

/**
 * The select list over `alias`, each output column named as in the table. Addresses without a mask
 * (`host()`) and networks as text: PostgreSQL's canonical spelling, what enrich keys its cache by.
 */
export function selectOf(columns: readonly Column[], alias: string): string {
  const select = ({ name, type }: Column) => {
    if (type === 'inet') return `host(${alias}.${name}) AS ${name}`;
    if (type === 'cidr') return `${alias}.${name}::text AS ${name}`;
    return `${alias}.${name}`;
  };
  return [...columns.map(select), `${alias}.created_at`, `${alias}.updated_at`].join(', ');
}

/** Every statement of one table. Identifiers come from the constant table descriptions above, never from input. */
function statements<R>(table: Table<unknown, R>) {
  const { name } = table;
  const [key, ...fields] = columnsOf(table) as [Column, ...Column[]];
  const columns = [key, ...fields];
  const select = (alias: string) => selectOf(columns, alias);
  const names = columns.map((column) => column.name).join(', ');
  const values = columns.map((column, index) => `$${index + 1}::${column.type}`).join(', ');
  const keyIs = (alias: string) => `${alias}.${key.name} = $1::${key.type}`;
  const assign = fields.map((field, index) => `${field.name} = $${index + 2}::${field.type}`).join(', ');
  const fromExcluded = fields.map((field) => `${field.name} = EXCLUDED.${field.name}`).join(', ');
  const current = fields.map((field) => `t.${field.name}`).join(', ');
  const excluded = fields.map((field) => `EXCLUDED.${field.name}`).join(', ');
  const previous = (lock: string) => `WITH previous AS (SELECT ${select('p')} FROM ${name} AS p WHERE ${keyIs('p')}${lock})`;
  return {
    select,
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
