/**
 * Deploy-time migration handler (AWS target): a CDK trigger runs it after the database and RDS Proxy exist,
 * and the deploy fails if it throws. It applies the same idempotent SQL migrations as `npm run migrate`.
 *
 * `#shared/db/migrate.ts` finds its SQL from its own module URL (`../../migrations`), which points nowhere once
 * esbuild has folded everything into one `index.mjs`. The CDK construct copies `layers/shared/migrations` next
 * to the bundle (commandHooks.afterBundling), and this handler passes that folder explicitly.
 */
import { fileURLToPath } from 'node:url';
import { resolveDatabaseUrl } from '#shared/clients/postgres.ts';
import { postgresEnv, readConfig } from '#shared/config.ts';
import { migrate } from '#shared/db/migrate.ts';
import { logger } from '#shared/observability.ts';

/** `migrations/` beside the running module: `/var/task/migrations` in the deployed bundle. */
export const BUNDLED_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Reads and checks the PostgreSQL configuration from `process.env` on each call (a trigger calls it once per deploy).
 *
 * @example
 * const { applied } = await handler(); // ['1764200000000_metadata'] on a fresh database, [] afterwards
 */
export async function handler(): Promise<{ applied: string[] }> {
  const config = readConfig(postgresEnv, process.env);
  const applied = await migrate(await resolveDatabaseUrl(config), {
    dir: BUNDLED_MIGRATIONS_DIR,
    log: (message) => logger.debug(message),
  });
  logger.info('migrations applied', { applied, count: applied.length });
  return { applied };
}
