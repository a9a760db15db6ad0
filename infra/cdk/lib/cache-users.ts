/**
 * ElastiCache RBAC with IAM authentication: one user per function (IAM mode, so no password exists anywhere),
 * each allowed only the commands its adapters send and only its own keys, in a user group the replication
 * group is bound to. A connection that does not authenticate as one of them gets nothing.
 *
 * Engine `valkey` for the users and the group (the cache runs Valkey 8.0). AWS's RBAC guide: a Valkey cache
 * takes user groups of either engine, and a `valkey` group can only hold users that authenticate (password
 * or IAM), so the built-in `default` user (no password, every command) can never be added to it. An older
 * edition of the guide asked for engine `redis` even on Valkey; the CloudFormation schema accepts both.
 * The group still holds a user named `default`, as the CloudFormation reference asks of every group: one that
 * is switched off and has a generated password nobody reads.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import { CfnUser, CfnUserGroup, type CfnReplicationGroup } from 'aws-cdk-lib/aws-elasticache';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { enrichEnv } from '../../../functions/enrich/config.ts';
import type { RedisEndpoint } from './endpoints.ts';
import { acknowledge } from './nag-suppressions.ts';

/** The functions that use the cache. */
export type CacheClient = 'enrich' | 'metadata';

/** Enrich's breaker reports live under its default prefix (the stack never sets ENRICH_BREAKER_KEY_PREFIX). */
const BREAKER_KEY_PREFIX = enrichEnv.shape.ENRICH_BREAKER_KEY_PREFIX.parse(undefined);

/**
 * Valkey ACL rules per function: its key patterns, then `-@all` and exactly the commands it sends. Inside a
 * script (EVAL) every command is checked against the caller's rules too, so the scripts' commands are listed.
 * AUTH needs no grant; INFO is ioredis' ready check at every connect. Exported so that the integration test
 * (tests/integration/shared/redis-acl.test.ts) runs the adapters as users with these very strings.
 */
export const CACHE_ACCESS: Readonly<Record<CacheClient, string>> = {
  enrich: accessString(
    [cacheKeys.everyKey, `${BREAKER_KEY_PREFIX}*`],
    [
      'info',
      // RedisMetadataCache: read (MGET; SET NX GET when the version is missing), write-back script (GET, SET).
      'mget',
      'set',
      'eval',
      'get',
      // RedisBreakerReports: read (HMGET), report script (TIME, HINCRBY, HSET, PEXPIRE).
      'hmget',
      'time',
      'hincrby',
      'hset',
      'pexpire',
    ],
  ),
  // RedisCacheInvalidator: SET of the version, SCAN + UNLINK sweeps, MULTI/EXEC of UNLINK + SET.
  metadata: accessString([cacheKeys.everyKey], ['info', 'set', 'scan', 'unlink', 'multi', 'exec']),
};

function accessString(keyPatterns: readonly string[], commands: readonly string[]): string {
  return ['on', ...keyPatterns.map((pattern) => `~${pattern}`), '-@all', ...commands.map((command) => `+${command}`)].join(' ');
}

export interface CacheIamUsersProps {
  /**
   * Prefix of every user id and of the group id, e.g. `dev-le`: lowercase, unique per account and region
   * (ElastiCache user ids are account-wide), so stages side by side never share a user.
   */
  readonly namePrefix: string;
}

/**
 * @example
 * const cacheUsers = new CacheIamUsers(this, 'CacheUsers', { namePrefix: `${stage}-le` });
 * const cache = new CfnReplicationGroup(this, 'Cache', { …, userGroupIds: [cacheUsers.userGroupId] });
 * const endpoints = cacheUsers.endpoints(cache, { url, network }); // { enrich, metadata }: RedisEndpoint
 */
export class CacheIamUsers extends Construct {
  /** For the replication group's `userGroupIds` (a Ref: the group is created first). */
  readonly userGroupId: string;
  /** User id (= user name) per function. */
  readonly userIds: Readonly<Record<CacheClient, string>>;

  constructor(scope: Construct, id: string, props: CacheIamUsersProps) {
    super(scope, id);
    const prefix = props.namePrefix;
    // 40 characters at most for a group id; `-metadata` is the longest suffix used.
    if (!/^[a-z][a-z0-9-]{0,29}$/.test(prefix) || prefix.endsWith('-')) {
      throw new Error(`cache user prefix "${prefix}": lowercase letters, digits and hyphens, at most 30`);
    }

    const users = (Object.keys(CACHE_ACCESS) as CacheClient[]).map(
      (client) =>
        new CfnUser(this, `${client}User`, {
          engine: 'valkey',
          // IAM authentication requires the user id and the user name to be the same.
          userId: `${prefix}-${client}`,
          userName: `${prefix}-${client}`,
          // Untyped in CDK (passed through as is): CloudFormation's own capitalised keys.
          authenticationMode: { Type: 'iam' },
          accessString: CACHE_ACCESS[client],
        }),
    );
    this.userIds = { enrich: `${prefix}-enrich`, metadata: `${prefix}-metadata` };

    const defaultPassword = new Secret(this, 'DefaultUserPassword', {
      description: 'Password of the disabled "default" user of the cache user group (never used)',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    acknowledge(
      defaultPassword,
      'AwsSolutions-SMG4',
      'The password of a switched-off user: nothing authenticates with it, so rotating it protects nothing',
    );
    const defaultUser = new CfnUser(this, 'DefaultUser', {
      engine: 'valkey',
      userId: `${prefix}-default`,
      userName: 'default',
      authenticationMode: { Type: 'password', Passwords: [defaultPassword.secretValue.unsafeUnwrap()] },
      accessString: 'off -@all',
    });

    const group = new CfnUserGroup(this, 'Group', {
      engine: 'valkey',
      userGroupId: prefix,
      userIds: [defaultUser.ref, ...users.map((user) => user.ref)],
    });
    this.userGroupId = group.ref;
  }

  /**
   * The cache as each function sees it: the base URL and network path, its own user (REDIS_AUTH=aws-iam,
   * REDIS_USER, REDIS_CACHE_NAME: the replication group id the token is signed for) and `elasticache:Connect`
   * on the replication group and on that user, both of which IAM authentication checks.
   */
  endpoints(replicationGroup: CfnReplicationGroup, base: RedisEndpoint): Readonly<Record<CacheClient, RedisEndpoint>> {
    const endpoint = (client: CacheClient): RedisEndpoint => ({
      ...base,
      environment: {
        ...base.environment,
        REDIS_AUTH: 'aws-iam',
        REDIS_USER: this.userIds[client],
        REDIS_CACHE_NAME: replicationGroup.ref,
      },
      grantConnect: (fn: IFunction) => {
        const stack = Stack.of(replicationGroup);
        const arn = (resource: string, resourceName: string) =>
          stack.formatArn({ service: 'elasticache', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
        fn.addToRolePolicy(
          new PolicyStatement({
            actions: ['elasticache:Connect'],
            resources: [arn('replicationgroup', replicationGroup.ref), arn('user', this.userIds[client])],
          }),
        );
      },
    });
    return { enrich: endpoint('enrich'), metadata: endpoint('metadata') };
  }
}
