/**
 * After a single-user rotation, a warm instance's cached password is the old one: the pool must read the
 * secret again past the cache and retry once. Secrets Manager (Powertools' getSecret) and the server are fakes:
 * the fake server accepts only the current password, read through the pool's password function as pg does.
 */
import { jest } from '@jest/globals';
import pg from 'pg';

const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:enrich-AbCdEf';
let stored = 'old-password';
let cached: string | undefined;
const reads: { forceFetch: boolean }[] = [];

jest.unstable_mockModule('@aws-lambda-powertools/parameters/secrets', () => ({
  // Like Powertools: serves the cached value until forced, then caches what it fetched.
  getSecret: async (_name: string, options: { forceFetch?: boolean } = {}) => {
    reads.push({ forceFetch: options.forceFetch === true });
    if (cached === undefined || options.forceFetch === true) cached = stored;
    return { username: 'enrich_app', password: cached };
  },
}));

const { postgresEnv, readConfig } = await import('../../../layers/shared/src/config.ts');
const { createPool, isAuthenticationFailure } = await import('../../../layers/shared/src/clients/postgres.ts');

const env = readConfig(postgresEnv, {
  DATABASE_HOST: 'proxy.example.internal',
  DATABASE_NAME: 'log_enrichment',
  DATABASE_USER: 'enrich_app',
  DATABASE_SECRET_ARN: secretArn,
});

function authError(code = '28P01'): Error {
  return Object.assign(new Error('password authentication failed for user "enrich_app"'), { code });
}

/** A checked-out client that answers every query with one row. */
function fakeClient(): pg.PoolClient {
  return {
    query: (_text: string, _values: unknown, callback: (error: Error | undefined, result: unknown) => void) =>
      callback(undefined, { rows: [{ ok: 1 }] }),
    once: () => undefined,
    removeListener: () => undefined,
    release: () => undefined,
  } as unknown as pg.PoolClient;
}

/** The server: accepts a connection only with the password the store holds now. */
function fakeServer(failure: () => Error = authError) {
  const attempts: string[] = [];
  jest.spyOn(pg.Pool.prototype, 'connect').mockImplementation(async function (this: pg.Pool) {
    const password = await (this.options.password as () => Promise<string>)();
    attempts.push(password);
    if (password !== stored) throw failure();
    return fakeClient();
  } as never);
  return attempts;
}

beforeEach(async () => {
  jest.restoreAllMocks();
  reads.length = 0;
  stored = 'old-password';
  cached = undefined;
});

it('reads the secret again past the cache and retries once when the password was rotated', async () => {
  // Prepare: the instance cached the old password, then the rotation changed it.
  const attempts = fakeServer();
  const pool = createPool(env, 'test');
  await (await pool.connect()).release();
  stored = 'new-password';

  // Act
  const client = await pool.connect();

  // Assess
  expect(attempts).toEqual(['old-password', 'old-password', 'new-password']);
  expect(reads.filter((read) => read.forceFetch)).toHaveLength(1);
  client.release();
  await pool.end();
});

it('retries queries too (pool.query goes through connect)', async () => {
  fakeServer();
  const pool = createPool(env, 'test');
  await pool.query('SELECT 1');
  stored = 'new-password';

  const result = await pool.query('SELECT 1');

  expect(result.rows).toEqual([{ ok: 1 }]);
  expect(reads.filter((read) => read.forceFetch)).toHaveLength(1);
  await pool.end();
});

it('retries only once: a password still refused fails the connect', async () => {
  const attempts = fakeServer();
  const pool = createPool(env, 'test');
  stored = 'changed-twice';
  cached = 'old-password';
  // The store answers the old value even when forced (between the rotation's setSecret and finishSecret).
  jest.spyOn(pg.Pool.prototype, 'connect').mockImplementation(async function (this: pg.Pool) {
    attempts.push(await (this.options.password as () => Promise<string>)());
    throw authError();
  } as never);

  await expect(pool.connect()).rejects.toThrow(/password authentication failed/);
  expect(attempts).toHaveLength(2);
  await pool.end();
});

it('does not retry other failures', async () => {
  const attempts = fakeServer(() => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  const pool = createPool(env, 'test');
  stored = 'new-password';
  cached = 'old-password';

  await expect(pool.connect()).rejects.toThrow(/ECONNREFUSED/);
  expect(attempts).toHaveLength(1);
  expect(reads.some((read) => read.forceFetch)).toBe(false);
  await pool.end();
});

it('knows an authentication failure by its SQLSTATE or message', () => {
  expect(isAuthenticationFailure(authError('28P01'))).toBe(true);
  expect(isAuthenticationFailure(authError('28000'))).toBe(true);
  expect(isAuthenticationFailure(new Error('password authentication failed for user "x"'))).toBe(true);
  expect(isAuthenticationFailure(Object.assign(new Error('relation "hosts" does not exist'), { code: '42P01' }))).toBe(false);
  expect(isAuthenticationFailure('28P01')).toBe(false);
});
