/**
 * Stages side by side in one account: `-c stage=<name>` names the stacks and every resource that carries a
 * literal physical name, so `dev` and `prod` share none of them.
 */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '#shared/config.ts';
import { stackNames } from '../../../infra/cdk/lib/app.ts';
import { readSettings } from '../../../infra/cdk/lib/settings.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp, templatesOf } from './synth-app.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };
type CfnTemplate = { Resources: Record<string, Resource> };

/**
 * Properties that set a physical name that must be unique in the account and region (or is looked up by
 * name), per resource type. Generated names (absent properties) are unique by construction.
 */
const NAME_PROPERTIES: Record<string, string[]> = {
  'AWS::MSK::ServerlessCluster': ['ClusterName'],
  'AWS::MSK::Cluster': ['ClusterName'],
  'AWS::RDS::DBCluster': ['DBClusterIdentifier'],
  'AWS::RDS::DBInstance': ['DBInstanceIdentifier'],
  'AWS::RDS::DBProxy': ['DBProxyName'],
  'AWS::ElastiCache::ReplicationGroup': ['ReplicationGroupId'],
  'AWS::ElastiCache::User': ['UserId', 'UserName'],
  'AWS::ElastiCache::UserGroup': ['UserGroupId'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::CloudWatch::Dashboard': ['DashboardName'],
  'AWS::CloudWatch::Alarm': ['AlarmName'],
  'AWS::ApiGateway::RestApi': ['Name'],
  'AWS::ApiGateway::UsagePlan': ['UsagePlanName'],
  'AWS::ApiGateway::ApiKey': ['Name'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::IAM::Role': ['RoleName'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::EC2::SecurityGroup': ['GroupName'],
};

/** Every literal physical name of a set of templates, as `<type>.<property>=<name>`. */
function physicalNames(templates: Record<string, CfnTemplate>): string[] {
  return Object.values(templates).flatMap((tpl) =>
    Object.values(tpl.Resources).flatMap((resource) =>
      (NAME_PROPERTIES[resource.Type] ?? []).flatMap((property) => {
        const value = resource.Properties?.[property];
        return typeof value === 'string' ? [`${resource.Type}.${property}=${value}`] : [];
      }),
    ),
  );
}

const nameOf = (entry: string) => entry.slice(entry.indexOf('=') + 1);

let dev: SynthesizedApp;
let prod: SynthesizedApp;
let devTemplates: Record<string, CfnTemplate>;
let prodTemplates: Record<string, CfnTemplate>;

beforeAll(() => {
  dev = synthApp({ stage: 'dev' });
  prod = synthApp({ stage: 'prod' });
  devTemplates = templatesOf(dev) as Record<string, CfnTemplate>;
  prodTemplates = templatesOf(prod) as Record<string, CfnTemplate>;
}, SYNTH_TIMEOUT_MS);

afterAll(() => {
  removeAssembly(dev);
  removeAssembly(prod);
});

it('names the three stacks of each stage after it, and no stack name is shared', () => {
  expect(Object.keys(devTemplates).sort()).toEqual(['LogEnrichment-dev-Setup', 'LogEnrichment-dev-Stateful', 'LogEnrichment-dev-Stateless']);
  expect(Object.keys(prodTemplates).sort()).toEqual([
    'LogEnrichment-prod-Setup',
    'LogEnrichment-prod-Stateful',
    'LogEnrichment-prod-Stateless',
  ]);
  expect(stackNames('prod').local).toBe('LogEnrichment-prod-Local');
});

it('gives the named resources names that contain the stage and that no other stage uses', () => {
  // ElastiCache fixes the name of the group's `default` user; its user id (UserId) carries the stage.
  const fixedByAws = (name: string) => name !== 'AWS::ElastiCache::User.UserName=default';
  const devNames = physicalNames(devTemplates).filter(fixedByAws);
  const prodNames = physicalNames(prodTemplates).filter(fixedByAws);
  // The names this app sets today: none of them may silently stop being checked.
  for (const expected of [
    'AWS::MSK::ServerlessCluster.ClusterName=log-enrichment-dev',
    'AWS::RDS::DBCluster.DBClusterIdentifier=log-enrichment-dev',
    'AWS::Logs::LogGroup.LogGroupName=/aws/rds/cluster/log-enrichment-dev/postgresql',
    'AWS::CloudWatch::Dashboard.DashboardName=log-enrichment-dev',
    'AWS::ApiGateway::RestApi.Name=log-enrichment-dev',
    'AWS::ApiGateway::UsagePlan.UsagePlanName=log-enrichment-dev-ingest',
  ]) {
    expect(devNames).toContain(expected);
  }
  expect(devNames.filter((name) => name.startsWith('AWS::RDS::DBProxy.DBProxyName='))).toHaveLength(1);
  for (const name of devNames) expect(nameOf(name)).toMatch(/dev/);
  for (const name of prodNames) expect(nameOf(name)).toMatch(/prod/);
  const shared = devNames.map(nameOf).filter((name) => prodNames.map(nameOf).includes(name));
  expect(shared).toEqual([]);
});

it('tags every stack with its stage', () => {
  for (const [stage, built] of [['dev', dev], ['prod', prod]] as const) {
    for (const stack of [built.stateful, built.setup, built.stateless]) expect(stack?.tags.tagValues()).toMatchObject({ stage });
  }
});

it('defaults the stage to dev', () => {
  expect(readSettings(new App().node).stage).toBe('dev');
});

it.each(['Prod', 'pre-prod', '1dev', 'averylongstage', ''])('rejects %p as a stage, naming the setting', (stage) => {
  const read = () => readSettings(new App({ context: { stage } }).node);
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(/stage/);
});
