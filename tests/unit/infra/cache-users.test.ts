/**
 * ElastiCache IAM users on a small stack: a replication group bound to the user group, and two house functions
 * bound to their endpoints. Bundling is skipped (`aws:cdk:bundling-stacks`): only the template matters here.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CfnReplicationGroup } from 'aws-cdk-lib/aws-elasticache';
import nag from 'cdk-nag';
import { CACHE_ACCESS, CacheIamUsers } from '../../../infra/cdk/lib/cache-users.ts';
import { ENTRIES } from '../../../infra/cdk/lib/paths.ts';
import { PipelineFunction, TIMEOUTS } from '../../../infra/cdk/lib/pipeline-function.ts';
import { cfnLintErrors, cfnLintInstalled } from './cfn-lint-errors.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }>;

function cacheStack() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Cache', { env: { account: '123456789012', region: 'eu-west-1' } });
  const users = new CacheIamUsers(stack, 'CacheUsers', { namePrefix: 'dev-le' });
  const cache = new CfnReplicationGroup(stack, 'Cache', {
    replicationGroupDescription: 'test cache',
    engine: 'valkey',
    engineVersion: '8.0',
    cacheNodeType: 'cache.t4g.small',
    transitEncryptionEnabled: true,
    userGroupIds: [users.userGroupId],
  });
  const endpoints = users.endpoints(cache, { url: `rediss://${cache.attrPrimaryEndPointAddress}:6379` });
  const fn = (id: 'Enrich' | 'Metadata', entry: string) =>
    new PipelineFunction(stack, id, { entry, serviceName: id.toLowerCase(), description: id, memorySize: 256, timeout: TIMEOUTS.http });
  fn('Enrich', ENTRIES.enrich).bindRedis(endpoints.enrich);
  fn('Metadata', ENTRIES.metadata).bindRedis(endpoints.metadata);
  const template = Template.fromStack(stack);
  return { stack, template, resources: template.toJSON().Resources as Resources, cacheId: stack.resolve(cache.logicalId) as string };
}

const { stack, template, resources, cacheId } = cacheStack();

function byType(type: string) {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

function functionNamed(service: string) {
  const found = byType('AWS::Lambda::Function').find(
    ([, resource]) => (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME === service,
  );
  if (found === undefined) throw new Error(`no function ${service}`);
  return found[1].Properties;
}

/** The Connect statements of the function's role, with their resources as resolved JSON. */
function connectResources(service: string): unknown[] {
  const roleRef = functionNamed(service).Role as { 'Fn::GetAtt': [string, string] };
  const policies = byType('AWS::IAM::Policy').filter(([, policy]) =>
    (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleRef['Fn::GetAtt'][0]),
  );
  const statements = policies.flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
  return statements.filter((statement) => statement.Action === 'elasticache:Connect').flatMap((statement) => statement.Resource as unknown[]);
}

/** An ARN as the template builds it, flattened: `Ref X` becomes `<X>` (AWS::Partition: `aws`). */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (node.Ref !== undefined) return node.Ref === 'AWS::Partition' ? 'aws' : `<${node.Ref}>`;
  if (node['Fn::Join'] !== undefined) return node['Fn::Join'][1].map(flatten).join(node['Fn::Join'][0]);
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

it('makes one IAM user per function, its id equal to its name, with its own access string', () => {
  const users = byType('AWS::ElastiCache::User').map(([, user]) => user.Properties);

  expect(users).toEqual(
    expect.arrayContaining([
      { Engine: 'valkey', UserId: 'dev-le-enrich', UserName: 'dev-le-enrich', AuthenticationMode: { Type: 'iam' }, AccessString: CACHE_ACCESS.enrich },
      {
        Engine: 'valkey',
        UserId: 'dev-le-metadata',
        UserName: 'dev-le-metadata',
        AuthenticationMode: { Type: 'iam' },
        AccessString: CACHE_ACCESS.metadata,
      },
    ]),
  );
});

it('switches the group\'s "default" user off, with a password from a generated secret', () => {
  template.hasResourceProperties('AWS::ElastiCache::User', {
    UserName: 'default',
    UserId: 'dev-le-default',
    AccessString: 'off -@all',
    AuthenticationMode: {
      Type: 'password',
      Passwords: [{ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: Match.stringLikeRegexp('DefaultUserPassword') }, ':SecretString:::}}']] }],
    },
  });
});

it('puts the three users in one group, and the group on the replication group', () => {
  const users = byType('AWS::ElastiCache::User').map(([id]) => ({ Ref: id }));
  const [groupId, group] = byType('AWS::ElastiCache::UserGroup')[0] ?? [];

  expect(group?.Properties).toEqual({ Engine: 'valkey', UserGroupId: 'dev-le', UserIds: expect.arrayContaining(users) });
  expect(group?.Properties.UserIds).toHaveLength(3);
  expect(resources[cacheId]?.Properties.UserGroupIds).toEqual([{ Ref: groupId }]);
});

it.each([
  ['enrich', 'dev-le-enrich'],
  ['metadata', 'dev-le-metadata'],
])('binds %s to its own user: the variables it authenticates with and Connect as that user only', (service, user) => {
  // Assess: the environment redisEnv reads.
  expect((functionNamed(service).Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
    REDIS_URL: expect.anything(),
    REDIS_AUTH: 'aws-iam',
    REDIS_USER: user,
    REDIS_CACHE_NAME: { Ref: cacheId },
  });
  // Assess: IAM authentication checks Connect on the replication group and on the user.
  expect(connectResources(service).map(flatten)).toEqual([
    `arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:<${cacheId}>`,
    `arn:aws:elasticache:eu-west-1:123456789012:user:${user}`,
  ]);
});

it('grants only the commands each function sends, on its own keys', () => {
  expect(CACHE_ACCESS.enrich).toBe(
    'on ~meta:v1:* ~enrich:breaker:v2:* -@all +info +mget +set +eval +get +hmget +time +hincrby +hset +pexpire',
  );
  expect(CACHE_ACCESS.metadata).toBe('on ~meta:v1:* -@all +info +set +scan +unlink +multi +exec');
});

it('refuses a prefix ElastiCache would not take as a user or group id', () => {
  const scope = new Stack(new App(), 'Probe');
  expect(() => new CacheIamUsers(scope, 'Upper', { namePrefix: 'Dev-le' })).toThrow(/lowercase/);
  expect(() => new CacheIamUsers(scope, 'Long', { namePrefix: 'a'.repeat(31) })).toThrow(/at most 30/);
});

it('leaves no unacknowledged cdk-nag finding on the users and their secret', () => {
  const findings = new nag.AwsSolutionsChecks()
    .validateScope(stack)
    .violations.filter((violation) => violation.violatingResources.some((resource) => JSON.stringify(resource).includes('CacheUsers')));

  expect(findings.map((finding) => finding.ruleName)).toEqual([]);
});

// CDK passes the untyped AuthenticationMode through as written: only the CloudFormation schema checks it.
(cfnLintInstalled ? it : it.skip)('passes cfn-lint without errors (skipped when cfn-lint is not installed)', () => {
  expect(cfnLintErrors(template.toJSON())).toEqual([]);
});
