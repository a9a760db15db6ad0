/**
 * The migrate function's role list (DATABASE_APP_ROLES) and the group names it shares with the SQL migration.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, readConfig } from '#shared/config.ts';
import { appRolesEnv, DATABASE_GROUPS } from '#shared/db/app-roles.ts';
import { MIGRATIONS_DIR } from '#shared/db/migrate.ts';

const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:enrich-AbCdEf';

it('creates, in the migration, exactly the groups the login roles are granted', () => {
  const sql = readFileSync(join(MIGRATIONS_DIR, '1764300000000_app_roles.sql'), 'utf8');
  const up = sql.slice(0, sql.indexOf('-- Down Migration'));

  const created = [...up.matchAll(/CREATE ROLE (\w+) NOLOGIN/g)].map((match) => match[1]);

  expect(created.sort()).toEqual(Object.values(DATABASE_GROUPS).sort());
});

it('reads no roles when DATABASE_APP_ROLES is absent (local runs)', () => {
  expect(readConfig(appRolesEnv, {}).DATABASE_APP_ROLES).toEqual([]);
});

it('reads the roles, their groups and secrets', () => {
  const value = JSON.stringify([{ role: 'enrich_app', group: 'log_enrichment_read', secretArn }]);

  expect(readConfig(appRolesEnv, { DATABASE_APP_ROLES: value }).DATABASE_APP_ROLES).toEqual([
    { role: 'enrich_app', group: 'log_enrichment_read', secretArn },
  ]);
});

it.each([
  ['not JSON', '[{role:'],
  ['an unknown group', JSON.stringify([{ role: 'enrich_app', group: 'rds_superuser', secretArn }])],
  ['a role name that would need quoting', JSON.stringify([{ role: 'Enrich"; DROP', group: 'log_enrichment_read', secretArn }])],
  ['a secret that is not an ARN', JSON.stringify([{ role: 'enrich_app', group: 'log_enrichment_read', secretArn: 'enrich' }])],
])('refuses %s, naming the variable', (_what, value) => {
  expect(() => readConfig(appRolesEnv, { DATABASE_APP_ROLES: value })).toThrow(ConfigError);
  expect(() => readConfig(appRolesEnv, { DATABASE_APP_ROLES: value })).toThrow(/DATABASE_APP_ROLES/);
});
