/**
 * Template tests of the AWS target (default context: stage dev, costProfile standard): the stateful stack
 * (VPC, MSK Serverless, Valkey replication group, Aurora), the setup stack (rotation, RDS Proxy, deploy-time
 * triggers) and the stateless stack (functions, API, ESM, observability).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import { parse } from 'yaml';
import { kafkaEnv, postgresEnv, redisEnv } from '#shared/config.ts';
import { enrichEnv, reenrichEnv } from '../../../functions/enrich/config.ts';
import { ROUTES as INGEST_ROUTES } from '../../../functions/ingest/src/http-handler.ts';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';
import { assetDirectory, awsTemplates, removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp, templatesOf } from './synth-app.ts';
import { TemplateModel, type Templates } from './template-eval.ts';
import { allows, functions, kafkaResourceArn, mskClusters, statementsOf } from './template-match.ts';

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };

let built: SynthesizedApp;
let stateful: Template;
let setup: Template;
let stateless: Template;
/** All stacks with their cross-stack values resolved (fake ARNs), to ask what a role allows. */
let model: TemplateModel;

beforeAll(() => {
  built = synthApp();
  ({ stateful, setup, stateless } = awsTemplates(built));
  model = new TemplateModel(templatesOf(built) as Templates);
}, SYNTH_TIMEOUT_MS);

afterAll(() => removeAssembly(built));

function awsStacks(): Stack[] {
  if (built.stateful === undefined || built.setup === undefined) throw new Error('no stateful or setup stack');
  return [built.stateful, built.setup, built.stateless];
}

/** The one resource a query should find. */
function single(found: Record<string, unknown>): Resource {
  const values = Object.values(found) as Resource[];
  if (values.length !== 1 || values[0] === undefined) throw new Error(`expected one resource, found ${values.length}`);
  return values[0];
}

function pipelineFunctions(): Record<string, Resource> {
  return stateless.findResources('AWS::Lambda::Function') as Record<string, Resource>;
}

/** `/api/health`: the gateway path of a method, from its resource's PathPart chain up to the API root. */
function methodPath(method: Resource): string {
  const resources = stateless.findResources('AWS::ApiGateway::Resource') as Record<string, Resource>;
  const parts: string[] = [];
  let id = (method.Properties.ResourceId as { Ref?: string }).Ref;
  while (id !== undefined && resources[id] !== undefined) {
    const resource = resources[id] as Resource;
    parts.unshift(resource.Properties.PathPart as string);
    id = (resource.Properties.ParentId as { Ref?: string }).Ref;
  }
  return `/${parts.join('/')}`;
}

function variablesOf(service: string): Record<string, unknown> {
  const fn = single(
    stateless.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } },
    }),
  );
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe('stateful stack', () => {
  it('has an isolated VPC: no internet gateway, no NAT, no public subnet', () => {
    stateful.resourceCountIs('AWS::EC2::VPC', 1);
    stateful.resourceCountIs('AWS::EC2::InternetGateway', 0);
    stateful.resourceCountIs('AWS::EC2::NatGateway', 0);
    stateful.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true }, 0);
  });

  it('logs rejected VPC traffic only', () => {
    stateful.resourceCountIs('AWS::EC2::FlowLog', 1);
    stateful.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' });
  });

  it('places the subnets in the region\'s first two zones and warns that synth could not check them', () => {
    const subnets = Object.values(stateful.findResources('AWS::EC2::Subnet') as Record<string, Resource>);
    expect(subnets.map((subnet) => subnet.Properties.AvailabilityZone)).toEqual([
      { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] },
      { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] },
    ]);
    expect(Annotations.fromStack(awsStacks()[0] as Stack).findWarning('*', Match.stringLikeRegexp('availabilityZoneIds'))).toHaveLength(1);
  });

  it('reaches AWS APIs through interface endpoints for Lambda, STS, MSK and Secrets Manager, and none for SQS', () => {
    stateful.resourceCountIs('AWS::EC2::VPCEndpoint', 4);
    for (const service of ['lambda', 'sts', 'kafka', 'secretsmanager']) {
      stateful.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`.${service}`])] }),
        PrivateDnsEnabled: true,
      });
    }
  });

  it('runs MSK Serverless with IAM client authentication in the private subnets', () => {
    stateful.resourceCountIs('AWS::MSK::ServerlessCluster', 1);
    stateful.resourceCountIs('AWS::MSK::Cluster', 0);
    stateful.hasResourceProperties('AWS::MSK::ServerlessCluster', {
      ClientAuthentication: { Sasl: { Iam: { Enabled: true } } },
      VpcConfigs: [{ SubnetIds: [Match.anyValue(), Match.anyValue()], SecurityGroups: [Match.anyValue()] }],
    });
  });

  it('runs Valkey as one primary and one replica in two AZs, cluster mode disabled, with automatic failover', () => {
    stateful.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 1);
    stateful.resourceCountIs('AWS::ElastiCache::ServerlessCache', 0);
    stateful.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'valkey',
      EngineVersion: Match.stringLikeRegexp('^[78]\\.'),
      ClusterMode: 'disabled',
      NumCacheClusters: 2,
      // The zones of the two isolated subnets, whatever chose them (zone names or IDs).
      PreferredCacheClusterAZs: [
        { 'Fn::GetAtt': [Match.stringLikeRegexp('^VpcprivateSubnet1'), 'AvailabilityZone'] },
        { 'Fn::GetAtt': [Match.stringLikeRegexp('^VpcprivateSubnet2'), 'AvailabilityZone'] },
      ],
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      CacheNodeType: 'cache.t4g.small',
      Port: 6379,
    });
    stateful.resourcePropertiesCountIs('AWS::ElastiCache::ReplicationGroup', { NumNodeGroups: Match.anyValue() }, 0);
  });

  it('requires TLS to Valkey and encrypts it at rest with the customer-managed key', () => {
    stateful.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AtRestEncryptionEnabled: true,
      KmsKeyId: { Ref: Match.stringLikeRegexp('^DataKey') },
    });
    stateful.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('places Valkey in the isolated subnets behind its own security group', () => {
    const subnetGroup = single(stateful.findResources('AWS::ElastiCache::SubnetGroup'));
    const subnetIds = subnetGroup.Properties.SubnetIds as { Ref: string }[];
    expect(subnetIds).toHaveLength(2);
    for (const { Ref } of subnetIds) expect(Ref).toMatch(/^Vpcprivate/);
    const subnetGroupId = Object.keys(stateful.findResources('AWS::ElastiCache::SubnetGroup'))[0];
    stateful.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      CacheSubnetGroupName: { Ref: subnetGroupId },
      SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RedisSecurityGroup'), 'GroupId'] }],
    });
    // Opened to the functions by the stateless stack's rules, never here.
    const redisGroup = single(
      stateful.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: 'ElastiCache Valkey' } }),
    );
    expect(redisGroup.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('keeps PostgreSQL encrypted, private and deletion-protected, behind an RDS Proxy that requires TLS, with a rotated secret', () => {
    stateful.resourceCountIs('AWS::RDS::DBCluster', 1);
    stateful.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      KmsKeyId: Match.anyValue(),
      DatabaseName: 'log_enrichment',
      DeletionProtection: true,
      ServerlessV2ScalingConfiguration: Match.objectLike({ MinCapacity: 0.5 }),
    });
    stateful.resourcePropertiesCountIs('AWS::RDS::DBInstance', { PubliclyAccessible: true }, 0);
    // The proxy and the rotation can fail to deploy: they are in the setup stack (setup-stack.test.ts).
    stateful.resourceCountIs('AWS::RDS::DBProxy', 0);
    setup.resourceCountIs('AWS::RDS::DBProxy', 1);
    setup.hasResourceProperties('AWS::RDS::DBProxy', { RequireTLS: true, EngineFamily: 'POSTGRESQL' });
    // The master secret and one per application role (enrich_app, metadata_app).
    setup.resourceCountIs('AWS::SecretsManager::RotationSchedule', 3);
    setup.allResourcesProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(30 days)' } });
  });

  it('opens the data stores only to security groups, never to an address range', () => {
    for (const template of [stateful, setup]) {
      const ingress = template.findResources('AWS::EC2::SecurityGroupIngress') as Record<string, Resource>;
      for (const rule of Object.values(ingress)) expect(rule.Properties.CidrIp).toBeUndefined();
    }
    const groups = stateful.findResources('AWS::EC2::SecurityGroup') as Record<string, Resource>;
    const cidrs = Object.values(groups).flatMap((group) =>
      ((group.Properties.SecurityGroupIngress as { CidrIp?: string }[] | undefined) ?? []).map((rule) => rule.CidrIp),
    );
    // Only the interface endpoints accept a range: HTTPS from the VPC itself.
    expect(cidrs).toEqual(['10.40.0.0/16']);
  });

  it('creates the five topics at deploy, raw-logs with six partitions, with create rights on those topics only', () => {
    const createTopics = single(
      setup.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { KAFKA_TOPICS: Match.anyValue() } } },
      }),
    );
    const variables = (createTopics.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(JSON.parse(variables.KAFKA_TOPICS ?? '[]')).toEqual([
      { name: 'raw-logs', partitions: 6 },
      { name: 'enriched-logs-complete', partitions: 3 },
      { name: 'enriched-logs-partial', partitions: 3 },
      { name: 'raw-logs-dlq', partitions: 1 },
      { name: 'raw-logs-unprocessed', partitions: 3 },
    ]);
    setup.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['kafka-cluster:CreateTopic', 'kafka-cluster:DescribeTopic'] }),
        ]),
      },
    });
  });

  it('runs the topic and migration steps as deploy-time triggers of the setup stack', () => {
    setup.resourceCountIs('Custom::Trigger', 2);
    stateful.resourceCountIs('Custom::Trigger', 0);
  });

  it('ships the SQL migrations next to the bundled migrate handler', () => {
    const migrate = single(
      setup.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'migrate' } } },
      }),
    );
    const bundle = assetDirectory(built.outdir, migrate);
    expect(existsSync(join(bundle, 'index.mjs'))).toBe(true);
    const sql = readdirSync(join(bundle, 'migrations')).filter((file) => file.endsWith('.sql'));
    expect(sql).toContain('1764200000000_metadata.sql');
  });
});

function mappingOf(topic: string): Resource {
  return single(stateless.findResources('AWS::Lambda::EventSourceMapping', { Properties: { Topics: [topic] } }));
}

describe('stateless stack', () => {
  it('builds the four functions from the house construct: Node 24, arm64, ESM bundle, private subnets', () => {
    const functions = Object.values(pipelineFunctions());
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogGroup: expect.anything() },
        VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
      });
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_METRICS_NAMESPACE: 'LogEnrichment',
      });
    }
    stateless.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 5);
  });

  it('gives the re-enricher 5 minutes, room to wait for its logs to be due, and enrich one', () => {
    const timeouts = Object.fromEntries(
      Object.values(pipelineFunctions()).map((fn) => [
        (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME,
        fn.Properties.Timeout,
      ]),
    );
    expect(timeouts).toEqual({ ingest: 10, enrich: 60, metadata: 10, reenrich: 300 });
  });

  it('opens Valkey on its port to enrich, the re-enricher and metadata only, from their security groups', () => {
    const ingress = Object.values(stateless.findResources('AWS::EC2::SecurityGroupIngress') as Record<string, Resource>);
    const toRedis = ingress.filter((rule) => JSON.stringify(rule.Properties.GroupId).includes('RedisSecurityGroup'));
    const sources = toRedis.map((rule) => {
      expect(rule.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 6379, ToPort: 6379 });
      expect(rule.Properties.CidrIp).toBeUndefined();
      return (rule.Properties.SourceSecurityGroupId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    });
    expect(sources.sort()).toEqual([
      expect.stringMatching(/^EnrichSecurityGroup/),
      expect.stringMatching(/^MetadataSecurityGroup/),
      expect.stringMatching(/^ReEnrichSecurityGroup/),
    ]);
  });

  it('gives enrich, the re-enricher and metadata a rediss:// (TLS) URL of the primary endpoint, and ingest none', () => {
    const redisUrls = Object.values(pipelineFunctions()).flatMap((fn) => {
      const url = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables.REDIS_URL;
      return url === undefined ? [] : [url];
    });
    expect(redisUrls).toHaveLength(3);
    for (const url of redisUrls) {
      expect(url).toEqual({
        'Fn::Join': [
          '',
          [
            'rediss://',
            { 'Fn::ImportValue': expect.stringContaining('PrimaryEndPointAddress') },
            ':',
            { 'Fn::ImportValue': expect.stringContaining('PrimaryEndPointPort') },
          ],
        ],
      });
    }
  });

  it('sizes the Redis and PostgreSQL client timeouts for AWS per function', () => {
    expect(variablesOf('enrich')).toMatchObject({
      ENRICH_DB_CONNECT_TIMEOUT_MS: '1500',
      ENRICH_DB_TIMEOUT_MS: '200',
      REDIS_TIMEOUT_MS: '100',
    });
    expect(variablesOf('reenrich')).toMatchObject({
      ENRICH_DB_CONNECT_TIMEOUT_MS: '1500',
      ENRICH_DB_TIMEOUT_MS: '200',
      REDIS_TIMEOUT_MS: '100',
    });
    expect(variablesOf('metadata')).toMatchObject({ REDIS_TIMEOUT_MS: '500', DATABASE_TIMEOUT_MS: '3000' });
  });

  it('sets only timeout variables the functions read', () => {
    const known: Record<string, string[]> = {
      enrich: [kafkaEnv, redisEnv, postgresEnv, enrichEnv].flatMap((schema) => Object.keys(schema.shape)),
      reenrich: [kafkaEnv, redisEnv, postgresEnv, enrichEnv, reenrichEnv].flatMap((schema) => Object.keys(schema.shape)),
      metadata: [redisEnv, postgresEnv].flatMap((schema) => Object.keys(schema.shape)),
      ingest: Object.keys(kafkaEnv.shape),
    };
    for (const [service, names] of Object.entries(known)) {
      const timeouts = Object.keys(variablesOf(service)).filter((name) => name.endsWith('_TIMEOUT_MS'));
      expect(timeouts.filter((name) => !names.includes(name))).toEqual([]);
    }
  });

  it('gives functions database parts and a secret ARN, never a password or DATABASE_URL', () => {
    for (const fn of Object.values(pipelineFunctions())) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.DATABASE_URL).toBeUndefined();
      if (variables.DATABASE_HOST !== undefined) {
        expect(variables).toMatchObject({ DATABASE_SSL: 'require', DATABASE_SECRET_ARN: expect.anything() });
      }
    }
  });

  it('maps raw-logs to enrich with batching, retries, bisection, partial responses and an on-failure topic', () => {
    stateless.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      Topics: ['raw-logs'],
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'log-enrichment-enrich' },
      MaximumRetryAttempts: 5,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 6 },
      DestinationConfig: { OnFailure: { Destination: 'kafka://raw-logs-unprocessed' } },
      MetricsConfig: { Metrics: Match.arrayWith(['EventCount']) },
    });
    stateless.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'enrich', ENRICH_REPORT_BATCH_ITEM_FAILURES: 'true' }) },
    });
  });

  it('maps enriched-logs-partial to the re-enricher as its own group, with partial responses retried without end', () => {
    const mapping = mappingOf('enriched-logs-partial');
    expect(mapping.Properties).toMatchObject({
      FunctionName: { Ref: expect.stringMatching(/^ReEnrich/) },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'log-enrichment-reenrich' },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: -1,
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 3 },
    });
    // Nothing to bisect (failures are per record) and nothing to divert: the records stay on the partial topic.
    expect(mapping.Properties.BisectBatchOnFunctionError).toBeUndefined();
    expect(mapping.Properties.DestinationConfig).toBeUndefined();
    expect(variablesOf('reenrich')).toMatchObject({ ENRICH_REPORT_BATCH_ITEM_FAILURES: 'true' });
  });

  it('gives the re-enricher the topics it reads and writes, the output encoding, and enrich\'s cache user and database role', () => {
    expect(variablesOf('reenrich')).toMatchObject({
      KAFKA_AUTH: 'aws-msk-iam',
      RAW_TOPIC: 'raw-logs',
      PARTIAL_TOPIC: 'enriched-logs-partial',
      COMPLETE_TOPIC: 'enriched-logs-complete',
      DLQ_TOPIC: 'raw-logs-dlq',
      OUTPUT_ENCODING: 'json',
      REDIS_USER: variablesOf('enrich').REDIS_USER,
      DATABASE_USER: 'enrich_app',
    });
    expect(variablesOf('reenrich').OUTPUT_ENCODING).toBe(variablesOf('enrich').OUTPUT_ENCODING);
  });

  it('lets the re-enricher\'s role read partial and raw, write complete/partial/dead-letter, and use its groups only', () => {
    const [cluster] = mskClusters(model);
    const reenrich = functions(model).find((fn) => fn.service === 'reenrich');
    if (cluster === undefined || reenrich === undefined) throw new Error('no MSK cluster or no reenrich function');
    const statements = statementsOf(model, reenrich);
    const can = (action: string, kind: 'topic' | 'group', name: string) =>
      allows(statements, `kafka-cluster:${action}`, kafkaResourceArn(cluster, kind, name));
    const granted = {
      read: ['enriched-logs-partial', 'raw-logs', 'enriched-logs-complete', 'raw-logs-dlq'].filter((t) => can('ReadData', 'topic', t)),
      write: ['enriched-logs-complete', 'enriched-logs-partial', 'raw-logs-dlq', 'raw-logs', 'raw-logs-unprocessed'].filter((t) =>
        can('WriteData', 'topic', t),
      ),
      groups: ['log-enrichment-reenrich', 'reenrich-read-back-0f1e2d3c', 'log-enrichment-enrich', 'replay-read-back-0f1e2d3c'].filter((g) =>
        can('AlterGroup', 'group', g),
      ),
    };
    expect(granted).toEqual({
      read: ['enriched-logs-partial', 'raw-logs'],
      write: ['enriched-logs-complete', 'enriched-logs-partial', 'raw-logs-dlq'],
      groups: ['log-enrichment-reenrich', 'reenrich-read-back-0f1e2d3c'],
    });
    expect(allows(statements, 'kafka-cluster:AlterGroup', kafkaResourceArn(cluster, 'group', 'reenrich-read-back-*'))).toBe(true);
  });

  it('has no SQS queue: failed records stay in Kafka', () => {
    for (const template of [stateful, setup, stateless]) template.resourceCountIs('AWS::SQS::Queue', 0);
  });

  it('lets enrich\'s role write the on-failure topic only: DescribeTopic and WriteData on that topic\'s ARN', () => {
    const enrichPolicy = single(
      stateless.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^Enrich') } }),
    );
    const statements = (enrichPolicy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
      .Statement;
    const onTopic = statements.filter((statement) => JSON.stringify(statement.Resource).includes('/raw-logs-unprocessed'));
    expect(onTopic).toHaveLength(1);
    expect([onTopic[0]?.Action].flat()).toEqual(['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData']);
    const topicArn = JSON.stringify(onTopic[0]?.Resource);
    expect(topicArn).toContain(':topic/');
    expect(topicArn).not.toContain('*');
  });

  it('grants Kafka data-plane actions per topic and group, with one wildcard: the re-enricher\'s read-back groups', () => {
    const policies = Object.values(stateless.findResources('AWS::IAM::Policy') as Record<string, Resource>);
    const statements = policies.flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement,
    );
    const kafkaStatements = statements.filter((statement) =>
      [statement.Action].flat().some((action) => action.startsWith('kafka-cluster:')),
    );
    expect(kafkaStatements.length).toBeGreaterThan(0);
    for (const statement of kafkaStatements) {
      expect([statement.Action].flat()).not.toContain('kafka-cluster:*');
      expect(statement.Resource).not.toBe('*');
    }
    const wildcards = kafkaStatements.filter((statement) => JSON.stringify(statement.Resource).includes('*'));
    expect(wildcards.map((statement) => [[statement.Action].flat(), JSON.stringify(statement.Resource).match(/\/[^/"]*\*/)?.[0]])).toEqual([
      [['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'], '/reenrich-read-back-*'],
    ]);
  });

  it('gives ingest write access to raw-logs only', () => {
    const ingestPolicy = single(
      stateless.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^Ingest') } }),
    );
    const actions = (ingestPolicy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement.flatMap(
      (statement) => [statement.Action].flat(),
    );
    expect(actions).toEqual(expect.arrayContaining(['kafka-cluster:WriteData', 'kafka-cluster:Connect']));
    expect(actions).not.toContain('kafka-cluster:ReadData');
    expect(actions).not.toContain('secretsmanager:GetSecretValue');
  });

  it('requires an API key on POST /api/logs and IAM auth on /api/metadata; only GET /api/health is open', () => {
    stateless.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      ApiKeyRequired: true,
      AuthorizationType: 'NONE',
    });
    stateless.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'ANY', AuthorizationType: 'AWS_IAM' });
    // Neither key nor IAM: the liveness probe alone.
    const open = Object.values(
      stateless.findResources('AWS::ApiGateway::Method', {
        Properties: { AuthorizationType: 'NONE', ApiKeyRequired: Match.absent() },
      }) as Record<string, Resource>,
    );
    expect(open.map((method) => `${method.Properties.HttpMethod} ${methodPath(method)}`)).toEqual(['GET /api/health']);
    stateless.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'logs' });
    stateless.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'metadata' });
  });

  it('serves every ingest route and every path of api/openapi.yaml through the gateway, health to ingest', () => {
    const methods = Object.values(stateless.findResources('AWS::ApiGateway::Method') as Record<string, Resource>);
    const served = (method: string, path: string) =>
      methods.some((candidate) => {
        const at = methodPath(candidate);
        const verb = candidate.Properties.HttpMethod;
        const proxied = at.endsWith('/{proxy+}') && path.startsWith(at.slice(0, -'{proxy+}'.length));
        return (at === path || proxied) && (verb === method.toUpperCase() || verb === 'ANY');
      });
    const openapi = parse(readFileSync(join(REPO_ROOT, 'api/openapi.yaml'), 'utf8')) as { paths: Record<string, object> };
    const documented = Object.entries(openapi.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const routes = INGEST_ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(documented).toEqual(expect.arrayContaining(routes));
    expect([...documented, ...routes].filter((route) => !served(...(route.split(' ') as [string, string])))).toEqual([]);
    const health = methods.find((method) => methodPath(method) === '/api/health');
    expect(JSON.stringify(health?.Properties.Integration)).toMatch(/Ingest/);
  });

  it('traces requests through the API stage with X-Ray', () => {
    stateless.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'v1', TracingEnabled: true });
  });

  it('throttles and caps ingest clients with a usage plan bound to the API key', () => {
    stateless.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 500, BurstLimit: 1000 },
      Quota: { Limit: 10_000_000, Period: 'DAY' },
    });
    stateless.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 1);
    stateless.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
  });

  it('has a dashboard with the pipeline, cache, breaker, offset-lag and Lambda widgets', () => {
    stateless.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(single(stateless.findResources('AWS::CloudWatch::Dashboard')).Properties.DashboardBody);
    for (const needle of [
      'LogsAccepted',
      'EnrichmentComplete',
      'EnrichmentPartial',
      'EnrichmentLatency',
      'p99',
      'CircuitBreakerState',
      'CacheHits',
      'tier',
      'OffsetLag',
      'ConcurrentExecutions',
      'Throttles',
      'OnFailureDestinationDeliveredEventCount',
    ]) {
      expect(body).toContain(needle);
    }
  });

  it('alarms on partial ratio, error rates, offset lag, dead-letter growth, failed and dropped records', () => {
    const alarms = Object.values(stateless.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>);
    const text = alarms.map((alarm) => JSON.stringify(alarm.Properties));
    expect(alarms).toHaveLength(9);
    expect(Object.keys(stateless.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.includes('ErrorRateAlarm'))).toEqual([
      expect.stringMatching(/^ObservabilityIngest/),
      expect.stringMatching(/^ObservabilityEnrich/),
      expect.stringMatching(/^ObservabilityMetadata/),
      expect.stringMatching(/^ObservabilityReenrich/),
    ]);
    for (const needle of ['EnrichmentPartial', 'Errors', 'OffsetLag', 'EnrichmentDeadLettered']) {
      expect(text.some((alarm) => alarm.includes(needle))).toBe(true);
    }
    expect(text.some((alarm) => alarm.includes('ApproximateNumberOfMessagesVisible'))).toBe(false);
  });

  it('alarms on the first record the mapping sends to the on-failure topic, by the mapping\'s UUID', () => {
    const mappingId = Object.keys(
      stateless.findResources('AWS::Lambda::EventSourceMapping', { Properties: { Topics: ['raw-logs'] } }),
    )[0];
    for (const metricName of ['OnFailureDestinationDeliveredEventCount', 'DroppedEventCount']) {
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metricName,
        Dimensions: [{ Name: 'EventSourceMappingUUID', Value: { Ref: mappingId } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('outputs the API URL, the API key id, the function names and the dashboard URL', () => {
    for (const name of ['Ingest', 'Enrich', 'Metadata', 'ReEnrich']) stateless.hasOutput(`${name}FunctionName`, {});
    stateless.hasOutput('ApiUrl', {});
    stateless.hasOutput('ApiKeyId', {});
    stateless.hasOutput('DashboardUrl', {});
  });
});

describe('checks', () => {
  it('passes cdk-nag AwsSolutions on the three stacks (findings not acknowledged with a reason)', () => {
    for (const stack of awsStacks()) {
      const report = new nag.AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => `${violation.ruleName}: ${violation.description}`)).toEqual([]);
    }
  });

  it('has no error annotations', () => {
    for (const stack of awsStacks()) {
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });
});
