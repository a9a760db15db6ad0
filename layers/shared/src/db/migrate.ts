/**
 * Applies the SQL migrations in `layers/shared/migrations` with node-pg-migrate. Idempotent: applied files
 * are recorded in `pgmigrations`, and an advisory lock makes concurrent runs (two deploys, a deploy and
 * `npm start`) wait for each other. The CDK deploy-time trigger runs this same function.
 */
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * @example
 * const applied = await migrate('postgres://postgres@127.0.0.1:5432/postgres');
 */
export async function migrate(
  databaseUrl: string,
  options: { dir?: string; log?: (message: string) => void } = {},
): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: options.dir ?? MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Number.POSITIVE_INFINITY,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: options.log ?? (() => undefined),
  });
  return applied.map((migration) => migration.name);
}
