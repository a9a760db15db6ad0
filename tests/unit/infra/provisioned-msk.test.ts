/**
 * The stateful stack with `-c mskMode=provisioned`: a provisioned MSK cluster instead of MSK Serverless
 * (and `-c cacheNodeType=…`, another setting that only this stack reads).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import nag from 'cdk-nag';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp } from './synth-app.ts';

let built: SynthesizedApp;
let template: Template;

beforeAll(() => {
  built = synthApp({ mskMode: 'provisioned', cacheNodeType: 'cache.r7g.large' });
  if (built.stateful === undefined) throw new Error('the AWS target has a stateful stack');
  template = Template.fromStack(built.stateful);
}, SYNTH_TIMEOUT_MS);

afterAll(() => removeAssembly(built));

it('creates a provisioned cluster with one broker per private subnet and no serverless cluster', () => {
  template.resourceCountIs('AWS::MSK::Cluster', 1);
  template.resourceCountIs('AWS::MSK::ServerlessCluster', 0);
  template.hasResourceProperties('AWS::MSK::Cluster', {
    KafkaVersion: '3.9.x',
    NumberOfBrokerNodes: 2,
    BrokerNodeGroupInfo: Match.objectLike({
      InstanceType: 'kafka.m7g.large',
      ConnectivityInfo: { PublicAccess: { Type: 'DISABLED' } },
    }),
  });
});

it('accepts IAM clients only, over TLS, and encrypts data at rest with the customer-managed key', () => {
  template.hasResourceProperties('AWS::MSK::Cluster', {
    ClientAuthentication: { Sasl: { Iam: { Enabled: true } }, Unauthenticated: { Enabled: false } },
    EncryptionInfo: {
      EncryptionAtRest: { DataVolumeKMSKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DataKey'), 'Arn'] } },
      EncryptionInTransit: { ClientBroker: 'TLS', InCluster: true },
    },
    LoggingInfo: { BrokerLogs: { CloudWatchLogs: Match.objectLike({ Enabled: true }) } },
  });
});

it('sizes the Valkey nodes from the cacheNodeType setting', () => {
  template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { CacheNodeType: 'cache.r7g.large' });
});

it('passes cdk-nag AwsSolutions', () => {
  if (built.stateful === undefined) throw new Error('no stateful stack');
  const report = new nag.AwsSolutionsChecks().validateScope(built.stateful);
  expect(report.violations.map((violation) => `${violation.ruleName}: ${violation.description}`)).toEqual([]);
});
