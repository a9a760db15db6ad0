/**
 * The functions' PostgreSQL roles on a server of this test's own that checks passwords (own-postgres.ts):
 * the migration's group roles, the login roles the migrate function creates from their secrets, what each
 * role may do, and the pool's one retry after a single-user rotation changed the password under it.
 * Secrets Manager is a fake that behaves like Powertools' getSecret: it serves its cached value until asked
 * to fetch past the cache.
 */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import pg from 'pg';

const store = new Map<string, { username: string; password: string }>();
const cache = new Map<string, { username: string; password: string }>();
const reads: { arn: string; forceFetch: boolean }[] = [];

jest.unstable_mockModule('@aws-lambda-powertools/parameters/secrets', () => ({
  getSecret: async (arn: string, options: { forceFetch?: boolean } = {}) => {
    reads.push({ arn, forceFetch: options.forceFetch === true });
    const current = store.get(arn);
    if (current === undefined) throw new Error(`no secret ${arn}`);
    if (!cache.has(arn) || options.forceFetch === true) cache.set(arn, { ...current });
    return cache.get(arn);
  },
}));

const { createPool, readDatabaseSecret } = await import('#shared/clients/postgres.ts');
const { postgresEnv, readConfig } = await import('#shared/config.ts');
const { DATABASE_GROUPS, ensureLoginRoles } = await import('#shared/db/app-roles.ts');
const { ensureDatabase } = await import('#shared/db/database.ts');
const { migrate } = await import('#shared/db/migrate.ts');
const { PostgresMetadataSource } = await import('../../../functions/enrich/src/adapters/postgres-metadata-source.ts');
const { PgMetadataRepository } = await import('../../../functions/metadata/src/adapters/pg-metadata-repository.ts');
const { APP_ROLES } = await import('../../../infra/cdk/lib/database-roles.ts');
const { OwnPostgres } = await import('./own-postgres.ts');

const DATABASE = 'log_enrichment';
const roles = [
  { ...APP_ROLES.enrich, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:enrich-AbCdEf' },
  { ...APP_ROLES.metadata, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:metadata-AbCdEf' },
];
const [enrichRole, metadataRole] = roles as [(typeof roles)[number], (typeof roles)[number]];

let server: Awaited<ReturnType<typeof OwnPostgres.start>>;
let admin: pg.Client;
const pools: pg.Pool[] = [];

/** The pool a function builds on AWS: host, user and the secret's ARN, the password from the (fake) secret. */
function poolAs(role: (typeof roles)[number]): pg.Pool {
  const env = readConfig(postgresEnv, {
    DATABASE_HOST: '127.0.0.1',
    DATABASE_PORT: String(server.port),
    DATABASE_NAME: DATABASE,
    DATABASE_USER: role.role,
    DATABASE_SECRET_ARN: role.secretArn,
  });
  const pool = createPool(env, 'roles-test');
  pools.push(pool);
  return pool;
}

/** Can `role` log in with `password`? */
async function logsIn(role: string, password: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, database: DATABASE, user: role, password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  server = await OwnPostgres.start();
  for (const role of roles) store.set(role.secretArn, { username: role.role, password: `first-${randomUUID()}` });
  await ensureDatabase(server.url(DATABASE));
  await ensureDatabase(server.url('second'));
  // Roles are cluster-wide: two databases migrated at once both try to create the group roles.
  await Promise.all([migrate(server.url(DATABASE)), migrate(server.url('second'))]);
  admin = new pg.Client({ connectionString: server.url(DATABASE) });
  await admin.connect();
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await admin?.end();
  await server?.destroy();
});

it('creates the group roles once for the cluster and grants them in every database migrated', async () => {
  const second = new pg.Client({ connectionString: server.url('second') });
  await second.connect();
  const grants = async (client: pg.Client) =>
    (
      await client.query(
        `SELECT has_table_privilege($1, 'hosts', 'SELECT') AS read_selects, has_table_privilege($1, 'hosts', 'INSERT') AS read_inserts,
                has_table_privilege($2, 'networks', 'DELETE') AS write_deletes`,
        [DATABASE_GROUPS.read, DATABASE_GROUPS.write],
      )
    ).rows[0];

  const expected = { read_selects: true, read_inserts: false, write_deletes: true };
  expect(await grants(admin)).toEqual(expected);
  expect(await grants(second)).toEqual(expected);
  const { rows } = await admin.query('SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname', [Object.values(DATABASE_GROUPS)]);
  expect(rows).toEqual([
    { rolname: 'log_enrichment_read', rolcanlogin: false },
    { rolname: 'log_enrichment_write', rolcanlogin: false },
  ]);
  await second.end();
});

it('creates each missing login role with its secret\'s password, and leaves an existing one alone', async () => {
  // Act
  const created = await ensureLoginRoles(admin, roles, readDatabaseSecret);
  const first = store.get(enrichRole.secretArn)?.password ?? '';
  // A re-run after the rotation took over: the secret says something else, the database keeps its password.
  store.set(enrichRole.secretArn, { username: enrichRole.role, password: 'not-applied' });
  cache.clear();
  const again = await ensureLoginRoles(admin, roles, readDatabaseSecret);
  store.set(enrichRole.secretArn, { username: enrichRole.role, password: first });
  cache.clear();

  // Assess
  expect(created).toEqual(['enrich_app', 'metadata_app']);
  expect(again).toEqual([]);
  expect(await logsIn(enrichRole.role, first)).toBe(true);
  expect(await logsIn(enrichRole.role, 'not-applied')).toBe(false);
});

it('gives a role left by an earlier secret (its Setup stack rolled back) the new secret\'s password, once', async () => {
  // Prepare: enrich_app exists (previous test) with the password of the secret it notes
  const replaced = { ...enrichRole, secretArn: `${enrichRole.secretArn}-recreated` };
  store.set(replaced.secretArn, { username: enrichRole.role, password: 'from-the-new-secret' });
  cache.clear();
  // Act
  const set = await ensureLoginRoles(admin, [replaced], readDatabaseSecret);
  const again = await ensureLoginRoles(admin, [replaced], readDatabaseSecret);
  // Assess
  expect(set).toEqual(['enrich_app']);
  expect(again).toEqual([]);
  expect(await logsIn(enrichRole.role, 'from-the-new-secret')).toBe(true);
  // Put the first secret back for the tests below
  const original = await ensureLoginRoles(admin, [enrichRole], readDatabaseSecret);
  expect(original).toEqual(['enrich_app']);
});

it('lets enrich read the metadata and nothing more', async () => {
  const pool = poolAs(enrichRole);

  const found = await new PostgresMetadataSource(pool, { queryTimeoutMs: 2000 }).fetch({
    hostIps: ['10.0.0.1'],
    hostnames: ['web-1'],
    services: ['checkout'],
    networkIps: ['10.0.0.1'],
  });

  expect(found.hostsByIp.size + found.services.size).toBe(0);
  await expect(pool.query(`INSERT INTO services (name, team, owner, tier, version, cost_center) VALUES ('x', 't', 'o', '1', '1', 'c')`)).rejects.toMatchObject({
    code: '42501',
  });
  await expect(pool.query('DELETE FROM hosts')).rejects.toMatchObject({ code: '42501' });
  await expect(pool.query('CREATE TABLE scratch (id int)')).rejects.toMatchObject({ code: '42501' });
});

it('lets metadata read and write the metadata tables, but not change the schema', async () => {
  const pool = poolAs(metadataRole);
  const repository = new PgMetadataRepository(pool);
  const service = { name: 'checkout', team: 'payments', owner: 'ana', tier: '1', version: '2.3.0', costCenter: 'cc-1', tags: {} };

  await repository.services.insert(service);
  await repository.services.replace({ ...service, version: '2.4.0' });
  const removed = await repository.services.remove('checkout');

  expect(removed).toMatchObject({ name: 'checkout', version: '2.4.0' });
  await expect(pool.query('DROP TABLE hosts')).rejects.toMatchObject({ code: '42501' });
});

it('retries once with the secret read past the cache when a rotation changed the password', async () => {
  // Prepare: a warm pool that has used (and cached) the current password.
  const pool = poolAs(enrichRole);
  await pool.query('SELECT 1');
  // Act: the rotation sets a new password in the database and the secret; the cache still holds the old one.
  const rotated = `rotated-${randomUUID()}`;
  await admin.query(`ALTER ROLE ${admin.escapeIdentifier(enrichRole.role)} PASSWORD ${admin.escapeLiteral(rotated)}`);
  store.set(enrichRole.secretArn, { username: enrichRole.role, password: rotated });
  // The open connection lives on after a password change; holding it makes the next query open a new one.
  const held = await pool.connect();
  reads.length = 0;

  const { rows } = await pool.query<{ ok: number }>('SELECT 1 AS ok');

  // Assess: one refused attempt with the cached password, one forced read, one success.
  expect(rows).toEqual([{ ok: 1 }]);
  await expect(held.query('SELECT 1')).resolves.toMatchObject({ rowCount: 1 });
  held.release();
  expect(reads).toEqual([
    { arn: enrichRole.secretArn, forceFetch: false },
    { arn: enrichRole.secretArn, forceFetch: true },
    { arn: enrichRole.secretArn, forceFetch: false },
  ]);
});
