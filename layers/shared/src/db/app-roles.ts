/**
 * The functions' PostgreSQL roles. A migration (layers/shared/migrations/1764300000000_app_roles.sql) creates the
 * NOLOGIN groups that hold the privileges; the migrate function then creates one LOGIN role per function, a
 * member of its group, with the password from that function's own secret, and notes that secret's ARN in the
 * role's comment. Once a role exists with the same secret noted, its password is left alone: the secret's
 * rotation owns it, and setting it again from a re-run (a deploy during a rotation) would leave the database
 * and the secret's current value apart. A role that notes another secret (or none) takes the new secret's
 * password: the Setup stack that held the old secret was rolled back or replaced, and with it the password
 * only the database still knew.
 */
import type pg from 'pg';
import * as z from 'zod';

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
 * Creates each missing login role with its secret's password (or gives an existing one the password of a secret
 * it does not know yet) and makes every role a member of its group. Returns the roles whose password it set.
 * Runs under an advisory lock, so concurrent runs (many test databases of one server) never race a CREATE ROLE:
 * a failed statement would put the password in the server's log.
 *
 * @example
 * await ensureLoginRoles(client, [{ role: 'enrich_app', group: 'log_enrichment_read', secretArn }], readDatabaseSecret);
 */
export async function ensureLoginRoles(client: pg.ClientBase, roles: readonly AppRole[], readSecret: RoleSecretReader): Promise<string[]> {
  const passwordSet: string[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [ROLES_LOCK]);
  try {
    for (const { role, group, secretArn } of roles) {
      const { rows } = await client.query<{ note: string | null }>(
        "SELECT shobj_description(oid, 'pg_authid') AS note FROM pg_roles WHERE rolname = $1",
        [role],
      );
      const exists = rows.length > 0;
      if (!exists || rows[0]?.note !== secretArn) {
        const { username, password } = await readSecret(secretArn);
        if (username !== undefined && username !== role) {
          throw new Error(`secret ${secretArn} is for "${username}", not for role "${role}"`);
        }
        // Identifiers and the password cannot be bound as parameters: both are escaped by pg.
        const name = client.escapeIdentifier(role);
        await client.query(`${exists ? 'ALTER' : 'CREATE'} ROLE ${name} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
        await client.query(`COMMENT ON ROLE ${name} IS ${client.escapeLiteral(secretArn)}`);
        passwordSet.push(role);
      }
      await client.query(`GRANT ${client.escapeIdentifier(group)} TO ${client.escapeIdentifier(role)}`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [ROLES_LOCK]);
  }
  return passwordSet;
}

/** The advisory lock key of ensureLoginRoles (any fixed bigint; roles are server-wide, so is the lock). */
const ROLES_LOCK = 7_431_220_261_201n.toString();
