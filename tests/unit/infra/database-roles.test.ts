/**
 * The functions' own database roles on a two-stack app laid out like the real one: the data stack holds the
 * VPC and the Aurora cluster; the setup stack the roles' secrets and rotations, RDS Proxy, the migration and
 * its trigger, and two functions bound to their roles. Bundling is skipped: only the templates matter.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { InterfaceVpcEndpointAwsService, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseProxy,
  ProxyTarget,
} from 'aws-cdk-lib/aws-rds';
import { Trigger } from 'aws-cdk-lib/triggers';
import nag from 'cdk-nag';
import { appRolesEnv } from '#shared/db/app-roles.ts';
import { readConfig } from '#shared/config.ts';
import { APP_ROLES, AppDatabaseRoles } from '../../../infra/cdk/lib/database-roles.ts';
import { ENTRIES } from '../../../infra/cdk/lib/paths.ts';
import { PipelineFunction, TIMEOUTS } from '../../../infra/cdk/lib/pipeline-function.ts';
import { cfnLintErrors, cfnLintInstalled } from './cfn-lint-errors.ts';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Resources = Record<string, Resource>;

function build(options: { rotate: boolean }) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const env = { account: '123456789012', region: 'eu-west-1' };
  const data = new Stack(app, 'Data', { env });
  const vpc = new Vpc(data, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'private', subnetType: SubnetType.PRIVATE_ISOLATED }] });
  const secretsManagerEndpoint = vpc.addInterfaceEndpoint('SecretsManager', { service: InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
  const cluster = new DatabaseCluster(data, 'Database', {
    engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_5 }),
    writer: ClusterInstance.serverlessV2('Writer'),
    vpc,
    vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
  });
  const master = cluster.secret;
  if (master === undefined) throw new Error('no master secret');
  // The proxy's security group lives with the cluster: a group made in the setup stack would have the cluster's
  // ingress rule (in the data stack) refer to it, and the two stacks to each other.
  const proxySecurityGroup = new SecurityGroup(data, 'ProxySecurityGroup', { vpc });

  const setup = new Stack(app, 'Setup', { env });
  const vpcSubnets = { subnetType: SubnetType.PRIVATE_ISOLATED };
  const appRoles = new AppDatabaseRoles(setup, 'AppDatabaseRoles', { cluster, vpc, vpcSubnets, secretsManagerEndpoint });
  const proxy = new DatabaseProxy(setup, 'Proxy', {
    proxyTarget: ProxyTarget.fromCluster(cluster),
    secrets: [master, ...appRoles.secrets],
    vpc,
    vpcSubnets,
    securityGroups: [proxySecurityGroup],
  });
  const base = { environment: { DATABASE_HOST: proxy.endpoint, DATABASE_NAME: 'log_enrichment', DATABASE_SSL: 'require' } };
  const fn = (id: string, entry: string) =>
    new PipelineFunction(setup, id, { entry, serviceName: id.toLowerCase(), description: id, memorySize: 256, timeout: TIMEOUTS.deployStep });
  const migrate = fn('Migrate', ENTRIES.migrate)
    .bindDatabase({ environment: { ...base.environment, DATABASE_USER: 'log_enrichment' }, secret: master })
    .bindDatabaseRoles(appRoles.roles);
  const trigger = new Trigger(setup, 'MigrateTrigger', { handler: migrate, timeout: Duration.minutes(5) });
  if (options.rotate) appRoles.rotateOnceCreatedBy(trigger);
  const endpoints = appRoles.endpoints(base);
  fn('Enrich', ENTRIES.enrich).bindDatabase(endpoints.enrich);
  fn('Metadata', ENTRIES.metadata).bindDatabase(endpoints.metadata);
  return { app, data, setup };
}

const { data, setup } = build({ rotate: true });
const setupTemplate = Template.fromStack(setup).toJSON();
const resources = setupTemplate.Resources as Resources;

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

function functionNamed(service: string): Resource {
  const found = ofType('AWS::Lambda::Function').find(
    ([, resource]) => (resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME === service,
  );
  if (found === undefined) throw new Error(`no function ${service}`);
  return found[1];
}

/** `Ref X` as `<X>`; `Fn::Join` joined; an import as `import:<name>`. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]]; 'Fn::ImportValue'?: unknown };
  if (node.Ref !== undefined) return `<${node.Ref}>`;
  if (node['Fn::Join'] !== undefined) return node['Fn::Join'][1].map(flatten).join(node['Fn::Join'][0]);
  if (node['Fn::ImportValue'] !== undefined) return `import:${flatten(node['Fn::ImportValue'])}`;
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

/** The secrets the function's role may read (GetSecretValue resources, flattened). */
function readableSecrets(service: string): string[] {
  const roleId = (functionNamed(service).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return ofType('AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement)
    .filter((statement) => ([] as unknown[]).concat(statement.Action).includes('secretsmanager:GetSecretValue'))
    .flatMap((statement) => ([] as unknown[]).concat(statement.Resource).map(flatten));
}

/** Logical id of the attachment (its Ref is the secret ARN) of a role's secret. */
function attachmentOf(role: string): string {
  const secretId = ofType('AWS::SecretsManager::Secret').find(
    ([, secret]) => (secret.Properties.GenerateSecretString as { SecretStringTemplate: string }).SecretStringTemplate === JSON.stringify({ username: role }),
  )?.[0];
  const attachment = ofType('AWS::SecretsManager::SecretTargetAttachment').find(
    ([, candidate]) => (candidate.Properties.SecretId as { Ref: string }).Ref === secretId,
  );
  if (attachment === undefined) throw new Error(`no attached secret for ${role}`);
  return attachment[0];
}

it('makes one generated secret per role, attached to the cluster', () => {
  for (const { role } of Object.values(APP_ROLES)) {
    const attachment = resources[attachmentOf(role)];
    expect(attachment?.Properties).toMatchObject({ TargetType: 'AWS::RDS::DBCluster', TargetId: { 'Fn::ImportValue': expect.any(String) } });
  }
});

it('rotates each secret only after the migration trigger has created the roles', () => {
  const [triggerId] = ofType('Custom::Trigger')[0] ?? [];
  const schedules = ofType('AWS::SecretsManager::RotationSchedule');

  expect(schedules.map(([, schedule]) => flatten(schedule.Properties.SecretId)).sort()).toEqual(
    Object.values(APP_ROLES)
      .map(({ role }) => `<${attachmentOf(role)}>`)
      .sort(),
  );
  for (const [, schedule] of schedules) expect(schedule.DependsOn).toEqual(expect.arrayContaining([triggerId]));
});

it('tells the migration each role, its group and its secret, and lets it read those secrets and the master one', () => {
  // Act: the variable as the function will see it, with the secret ARNs as <logical id>.
  const variables = (functionNamed('migrate').Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const roles = JSON.parse(flatten(variables.DATABASE_APP_ROLES)) as unknown[];

  // Assess
  expect(roles).toEqual([
    { role: 'enrich_app', group: 'log_enrichment_read', secretArn: `<${attachmentOf('enrich_app')}>` },
    { role: 'metadata_app', group: 'log_enrichment_write', secretArn: `<${attachmentOf('metadata_app')}>` },
  ]);
  const withArns = flatten(variables.DATABASE_APP_ROLES).replace(/<([A-Za-z0-9]+)>/g, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:$1');
  expect(readConfig(appRolesEnv, { DATABASE_APP_ROLES: withArns }).DATABASE_APP_ROLES).toHaveLength(2);
  expect(readableSecrets('migrate')).toEqual(
    expect.arrayContaining([`<${attachmentOf('enrich_app')}>`, `<${attachmentOf('metadata_app')}>`, expect.stringMatching(/^import:/)]),
  );
});

it.each([
  ['enrich', 'enrich_app', 'metadata_app'],
  ['metadata', 'metadata_app', 'enrich_app'],
])('connects %s as its own role, reading its own secret only (never the master one)', (service, role, other) => {
  const variables = (functionNamed(service).Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  expect(variables.DATABASE_USER).toBe(role);
  expect(flatten(variables.DATABASE_SECRET_ARN)).toBe(`<${attachmentOf(role)}>`);
  expect(readableSecrets(service)).toEqual([`<${attachmentOf(role)}>`]);
  expect(readableSecrets(service)).not.toContain(`<${attachmentOf(other)}>`);
});

it('puts every role secret in the proxy, next to the master secret', () => {
  const [, proxy] = ofType('AWS::RDS::DBProxy')[0] ?? [];
  const auth = ((proxy?.Properties.Auth ?? []) as { SecretArn: unknown }[]).map((entry) => flatten(entry.SecretArn));

  expect(auth).toEqual(expect.arrayContaining([`<${attachmentOf('enrich_app')}>`, `<${attachmentOf('metadata_app')}>`]));
  expect(auth).toHaveLength(3);
});

it('lets the rotation functions reach PostgreSQL and Secrets Manager only, with the rules in the setup stack', () => {
  const [groupId, group] = ofType('AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('AppDatabaseRolesRotationSecurityGroup')) ?? [];
  // The cluster's port is its endpoint's, imported from the data stack.
  const port = (value: unknown) => (typeof value === 'number' ? String(value) : flatten(value).startsWith('import:') ? 'cluster' : '?');
  const ownGroup = (rule: Record<string, unknown>, key: string) => (rule[key] as { 'Fn::GetAtt'?: string[] } | undefined)?.['Fn::GetAtt']?.[0] === groupId;
  const egress = [
    ...((group?.Properties.SecurityGroupEgress as Record<string, unknown>[] | undefined) ?? []),
    ...ofType('AWS::EC2::SecurityGroupEgress')
      .map(([, rule]) => rule.Properties)
      .filter((rule) => ownGroup(rule, 'GroupId')),
  ]
    .map((rule) => `${rule.CidrIp ?? 'group'}:${port(rule.FromPort)}`)
    .sort();
  const ingress = ofType('AWS::EC2::SecurityGroupIngress')
    .map(([, rule]) => rule.Properties)
    .filter((rule) => ownGroup(rule, 'SourceSecurityGroupId'));

  // allowAllOutbound: false leaves CDK's placeholder rule (255.255.255.255/32, ICMP 252) besides the two.
  expect(egress.filter((rule) => !rule.startsWith('255.255.255.255'))).toEqual(['group:443', 'group:cluster']);
  expect(ingress.map((rule) => port(rule.FromPort)).sort()).toEqual(['443', 'cluster']);
  for (const rule of ingress) expect(rule.GroupId).toEqual({ 'Fn::ImportValue': expect.any(String) });
  // Every function the two rotations deploy runs in that group (the SAR application's parameter).
  for (const [, application] of ofType('AWS::Serverless::Application')) {
    const parameters = application.Properties.Parameters as Record<string, unknown>;
    expect(parameters.vpcSecurityGroupIds).toEqual({ 'Fn::GetAtt': [groupId, 'GroupId'] });
    // Secrets Manager through the VPC endpoint (its DNS name, from the data stack).
    expect(flatten(parameters.endpoint)).toMatch(/^https:\/\/import:.*SecretsManager/);
  }
});

it('leaves no unacknowledged cdk-nag finding on the roles, their secrets and rotations', () => {
  const findings = new nag.AwsSolutionsChecks()
    .validateScope(setup)
    .violations.filter((violation) => violation.violatingResources.some((resource) => JSON.stringify(resource).includes('AppDatabaseRoles')));

  expect(findings.map((finding) => finding.ruleName)).toEqual([]);
});

it('fails synth when the rotations were never tied to the migration', () => {
  const { app } = build({ rotate: false });

  expect(() => app.synth()).toThrow(/rotateOnceCreatedBy/);
});

(cfnLintInstalled ? it : it.skip)('passes cfn-lint without errors (skipped when cfn-lint is not installed)', () => {
  expect(cfnLintErrors(Template.fromStack(data).toJSON())).toEqual([]);
  expect(cfnLintErrors(setupTemplate)).toEqual([]);
});
