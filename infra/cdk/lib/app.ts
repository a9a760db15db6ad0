/**
 * Builds the app for a target. `bin/app.ts` (the CDK CLI's entry) and the template tests both call this,
 * so the tests check exactly what `cdk synth` produces.
 *
 * AWS target, three stacks per stage, deployed in this order:
 * - `LogEnrichment-<stage>-Stateful`: network and data stores (the deletion-protected database among them);
 * - `LogEnrichment-<stage>-Setup`: what prepares them and can fail on a first deploy (rotation, RDS Proxy,
 *   topic and migration triggers), all deletable, so a failure there rolls back cleanly;
 * - `LogEnrichment-<stage>-Stateless`: functions, API, event source mappings, dashboard, alarms.
 * LocalStack target: `LogEnrichment-<stage>-Local` alone.
 */
import { type App, Duration, type Environment, Tags, Validations } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import { checkZoneIds } from './availability-zones.ts';
import type { TopicSpec } from './endpoints.ts';
import { TOPICS } from './endpoints.ts';
import { PlainBrokers } from './kafka-access.ts';
import { readSettings, type Settings } from './settings.ts';
import { SetupStack } from './setup-stack.ts';
import { StatefulStack } from './stateful-stack.ts';
import { StatelessStack, type StatelessStackProps } from './stateless-stack.ts';

const UNTAGGED_TYPES = ['AWS::CloudWatch::Dashboard', 'AWS::RDS::DBProxyTargetGroup'];

/** Stack names of a stage: `cdk deploy LogEnrichment-dev-Stateful`, and the keys of `--outputs-file`. */
export function stackNames(stage: string) {
  return {
    stateful: `LogEnrichment-${stage}-Stateful`,
    setup: `LogEnrichment-${stage}-Setup`,
    stateless: `LogEnrichment-${stage}-Stateless`,
    local: `LogEnrichment-${stage}-Local`,
  } as const;
}

export interface BuiltApp {
  readonly settings: Settings;
  readonly stateful?: StatefulStack;
  readonly setup?: SetupStack;
  readonly stateless: StatelessStack;
}

export function topicSpecs(settings: Settings): TopicSpec[] {
  return [
    { name: TOPICS.raw, partitions: settings.rawLogsPartitions },
    { name: TOPICS.complete, partitions: settings.outputTopicPartitions },
    { name: TOPICS.partial, partitions: settings.outputTopicPartitions },
    // Dead letters are rare and read by people: one partition keeps them in arrival order.
    { name: TOPICS.dlq, partitions: 1 },
    // Written by Lambda itself (the enrich event source mapping's on-failure destination), not by enrich; sized
    // like the output topics. It must exist before the mapping fails a batch, hence created here at deploy.
    { name: settings.onFailureTopic, partitions: settings.outputTopicPartitions },
  ];
}

/**
 * @example
 * const built = buildApp(new App({ context: { target: 'local', stage: 'ci' } }));
 */
export function buildApp(app: App): BuiltApp {
  const settings = readSettings(app.node);
  const names = stackNames(settings.stage);
  const env: Environment | undefined =
    settings.account !== undefined && settings.region !== undefined
      ? { account: settings.account, region: settings.region }
      : undefined;
  const common = {
    ...(env === undefined ? {} : { env }),
    stage: settings.stage,
    topics: TOPICS,
    outputEncoding: settings.outputEncoding,
    eventSource: {
      pollers: settings.costProfile === 'minimal' ? 'on-demand' : 'provisioned',
      batchSize: settings.enrichBatchSize,
      maxBatchingWindow: Duration.seconds(settings.enrichBatchWindowSeconds),
      retryAttempts: settings.enrichRetryAttempts,
      maximumPollers: settings.rawLogsPartitions,
      reenrichMaximumPollers: settings.outputTopicPartitions,
      onFailureTopic: settings.onFailureTopic,
    },
    ingestThrottle: {
      rateLimit: settings.ingestRateLimit,
      burstLimit: settings.ingestBurstLimit,
      dailyQuota: settings.ingestDailyQuota,
    },
  } satisfies Partial<StatelessStackProps>;
  // Every resource carries its stage (cost allocation, and telling stages apart in one account). Not the two
  // types CDK tags but the CloudFormation schema cfn-lint checks against has no Tags for.
  Tags.of(app).add('stage', settings.stage, { excludeResourceTypes: UNTAGGED_TYPES });

  let built: BuiltApp;
  if (settings.target === 'local') {
    const stateless = new StatelessStack(app, names.local, {
      ...common,
      target: 'local',
      description: 'Log enrichment on LocalStack: functions + REST API; Kafka, Redis, PostgreSQL from compose',
      resources: {
        kafka: new PlainBrokers(settings.localKafkaBrokers.split(',')),
        redis: { url: settings.localRedisUrl },
        database: { environment: { DATABASE_URL: settings.localDatabaseUrl } },
        // Local Redis and PostgreSQL have no per-function users: every function gets the compose URLs.
        cache: { enrich: { url: settings.localRedisUrl }, metadata: { url: settings.localRedisUrl } },
        databaseRoles: {
          enrich: { environment: { DATABASE_URL: settings.localDatabaseUrl } },
          metadata: { environment: { DATABASE_URL: settings.localDatabaseUrl } },
        },
      },
      local: { ingestApiKey: settings.localIngestApiKey, adminApiKey: settings.localAdminApiKey },
    });
    built = { settings, stateless };
  } else {
    const availabilityZoneIds = checkZoneIds(settings.availabilityZoneIds, settings.region);
    const stateful = new StatefulStack(app, names.stateful, {
      ...(env === undefined ? {} : { env }),
      description: `Log enrichment data stores (${settings.stage}): VPC, MSK (IAM), ElastiCache Valkey, Aurora PostgreSQL`,
      stage: settings.stage,
      costProfile: settings.costProfile,
      ...(availabilityZoneIds === undefined ? {} : { availabilityZoneIds }),
      regionPinned: settings.region !== undefined,
      mskMode: settings.mskMode,
      kafkaVersion: settings.kafkaVersion,
      brokerInstanceType: settings.brokerInstanceType,
      cacheNodeType: settings.cacheNodeType,
      protectData: settings.protectData,
    });
    const setup = new SetupStack(app, names.setup, {
      ...(env === undefined ? {} : { env }),
      description: `Log enrichment setup (${settings.stage}): secret rotation, RDS Proxy, topic and migration triggers`,
      costProfile: settings.costProfile,
      stateful,
      topics: topicSpecs(settings),
    });
    setup.addStackDependency(stateful, 'the setup steps prepare the data stores');
    const stateless = new StatelessStack(app, names.stateless, {
      ...common,
      target: 'aws',
      description: `Log enrichment functions (${settings.stage}), REST API, MSK event source mappings, dashboard and alarms`,
      resources: { ...stateful.resources, database: setup.database, databaseRoles: setup.databaseRoles },
      ...(settings.alarmTopicArn === undefined ? {} : { alarmTopicArn: settings.alarmTopicArn }),
    });
    stateless.addStackDependency(setup, 'functions need the topics and the schema the setup triggers create');
    built = { settings, stateful, setup, stateless };
  }

  // cdk-nag 3 is a policy-validation plugin: a violation that is not acknowledged interrupts synthesis.
  Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true }));
  return built;
}
