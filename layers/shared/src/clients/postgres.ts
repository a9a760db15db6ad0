/**
 * pg pool factory. One pool per process, small (Lambda runs one request at a time; RDS Proxy multiplexes),
 * with statement and connection timeouts so a slow database cannot hold a request for the driver's default.
 *
 * Passwords rotate (Secrets Manager single-user rotation changes the role's password in place). Connections
 * already open keep working, but a warm instance would keep sending the cached old password for new ones
 * until the cache expires. So a connection refused for its password (28P01, or 28000 as a proxy may answer)
 * fetches the secret again, past the cache, and is retried once. Between the rotation's setSecret and
 * finishSecret steps even a fresh read is the old password for a few seconds: that retry fails too, and the
 * caller's own failure handling (enrich's breaker, metadata's 503) takes over.
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
  const secretArn = env.DATABASE_URL === undefined ? requireParts(env).secretArn : undefined;
  const pool = new PasswordRetryPool(secretArn, {
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
export async function resolveDatabaseUrl(env: PostgresEnv, options: { fresh?: boolean } = {}): Promise<string> {
  if (env.DATABASE_URL !== undefined) return env.DATABASE_URL;
  const { host, database, user, secretArn } = requireParts(env);
  const url = new URL(`postgres://${host}:${env.DATABASE_PORT}/`);
  url.username = user;
  url.password = (await readDatabaseSecret(secretArn, options)).password;
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
  return { host, port: env.DATABASE_PORT, database, user, password: async () => (await readDatabaseSecret(secretArn)).password };
}

/** A connection refused for its credentials: invalid password (28P01) or authorization (28000). */
export function isAuthenticationFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = 'code' in error ? error.code : undefined;
  return code === '28P01' || code === '28000' || /password authentication failed/i.test(error.message);
}

/**
 * `connect` (which `query` goes through) retried once after an authentication failure, with the secret read
 * again past the cache: the password function then returns the current one.
 */
class PasswordRetryPool extends pg.Pool {
  readonly #secretArn: string | undefined;
  #refreshing: Promise<unknown> | undefined;

  constructor(secretArn: string | undefined, config: pg.PoolConfig) {
    super(config);
    this.#secretArn = secretArn;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | undefined {
    const attempt = this.#connectWithRetry();
    if (callback === undefined) return attempt;
    attempt.then(
      (client) => callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean | undefined)),
      (error: Error) => callback(error, undefined, () => undefined),
    );
    return undefined;
  }

  async #connectWithRetry(): Promise<pg.PoolClient> {
    try {
      return await super.connect();
    } catch (error) {
      const secretArn = this.#secretArn;
      if (secretArn === undefined || !isAuthenticationFailure(error)) throw error;
      logger.warn('PostgreSQL refused the cached password; reading the secret again and retrying once', {
        code: (error as { code?: unknown }).code,
      });
      // Concurrent failures share one read.
      this.#refreshing ??= readDatabaseSecret(secretArn, { fresh: true }).finally(() => {
        this.#refreshing = undefined;
      });
      await this.#refreshing;
      return await super.connect();
    }
  }
}

function requireParts(env: PostgresEnv): { host: string; database: string; user: string; secretArn: string } {
  const { DATABASE_HOST: host, DATABASE_NAME: database, DATABASE_USER: user, DATABASE_SECRET_ARN: secretArn } = env;
  // postgresEnv's refinement guarantees these when DATABASE_URL is absent; this narrows the types.
  if (host === undefined || database === undefined || user === undefined || secretArn === undefined) {
    throw new Error('DATABASE_HOST, DATABASE_NAME, DATABASE_USER and DATABASE_SECRET_ARN are required');
  }
  return { host, database, user, secretArn };
}

/**
 * An RDS-style JSON secret (`{"username","password",…}`), cached SECRET_MAX_AGE_SECONDS; `fresh` reads it from
 * Secrets Manager whatever the cache holds (and refreshes the cache).
 *
 * @example
 * const { username, password } = await readDatabaseSecret(arn, { fresh: true });
 */
export async function readDatabaseSecret(
  secretArn: string,
  options: { fresh?: boolean } = {},
): Promise<{ username: string | undefined; password: string }> {
  const secret = await getSecret<{ username?: unknown; password?: unknown }>(secretArn, {
    transform: 'json',
    maxAge: SECRET_MAX_AGE_SECONDS,
    ...(options.fresh === true ? { forceFetch: true } : {}),
  });
  if (typeof secret?.password !== 'string') throw new Error(`secret ${secretArn} has no string "password" field`);
  return { username: typeof secret.username === 'string' ? secret.username : undefined, password: secret.password };
}
