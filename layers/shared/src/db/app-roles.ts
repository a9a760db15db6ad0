/**
 * The functions' PostgreSQL roles. A migration (layers/shared/migrations/1764300000000_app_roles.sql) creates the
 * NOLOGIN groups that hold the privileges; the migrate function then creates one LOGIN role per function, a
 * member of its group, with the password from that function's own secret. It does so only when the role is
 * missing: afterwards the secret's rotation owns the password, and setting it again from a re-run (a deploy
 * during a rotation) would leave the database and the secret's current value apart.
 */
import type pg from 'pg';
import { z } from 'zod';

/** NOLOGIN group roles of the migration (keep the two in step: tests/unit/shared/app-roles.test.ts). */
export const DATABASE_GROUPS = {
  /** SELECT on the metadata tables: enrich. */
  read: 'log_enrichment_read',
  /** SELECT, INSERT, UPDATE, DELETE on them: metadata. */
  write: 'log_enrichment_write',
} as const;

const appRole = z.object({
  role: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase PostgreSQL identifier'),
  group: z.enum([DATABASE_GROUPS.read, DATABASE_GROUPS.write]),
  secretArn: z.string().startsWith('arn:'),
});
export type AppRole = z.infer<typeof appRole>;

/** DATABASE_APP_ROLES: JSON `[{role, group, secretArn}]`; absent means none (local runs). */
export const appRolesEnv = z.object({
  DATABASE_APP_ROLES: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return [];
      try {
        return JSON.parse(value) as unknown;
      } catch {
        context.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(z.array(appRole)),
});
export type AppRolesEnv = z.infer<typeof appRolesEnv>;

/** The credentials in a role's secret. */
export type RoleSecretReader = (secretArn: string) => Promise<{ username: string | undefined; password: string }>;

/**
 * Creates each missing login role with its secret's password and makes every role a member of its group.
 * Returns the roles it created.
 *
 * @example
 * await ensureLoginRoles(client, [{ role: 'enrich_app', group: 'log_enrichment_read', secretArn }], readDatabaseSecret);
 */
export async function ensureLoginRoles(client: pg.ClientBase, roles: readonly AppRole[], readSecret: RoleSecretReader): Promise<string[]> {
  const created: string[] = [];
  for (const { role, group, secretArn } of roles) {
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (rowCount === 0) {
      const { username, password } = await readSecret(secretArn);
      if (username !== undefined && username !== role) {
        throw new Error(`secret ${secretArn} is for "${username}", not for role "${role}"`);
      }
      try {
        // Identifiers and the password cannot be bound as parameters: both are escaped by pg.
        await client.query(`CREATE ROLE ${client.escapeIdentifier(role)} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
        created.push(role);
      } catch (error) {
        // A concurrent run created it first: its password came from the same secret.
        if (!(error instanceof Error && 'code' in error && (error.code === '42710' || error.code === '23505'))) throw error;
      }
    }
    await client.query(`GRANT ${client.escapeIdentifier(group)} TO ${client.escapeIdentifier(role)}`);
  }
  return created;
}
