/**
 * `-c costProfile=minimal`: the smallest settings that still run the pipeline (one cache node, endpoints in
 * one zone, Aurora that pauses at 0 ACU and so no RDS Proxy, on-demand event-source pollers), with the enrich
 * function's environment consistent with the mapping it gets.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import nag from 'cdk-nag';
import { ConfigError } from '#shared/config.ts';
import { readSettings } from '../../../infra/cdk/lib/settings.ts';
import { awsTemplates, removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp } from './synth-app.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

let built: SynthesizedApp;
let stateful: Template;
let setup: Template;
let stateless: Template;

beforeAll(() => {
  built = synthApp({ costProfile: 'minimal' });
  ({ stateful, setup, stateless } = awsTemplates(built));
}, SYNTH_TIMEOUT_MS);

afterAll(() => removeAssembly(built));

function all(template: Template, type: string): Resource[] {
  return Object.values(template.findResources(type) as Record<string, Resource>);
}

function variablesOf(service: string): Record<string, unknown> {
  const fn = all(stateless, 'AWS::Lambda::Function').find(
    (candidate) => (candidate.Properties.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME === service,
  );
  if (fn === undefined) throw new Error(`no ${service} function`);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

it('defaults to standard and names the setting when the profile is unknown', () => {
  expect(readSettings(new App().node).costProfile).toBe('standard');
  const read = () => readSettings(new App({ context: { costProfile: 'cheap' } }).node);
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(/costProfile/);
});

it('runs the cache as one node in the first subnet\'s zone, without failover', () => {
  stateful.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
    NumCacheClusters: 1,
    PreferredCacheClusterAZs: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VpcprivateSubnet1'), 'AvailabilityZone'] }],
    AutomaticFailoverEnabled: false,
    MultiAZEnabled: false,
  });
});

it('puts each interface endpoint in one subnet, with private DNS for the other zone', () => {
  const endpoints = all(stateful, 'AWS::EC2::VPCEndpoint');
  expect(endpoints).toHaveLength(4);
  for (const endpoint of endpoints) {
    expect(endpoint.Properties).toMatchObject({ SubnetIds: [{ Ref: expect.stringMatching(/^VpcprivateSubnet1/) }], PrivateDnsEnabled: true });
  }
});

it('lets Aurora scale to 0 ACU and pause after 5 idle minutes, still deletion-protected', () => {
  stateful.hasResourceProperties('AWS::RDS::DBCluster', {
    ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4, SecondsUntilAutoPause: 300 },
    DeletionProtection: true,
  });
});

it('has no RDS Proxy: the functions and the migration reach the writer, trusting the RDS certificate authorities', () => {
  for (const template of [stateful, setup, stateless]) template.resourceCountIs('AWS::RDS::DBProxy', 0);
  const migrate = all(setup, 'AWS::Lambda::Function').find((fn) => JSON.stringify(fn.Properties).includes('"POWERTOOLS_SERVICE_NAME":"migrate"'));
  if (migrate === undefined) throw new Error('no migrate function');
  const migrateVariables = (migrate.Properties.Environment as { Variables: object }).Variables;
  for (const variables of [variablesOf('enrich'), variablesOf('metadata'), migrateVariables]) {
    expect(variables).toMatchObject({
      DATABASE_HOST: { 'Fn::ImportValue': expect.stringMatching(/Database.*EndpointAddress/) },
      DATABASE_SSL: 'require',
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    });
  }
});

it('opens the writer\'s port (5432) to enrich, the re-enricher and metadata', () => {
  const rules = all(stateless, 'AWS::EC2::SecurityGroupIngress').filter((rule) =>
    JSON.stringify(rule.Properties.GroupId).includes('DatabaseSecurityGroup'),
  );
  expect(rules.map((rule) => [rule.Properties.FromPort, JSON.stringify(rule.Properties.SourceSecurityGroupId).match(/\b(Enrich|Metadata|ReEnrich)SecurityGroup/)?.[1]]).sort()).toEqual([
    [5432, 'Enrich'],
    [5432, 'Metadata'],
    [5432, 'ReEnrich'],
  ]);
});

it.each([
  ['raw-logs', 'enrich'],
  ['enriched-logs-partial', 'reenrich'],
])('maps %s to %s with on-demand pollers and none of the controls that need provisioned ones', (topic) => {
  const mapping = all(stateless, 'AWS::Lambda::EventSourceMapping').find((m) => JSON.stringify(m.Properties.Topics) === JSON.stringify([topic]));
  expect(mapping?.Properties).toMatchObject({ Topics: [topic], BatchSize: 500, StartingPosition: 'TRIM_HORIZON' });
  for (const property of [
    'ProvisionedPollerConfig',
    'MaximumRetryAttempts',
    'BisectBatchOnFunctionError',
    'FunctionResponseTypes',
    'DestinationConfig',
    'MetricsConfig',
  ]) {
    expect({ property, value: mapping?.Properties[property] }).toEqual({ property, value: undefined });
  }
});

it('tells enrich and the re-enricher to throw, not to report partial failures, since the mappings do not read them', () => {
  const mappings = all(stateless, 'AWS::Lambda::EventSourceMapping');
  expect(mappings).toHaveLength(2);
  for (const mapping of mappings) expect(mapping.Properties.FunctionResponseTypes).toBeUndefined();
  expect(variablesOf('enrich').ENRICH_REPORT_BATCH_ITEM_FAILURES).toBe('false');
  expect(variablesOf('reenrich').ENRICH_REPORT_BATCH_ITEM_FAILURES).toBe('false');
});

it('keeps the dashboard and the alarms that need no mapping metrics, and no re-enricher error-rate alarm', () => {
  const alarms = all(stateless, 'AWS::CloudWatch::Alarm');
  expect(alarms).toHaveLength(6);
  expect(JSON.stringify(alarms)).not.toContain('EventSourceMappingUUID');
  // On-demand pollers: a batch not due yet fails its invocation on purpose.
  expect(Object.keys(stateless.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.includes('Reenrich'))).toEqual([]);
  stateless.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
});

it('passes cdk-nag on the three stacks and has no error annotations', () => {
  for (const stack of [built.stateful, built.setup, built.stateless]) {
    if (stack === undefined) throw new Error('missing stack');
    const report = new nag.AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((violation) => `${violation.ruleName}: ${violation.description}`)).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  }
});

it('passes cfn-lint with no errors (skipped, with a warning, where cfn-lint is not installed)', () => {
  const templates = readdirSync(built.outdir)
    .filter((file) => file.endsWith('.template.json'))
    .map((file) => join(built.outdir, file));
  expect(templates).toHaveLength(3);
  const lint = spawnSync('cfn-lint', ['--format', 'json', ...templates], { encoding: 'utf8' });
  if ((lint.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    console.warn('cfn-lint not installed (pip install cfn-lint): skipped');
    return;
  }
  const findings = JSON.parse(lint.stdout || '[]') as { Level: string; Rule: { Id: string }; Message: string }[];
  expect(findings.filter((finding) => finding.Level === 'Error').map((finding) => `${finding.Rule.Id}: ${finding.Message}`)).toEqual([]);
});

it('still deploys the setup stack before the stateless one, though no function refers to it here', () => {
  expect(built.stateless.dependencies.map((stack) => stack.stackName).sort()).toEqual([
    'LogEnrichment-dev-Setup',
    'LogEnrichment-dev-Stateful',
  ]);
});
