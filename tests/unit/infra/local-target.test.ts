/**
 * Template tests of the LocalStack target (`-c target=local`): functions and the REST API only, pointed at
 * the compose services; nothing LocalStack's free edition lacks (MSK, ElastiCache, RDS, Kafka triggers).
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import nag from 'cdk-nag';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp } from './synth-app.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

let built: SynthesizedApp;
let template: Template;

beforeAll(() => {
  built = synthApp({ target: 'local' });
  template = Template.fromStack(built.stateless);
}, SYNTH_TIMEOUT_MS);

afterAll(() => removeAssembly(built));

function variablesOf(service: string): Record<string, unknown> {
  const [fn] = Object.values(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } },
    }) as Record<string, Resource>,
  );
  if (fn === undefined) throw new Error(`no ${service} function`);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

it('builds one stack, named for its stage, and no stateful or setup stack', () => {
  expect(built.stateful).toBeUndefined();
  expect(built.setup).toBeUndefined();
  expect(built.app.node.children.filter((child) => child.node.id.startsWith('LogEnrichment')).map((child) => child.node.id)).toEqual([
    'LogEnrichment-dev-Local',
  ]);
});

it('deploys the four functions outside any VPC, with the same runtime and bundling as on AWS', () => {
  const functions = Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>);
  expect(functions).toHaveLength(4);
  for (const fn of functions) {
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler' });
    expect(fn.Properties.VpcConfig).toBeUndefined();
  }
});

it('creates no MSK, ElastiCache, RDS, event source mapping, VPC or dashboard', () => {
  for (const type of [
    'AWS::MSK::ServerlessCluster',
    'AWS::MSK::Cluster',
    'AWS::ElastiCache::ReplicationGroup',
    'AWS::ElastiCache::ServerlessCache',
    'AWS::RDS::DBCluster',
    'AWS::RDS::DBProxy',
    'AWS::Lambda::EventSourceMapping',
    'AWS::EC2::VPC',
    'AWS::CloudWatch::Dashboard',
    'Custom::Trigger',
  ]) {
    template.resourceCountIs(type, 0);
  }
});

it('points the functions at the compose services by their service names', () => {
  expect(variablesOf('ingest')).toMatchObject({ KAFKA_BROKERS: 'kafka:19092', KAFKA_AUTH: 'none', RAW_TOPIC: 'raw-logs' });
  expect(variablesOf('enrich')).toMatchObject({
    KAFKA_BROKERS: 'kafka:19092',
    REDIS_URL: 'redis://redis:6379',
    DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/log_enrichment',
    COMPLETE_TOPIC: 'enriched-logs-complete',
    PARTIAL_TOPIC: 'enriched-logs-partial',
    DLQ_TOPIC: 'raw-logs-dlq',
  });
  expect(variablesOf('enrich').MSK_CLUSTER_ARN).toBeUndefined();
  expect(variablesOf('reenrich')).toMatchObject({
    KAFKA_BROKERS: 'kafka:19092',
    KAFKA_AUTH: 'none',
    REDIS_URL: 'redis://redis:6379',
    DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/log_enrichment',
    RAW_TOPIC: 'raw-logs',
    COMPLETE_TOPIC: 'enriched-logs-complete',
    PARTIAL_TOPIC: 'enriched-logs-partial',
    DLQ_TOPIC: 'raw-logs-dlq',
    OUTPUT_ENCODING: 'json',
  });
  expect(variablesOf('metadata')).toMatchObject({ REDIS_URL: 'redis://redis:6379', ADMIN_API_KEYS: 'local-admin-key' });
});

it('turns the functions\' X-Ray tracing off and leaves the stage untraced: LocalStack\'s free edition has no X-Ray', () => {
  for (const service of ['ingest', 'enrich', 'metadata', 'reenrich']) {
    expect(variablesOf(service)).toMatchObject({ POWERTOOLS_TRACE_ENABLED: 'false' });
  }
  const stages = Object.values(template.findResources('AWS::ApiGateway::Stage') as Record<string, Resource>);
  expect(stages.map((stage) => stage.Properties.TracingEnabled === true)).toEqual([false]);
});

it('gives enrich, the re-enricher and metadata the same client timeouts as on AWS', () => {
  for (const service of ['enrich', 'reenrich']) {
    expect(variablesOf(service)).toMatchObject({ ENRICH_DB_CONNECT_TIMEOUT_MS: '1500', ENRICH_DB_TIMEOUT_MS: '200', REDIS_TIMEOUT_MS: '100' });
  }
  expect(variablesOf('metadata')).toMatchObject({ REDIS_TIMEOUT_MS: '500', DATABASE_TIMEOUT_MS: '3000' });
});

it('keeps the API shape: API key on /api/logs, IAM on /api/metadata, a known local key value', () => {
  template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'POST', ApiKeyRequired: true });
  template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'ANY', AuthorizationType: 'AWS_IAM' });
  template.hasResourceProperties('AWS::ApiGateway::ApiKey', { Value: 'local-ingest-key-0123456789' });
  template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: Match.objectLike({ RateLimit: 500 }) });
  template.hasOutput('ApiUrl', {});
  template.hasOutput('ApiKeyId', {});
  template.hasOutput('RestApiId', {});
  // The local runners invoke the functions by these names.
  for (const name of ['Ingest', 'Enrich', 'Metadata', 'ReEnrich']) template.hasOutput(`${name}FunctionName`, {});
});

it('passes cdk-nag AwsSolutions and has no error annotations', () => {
  const report = new nag.AwsSolutionsChecks().validateScope(built.stateless);
  expect(report.violations.map((violation) => `${violation.ruleName}: ${violation.description}`)).toEqual([]);
  expect(Annotations.fromStack(built.stateless).findError('*', Match.anyValue())).toEqual([]);
});
