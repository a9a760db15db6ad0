/**
 * `MetadataBulkStore` over PostgreSQL: the bulk import's writes in one transaction on one connection, and the
 * export's keyset pages from one snapshot. Same tables, row mapping and error translation as the single-record
 * repository (`pg-metadata-repository.ts`).
 *
 * Why batches of `UPSERT_BATCH` rows, each one `INSERT … SELECT FROM jsonb_to_recordset($1)`: one bind parameter
 * whatever the column count, one round trip per batch, and every statement short enough for the pool's
 * statement timeout (DATABASE_TIMEOUT_MS) however large the import, while the transaction around them keeps
 * the import all or nothing. Before each batch, the rows it will replace are read and locked (`FOR UPDATE`, by
 * key through the primary key index), so the one invalidation knows a host's old address. (Joining them in the
 * upsert statement instead, as the single-record upsert does, made the planner nest loops over two CTEs:
 * 16 s instead of a few for 100,000 updated hosts.)
 */
import type pg from 'pg';
import type {
  BulkChange,
  BulkTransaction,
  KindRecords,
  MetadataBulkStore,
  Stored,
} from '../ports.ts';
import {
  type Column,
  columnsOf,
  type StoredRow,
  selectOf,
  storedFromRow,
  TABLES,
  type Table,
  translateError,
} from './pg-metadata-repository.ts';

/** Rows per statement. */
const UPSERT_BATCH = 2000;

type AnyTable = Table<unknown, object>;

/** The key as text, for joins between a table's rows and rows selected with `selectOf` (cidr is selected as text). */
const keyText = (key: Column, alias: string) => (key.type === 'cidr' ? `${alias}.${key.name}::text` : `${alias}.${key.name}`);

function bulkStatements(table: AnyTable) {
  const [key, ...fields] = columnsOf(table) as [Column, ...Column[]];
  const columns = [key, ...fields];
  const names = columns.map((column) => column.name).join(', ');
  const recordType = columns.map((column) => `${column.name} ${column.type}`).join(', ');
  const fromExcluded = fields.map((field) => `${field.name} = EXCLUDED.${field.name}`).join(', ');
  const current = fields.map((field) => `t.${field.name}`).join(', ');
  const excluded = fields.map((field) => `EXCLUDED.${field.name}`).join(', ');
  return {
    // The rows an upsert will replace, locked until the transaction ends, so they are what it replaced.
    previous: `SELECT ${selectOf(columns, 'p')} FROM ${table.name} AS p WHERE p.${key.name} = ANY($1::${key.type}[]) FOR UPDATE`,
    upsertMany:
      `WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${recordType})) ` +
      `INSERT INTO ${table.name} AS t (${names}) SELECT ${names} FROM input ` +
      `ON CONFLICT (${key.name}) DO UPDATE SET ${fromExcluded}, updated_at = now() ` +
      `WHERE (${current}) IS DISTINCT FROM (${excluded}) RETURNING ${keyText(key, 't')} AS key`,
    pageFirst: `SELECT ${selectOf(columns, 't')} FROM ${table.name} AS t ORDER BY t.${key.name} LIMIT $1`,
    pageAfter: `SELECT ${selectOf(columns, 't')} FROM ${table.name} AS t WHERE t.${key.name} > $2::${key.type} ORDER BY t.${key.name} LIMIT $1`,
  };
}

const STATEMENTS = {
  hosts: bulkStatements(TABLES.hosts as AnyTable),
  services: bulkStatements(TABLES.services as AnyTable),
  networks: bulkStatements(TABLES.networks as AnyTable),
};

/**
 * @example
 * const bulk = new PgMetadataBulkStore(pool);
 * await bulk.transaction((tx) => tx.upsertMany('hosts', hosts));
 * for await (const page of bulk.pages('hosts', 1000)) process.stdout.write(`${page.length}\n`);
 */
export class PgMetadataBulkStore implements MetadataBulkStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async transaction<R>(work: (transaction: BulkTransaction) => Promise<R>): Promise<R> {
    const client = await this.#connect();
    let began = false;
    try {
      await client.query('BEGIN');
      began = true;
      const result = await work(new PgBulkTransaction(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (began) await client.query('ROLLBACK').catch(() => undefined);
      throw translateError(TABLES.hosts, error, undefined);
    } finally {
      client.release();
    }
  }

  async *pages<K extends keyof KindRecords>(kind: K, pageSize: number, after?: string): AsyncIterable<Stored<KindRecords[K]>[]> {
    const table = TABLES[kind] as unknown as Table<KindRecords[K], object>;
    const sql = STATEMENTS[kind];
    const client = await this.#connect();
    let open = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      open = true;
      let cursor = after;
      for (;;) {
        const { rows } =
          cursor === undefined
            ? await client.query<StoredRow<object>>(sql.pageFirst, [pageSize])
            : await client.query<StoredRow<object>>(sql.pageAfter, [pageSize, cursor]);
        const last = rows.at(-1);
        if (last === undefined) break;
        yield rows.map((row) => storedFromRow(table, row));
        if (rows.length < pageSize) break;
        cursor = String((last as Record<string, unknown>)[table.key]);
      }
      await client.query('COMMIT');
      open = false;
    } catch (error) {
      throw translateError(table, error, undefined);
    } finally {
      // Also when the reader stopped early (a `return` into this generator): end the snapshot before release.
      if (open) await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw translateError(TABLES.hosts, error, undefined);
    }
  }
}

class PgBulkTransaction implements BulkTransaction {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  async upsertMany<K extends keyof KindRecords>(kind: K, records: readonly KindRecords[K][]): Promise<BulkChange<KindRecords[K]>[]> {
    const table = TABLES[kind] as unknown as Table<KindRecords[K], object>;
    const changes: BulkChange<KindRecords[K]>[] = [];
    for (let start = 0; start < records.length; start += UPSERT_BATCH) {
      const batch = records.slice(start, start + UPSERT_BATCH);
      const rows = batch.map((record) => table.toRow(record));
      const keys = rows.map((row) => (row as Record<string, unknown>)[table.key]);
      try {
        const previous = await this.#client.query<StoredRow<object>>(STATEMENTS[kind].previous, [keys]);
        const before = new Map(previous.rows.map((row) => [String((row as Record<string, unknown>)[table.key]), row]));
        const written = await this.#client.query<{ key: string }>(STATEMENTS[kind].upsertMany, [JSON.stringify(rows)]);
        for (const { key } of written.rows) {
          const row = before.get(key);
          changes.push({ previous: row === undefined ? undefined : table.fromRow(row) });
        }
      } catch (error) {
        throw translateError(table, error, undefined);
      }
    }
    return changes;
  }

  async hostsHoldingIps(ips: readonly string[]): Promise<Map<string, string>> {
    if (ips.length === 0) return new Map();
    const { rows } = await this.#client.query<{ ip: string; hostname: string }>(
      'SELECT host(ip_address) AS ip, hostname FROM hosts WHERE ip_address = ANY($1::inet[]) FOR UPDATE',
      [ips],
    );
    return new Map(rows.map((row) => [row.ip, row.hostname]));
  }
}
