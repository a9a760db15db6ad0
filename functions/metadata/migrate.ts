/**
 * Deploy-time migration handler (AWS target): a CDK trigger runs it after the database and RDS Proxy exist,
 * and the deploy fails if it throws. It applies the same idempotent SQL migrations as `npm run migrate`, then
 * creates the functions' login roles that do not exist yet (DATABASE_APP_ROLES; see `#shared/db/app-roles.ts`).
 * It is the only function that connects as the master user.
 *
 * `#shared/db/migrate.ts` finds its SQL from its own module URL (`../../migrations`), which points nowhere once
 * esbuild has folded everything into one `index.mjs`. The CDK construct copies `layers/shared/migrations` next
 * to the bundle (commandHooks.afterBundling), and this handler passes that folder explicitly.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isAuthenticationFailure, readDatabaseSecret, resolveDatabaseUrl } from '#shared/clients/postgres.ts';
import { postgresEnv, readConfig } from '#shared/config.ts';
import { appRolesEnv, ensureLoginRoles } from '#shared/db/app-roles.ts';
import { migrate } from '#shared/db/migrate.ts';
import { logger } from '#shared/observability.ts';

/** `migrations/` beside the running module: `/var/task/migrations` in the deployed bundle. */
export const BUNDLED_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

export const migrateEnv = postgresEnv.and(appRolesEnv);

/**
 * Reads and checks the configuration from `process.env` on each call (a trigger calls it once per deploy).
 *
 * @example
 * const { applied, createdRoles } = await handler(); // ['1764200000000_metadata', …] and ['enrich_app', …] on a fresh database
 */
export async function handler(): Promise<{ applied: string[]; createdRoles: string[] }> {
  const config = readConfig(migrateEnv, process.env);
  const run = async (databaseUrl: string) => {
    const applied = await migrate(databaseUrl, { dir: BUNDLED_MIGRATIONS_DIR, log: (message) => logger.debug(message) });
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: config.DATABASE_TIMEOUT_MS });
    await client.connect();
    try {
      return { applied, createdRoles: await ensureLoginRoles(client, config.DATABASE_APP_ROLES, readDatabaseSecret) };
    } finally {
      await client.end();
    }
  };
  let result: { applied: string[]; createdRoles: string[] };
  try {
    result = await run(await resolveDatabaseUrl(config));
  } catch (error) {
    // The master password rotated while a warm instance held the old one: read it again and retry once.
    if (!isAuthenticationFailure(error)) throw error;
    logger.warn('PostgreSQL refused the cached master password; reading the secret again and retrying once');
    result = await run(await resolveDatabaseUrl(config, { fresh: true }));
  }
  logger.info('migrations applied', { ...result, count: result.applied.length });
  return result;
}
