/**
 * pg pool factory. One pool per process, small (Lambda runs one request at a time; RDS Proxy multiplexes),
 * with statement and connection timeouts so a slow database cannot hold a request for the driver's default.
 */
import pg from 'pg';
import type { PostgresEnv } from '../config.ts';
import { logger } from '../observability.ts';

/**
 * @example
 * const pool = createPool(readConfig(postgresEnv));
 * const { rows } = await pool.query('SELECT 1');
 */
export function createPool(env: PostgresEnv, applicationName = 'log-enrichment'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: env.DATABASE_URL,
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
