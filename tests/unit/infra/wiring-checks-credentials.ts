/**
 * Wiring checks, credentials: who the functions log in as. The cache with ElastiCache IAM authentication
 * (one user per function, the replication group's user group, `elasticache:Connect`), and PostgreSQL with
 * one login role per function (its own secret, rotated only once the migration has created the role).
 */
import { fakeArn, type Located, type TemplateModel } from './template-eval.ts';
import { allows, dependsOn, type FunctionInfo, functionByName, functions, nameOf, statementsOf, verdict } from './template-match.ts';
import { SECRET_ARN } from './wiring-checks-access.ts';

const CONNECT = 'elasticache:Connect';

const same = (a: Located, b: Located) => a.stack === b.stack && a.id === b.id;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** Whether the on/off flags of a Valkey ACL rule list leave the user switched off (the last flag wins). */
function switchedOff(accessString: string): boolean {
  const flags = accessString.split(/\s+/).filter((rule) => rule === 'on' || rule === 'off');
  return flags.at(-1) === 'off';
}

/**
 * The cache takes no anonymous client: every replication group has a user group whose `default` user is
 * switched off. Every function given REDIS_URL connects over TLS with REDIS_AUTH=aws-iam as REDIS_USER, an
 * ElastiCache user with IAM authentication (whose UserId equals its UserName, as IAM authentication requires)
 * in a user group of that replication group; REDIS_CACHE_NAME is the replication group id (the token is
 * signed for it); its role allows elasticache:Connect on the replication group and on its own user, and on
 * no other user.
 */
export const cacheIamWired = (model: TemplateModel): number => {
  const caches = model.resources('AWS::ElastiCache::ReplicationGroup');
  if (caches.length === 0) return 0;
  const users = model.resources('AWS::ElastiCache::User');
  const userGroups = model.resources('AWS::ElastiCache::UserGroup');
  const groupsOf = (cache: Located) =>
    strings(model.prop(cache, 'UserGroupIds')).map((id) => ({ id, group: userGroups.find((g) => model.ref(g) === id) }));
  const problems: string[] = [];
  let verified = 0;
  for (const cache of caches) {
    verified += 1;
    const groups = groupsOf(cache);
    if (groups.length === 0) {
      problems.push(`${cache.id}: no user group (UserGroupIds), so the built-in default user (no password, every command) lets anyone in`);
    }
    for (const { id, group } of groups) {
      if (group === undefined) {
        problems.push(`${cache.id}: user group ${id} is not in the templates`);
        continue;
      }
      const members = strings(model.prop(group, 'UserIds')).map((userId) => users.find((u) => model.ref(u) === userId));
      for (const user of members) {
        if (user === undefined || model.prop(user, 'UserName') !== 'default') continue;
        verified += 1;
        const access = String(model.prop(user, 'AccessString') ?? '');
        if (!switchedOff(access)) problems.push(`${group.id}: its default user ${user.id} is not switched off (AccessString "${access}")`);
      }
    }
  }
  for (const fn of functions(model)) {
    if (fn.env.REDIS_URL === undefined) continue;
    verified += 1;
    problems.push(...cacheClientProblems(model, fn, users, groupsOf));
  }
  return verdict(problems, verified);
};

function cacheClientProblems(
  model: TemplateModel,
  fn: FunctionInfo,
  users: readonly Located[],
  groupsOf: (cache: Located) => { id: string; group: Located | undefined }[],
): string[] {
  const who = nameOf(fn);
  const url = new URL(fn.env.REDIS_URL ?? '');
  const cache = model.byValue(url.hostname);
  if (cache?.resource.Type !== 'AWS::ElastiCache::ReplicationGroup') return [`${who}: REDIS_URL host ${url.hostname} is no replication group of the app`];
  const problems: string[] = [];
  const cacheId = model.ref(cache);
  // ElastiCache accepts IAM authentication only with in-transit encryption.
  if (url.protocol !== 'rediss:' || model.prop(cache, 'TransitEncryptionEnabled') !== true) {
    problems.push(`${who}: IAM authentication needs TLS (REDIS_URL ${url.protocol}//, TransitEncryptionEnabled=${model.prop(cache, 'TransitEncryptionEnabled')})`);
  }
  if (fn.env.REDIS_AUTH !== 'aws-iam') problems.push(`${who}: REDIS_URL without REDIS_AUTH=aws-iam (REDIS_AUTH=${fn.env.REDIS_AUTH ?? '(unset)'})`);
  if (fn.env.REDIS_CACHE_NAME !== cacheId) {
    problems.push(`${who}: REDIS_CACHE_NAME=${fn.env.REDIS_CACHE_NAME ?? '(unset)'} is not the replication group id ${cacheId}`);
  }
  const user = users.find((u) => model.prop(u, 'UserName') === fn.env.REDIS_USER);
  if (user === undefined) {
    problems.push(`${who}: REDIS_USER=${fn.env.REDIS_USER ?? '(unset)'} is no ElastiCache user of the app`);
  } else {
    const mode = (model.prop(user, 'AuthenticationMode') as { Type?: string } | undefined)?.Type;
    if (mode !== 'iam') problems.push(`${who}: its cache user ${user.id} has AuthenticationMode ${mode ?? '(none)'}, not iam`);
    if (model.prop(user, 'UserId') !== model.prop(user, 'UserName')) problems.push(`${who}: its cache user ${user.id} has a UserId other than its UserName`);
    const grouped = groupsOf(cache).some(({ group }) => group !== undefined && strings(model.prop(group, 'UserIds')).includes(model.ref(user)));
    if (!grouped) problems.push(`${who}: its cache user ${user.id} is in no user group of ${cache.id}`);
  }
  const statements = fn.role === undefined ? [] : statementsOf(model, fn);
  const cacheArn = fakeArn('elasticache', `replicationgroup:${cacheId}`);
  if (!allows(statements, CONNECT, cacheArn)) problems.push(`${who}: role lacks ${CONNECT} on ${cacheArn}`);
  if (user !== undefined && !allows(statements, CONNECT, model.att(user, 'Arn'))) {
    problems.push(`${who}: role lacks ${CONNECT} on ${model.att(user, 'Arn')}`);
  }
  for (const other of users) {
    if (user !== undefined && same(other, user)) continue;
    if (allows(statements, CONNECT, model.att(other, 'Arn'))) problems.push(`${who}: may connect as cache user ${model.prop(other, 'UserName')} (${other.id})`);
  }
  return problems;
}

interface AppRole {
  readonly role: string;
  readonly secretArn: string;
}

/**
 * The master secrets of the app's databases: the secret of a cluster's MasterUserPassword `{{resolve:…}}`,
 * its RDS-managed MasterUserSecret, and any secret attached to it whose username is the master username.
 */
function masterSecrets(model: TemplateModel): Set<string> {
  const secrets = model.resources('AWS::SecretsManager::Secret');
  const found = new Set<string>();
  for (const cluster of model.resources(/^AWS::RDS::(DBCluster|DBInstance)$/)) {
    const password = model.prop(cluster, 'MasterUserPassword');
    const resolved = /\{\{resolve:secretsmanager:(.+?):SecretString:/.exec(typeof password === 'string' ? password : '')?.[1];
    if (resolved !== undefined) {
      const byName = secrets.find((s) => model.prop(s, 'Name') === resolved);
      found.add(byName === undefined ? resolved : model.ref(byName));
    }
    if (model.prop(cluster, 'ManageMasterUserPassword') === true) found.add(model.att(cluster, 'MasterUserSecret.SecretArn'));
    const master = model.prop(cluster, 'MasterUsername');
    const clusterRef = model.ref(cluster);
    for (const attachment of model.resources('AWS::SecretsManager::SecretTargetAttachment')) {
      if (model.prop(attachment, 'TargetId') !== clusterRef) continue;
      const arn = model.ref(attachment);
      const secret = secrets.find((s) => model.ref(s) === arn);
      if (secret !== undefined && secretUsername(model, secret) === master) found.add(arn);
    }
  }
  return found;
}

function secretUsername(model: TemplateModel, secret: Located): string | undefined {
  const template = (model.prop(secret, 'GenerateSecretString') as { SecretStringTemplate?: string } | undefined)?.SecretStringTemplate;
  return template === undefined ? undefined : (JSON.parse(template) as { username?: string }).username;
}

/** Every function that must log in as its own role, by POWERTOOLS_SERVICE_NAME. */
const ROLE_CLIENTS = ['enrich', 'metadata'];

/**
 * Functions that log in as another's role on purpose, by POWERTOOLS_SERVICE_NAME: the re-enricher runs
 * enrich's lookups and needs exactly enrich's rights.
 */
const SHARES_ROLE_OF: Readonly<Record<string, string>> = { reenrich: 'enrich' };

/**
 * Only the migration (the function given DATABASE_APP_ROLES) holds the master secret: no other function is
 * given it or may read it. Every other function with DATABASE_HOST, enrich and metadata at least, logs in as
 * a role of DATABASE_APP_ROLES, with DATABASE_USER that role and DATABASE_SECRET_ARN that role's secret (a
 * secret for that username), each function its own role (but those of SHARES_ROLE_OF). Every role's secret has a single-user rotation
 * schedule that CloudFormation creates only after the Custom::Trigger that runs the migration (the first
 * rotation changes the password of a role the migration creates).
 */
export const appDbRolesBound = (model: TemplateModel): number => {
  if (model.resources('AWS::RDS::DBCluster').length === 0) return 0;
  const problems: string[] = [];
  let verified = 0;
  const masters = masterSecrets(model);
  if (masters.size === 0) problems.push('no master secret of the database found');
  const all = functions(model);
  const migrations = all.filter((fn) => fn.env.DATABASE_APP_ROLES !== undefined);
  if (migrations.length === 0) problems.push('no function creates the login roles (DATABASE_APP_ROLES)');
  const roles = migrations.flatMap((fn) => JSON.parse(fn.env.DATABASE_APP_ROLES ?? '[]') as AppRole[]);
  const secrets = model.resources('AWS::SecretsManager::Secret');

  const usedBy = new Map<string, string>();
  for (const fn of all) {
    if (migrations.includes(fn)) continue;
    const who = nameOf(fn);
    const statements = fn.role === undefined ? [] : statementsOf(model, fn);
    for (const arn of masters) {
      verified += 1;
      if (Object.values(fn.env).some((value) => value.match(SECRET_ARN)?.includes(arn) === true)) problems.push(`${who}: given the master secret ${arn}`);
      else if (allows(statements, 'secretsmanager:GetSecretValue', arn)) problems.push(`${who}: may read the master secret ${arn}`);
    }
    if (fn.env.DATABASE_HOST === undefined) continue;
    verified += 1;
    const role = roles.find((r) => r.role === fn.env.DATABASE_USER);
    if (role === undefined) {
      problems.push(`${who}: DATABASE_USER=${fn.env.DATABASE_USER ?? '(unset)'} is none of the login roles ${roles.map((r) => r.role).join(', ')}`);
      continue;
    }
    if (fn.env.DATABASE_SECRET_ARN !== role.secretArn) {
      problems.push(`${who}: DATABASE_SECRET_ARN ${fn.env.DATABASE_SECRET_ARN ?? '(unset)'} is not the secret of role ${role.role}`);
    }
    const other = usedBy.get(role.role);
    const shared = other !== undefined && (SHARES_ROLE_OF[who] === other || SHARES_ROLE_OF[other] === who);
    if (other !== undefined && !shared) problems.push(`${other} and ${who} both log in as ${role.role}`);
    // Remember the role's owner rather than a function that shares it, so a third user is told apart.
    if (other === undefined || SHARES_ROLE_OF[other] !== undefined) usedBy.set(role.role, who);
  }
  for (const service of ROLE_CLIENTS) {
    const fn = all.find((f) => f.service === service);
    if (fn === undefined || fn.env.DATABASE_HOST === undefined) problems.push(`${service}: no database binding`);
  }

  const triggers = model.resources('Custom::Trigger').filter((t) => {
    const handler = functionByName(model, String(model.prop(t, 'HandlerArn')));
    return handler !== undefined && migrations.some((m) => m.arn === handler.arn);
  });
  if (migrations.length > 0 && triggers.length === 0) problems.push('no Custom::Trigger runs the migration (DATABASE_APP_ROLES)');
  for (const role of roles) {
    verified += 1;
    const secret = secrets.find((s) => model.ref(s) === role.secretArn);
    if (secret === undefined) problems.push(`role ${role.role}: its secret ${role.secretArn} is not in the templates`);
    else if (secretUsername(model, secret) !== role.role) problems.push(`role ${role.role}: its secret is for user ${secretUsername(model, secret)}`);
    problems.push(...rotationProblems(model, role, triggers));
  }
  return verdict(problems, verified);
};

function rotationProblems(model: TemplateModel, role: AppRole, triggers: readonly Located[]): string[] {
  const schedules = model.resources('AWS::SecretsManager::RotationSchedule').filter((s) => model.prop(s, 'SecretId') === role.secretArn);
  if (schedules.length === 0) return [`role ${role.role}: its secret has no rotation schedule`];
  const problems: string[] = [];
  for (const schedule of schedules) {
    if (!triggers.some((trigger) => dependsOn(model, schedule, trigger))) {
      problems.push(`role ${role.role}: rotation schedule ${schedule.id} never waits for the migration trigger (its first rotation may find no role)`);
    }
    const lambdaArn = model.prop(schedule, 'RotationLambdaARN');
    const application = model.resources('AWS::Serverless::Application').find((a) => model.att(a, 'Outputs.RotationLambdaARN') === lambdaArn);
    if (application === undefined) continue;
    const applicationId = String((model.prop(application, 'Location') as { ApplicationId?: string } | undefined)?.ApplicationId);
    if (!applicationId.endsWith('RotationSingleUser')) problems.push(`role ${role.role}: rotated by ${applicationId}, not a single-user rotation`);
  }
  return problems;
}
