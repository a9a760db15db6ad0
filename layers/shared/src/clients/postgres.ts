/**
 * pg pool factory. One pool per process, small (Lambda runs one request at a time; RDS Proxy multiplexes),
 * with statement and connection timeouts so a slow database cannot hold a request for the driver's default.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import pg from 'pg';
import type { PostgresEnv } from '../config.ts';
import { logger } from '../observability.ts';

/** How long a fetched database password is reused before Secrets Manager is asked again (rotation). */
const SECRET_MAX_AGE_SECONDS = 300;

/**
 * @example
 * const pool = createPool(readConfig(postgresEnv));
 * const { rows } = await pool.query('SELECT 1');
 */
export function createPool(env: PostgresEnv, applicationName = 'log-enrichment'): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(env),
    max: env.DATABASE_POOL_MAX,
    application_name: applicationName,
    connectionTimeoutMillis: env.DATABASE_TIMEOUT_MS,
    statement_timeout: env.DATABASE_TIMEOUT_MS,
    query_timeout: env.DATABASE_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    ...(env.DATABASE_SSL === 'require' ? { ssl: { rejectUnauthorized: true } } : {}),
  });
  // An idle client losing its connection emits 'error' on the pool; without a listener Node would crash.
  // The next query gets a fresh connection (or fails and is handled by its caller).
  pool.on('error', (error) => logger.warn('idle PostgreSQL connection failed', { error }));
  return pool;
}

/**
 * A connection URL with the password filled in, for tools that take a URL (node-pg-migrate).
 * DATABASE_URL as is, or built from DATABASE_HOST/PORT/NAME/USER and the password in DATABASE_SECRET_ARN.
 *
 * @example
 * await migrate(await resolveDatabaseUrl(readConfig(postgresEnv)));
 */
export async function resolveDatabaseUrl(env: PostgresEnv): Promise<string> {
  if (env.DATABASE_URL !== undefined) return env.DATABASE_URL;
  const { host, database, user, secretArn } = requireParts(env);
  const url = new URL(`postgres://${host}:${env.DATABASE_PORT}/`);
  url.username = user;
  url.password = await secretPassword(secretArn);
  url.pathname = `/${database}`;
  // pg reads sslmode from the URL; verify-full checks the RDS Proxy certificate against the public CAs.
  if (env.DATABASE_SSL === 'require') url.searchParams.set('sslmode', 'verify-full');
  return url.toString();
}

function connectionConfig(env: PostgresEnv): pg.PoolConfig {
  if (env.DATABASE_URL !== undefined) return { connectionString: env.DATABASE_URL };
  const { host, database, user, secretArn } = requireParts(env);
  // pg calls the password function on every new connection; getSecret caches the value for
  // SECRET_MAX_AGE_SECONDS, so a warm instance asks Secrets Manager at most once per interval.
  return { host, port: env.DATABASE_PORT, database, user, password: () => secretPassword(secretArn) };
}

function requireParts(env: PostgresEnv): { host: string; database: string; user: string; secretArn: string } {
  const { DATABASE_HOST: host, DATABASE_NAME: database, DATABASE_USER: user, DATABASE_SECRET_ARN: secretArn } = env;
  // postgresEnv's refinement guarantees these when DATABASE_URL is absent; this narrows the types.
  if (host === undefined || database === undefined || user === undefined || secretArn === undefined) {
    throw new Error('DATABASE_HOST, DATABASE_NAME, DATABASE_USER and DATABASE_SECRET_ARN are required');
  }
  return { host, database, user, secretArn };
}

/** The `password` field of an RDS-style JSON secret (`{"username","password",…}`). */
async function secretPassword(secretArn: string): Promise<string> {
  const secret = await getSecret<{ password?: unknown }>(secretArn, {
    transform: 'json',
    maxAge: SECRET_MAX_AGE_SECONDS,
  });
  if (typeof secret?.password !== 'string') throw new Error(`secret ${secretArn} has no string "password" field`);
  return secret.password;
}
