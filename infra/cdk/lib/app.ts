/**
 * Builds the app for a target. `bin/app.ts` (the CDK CLI's entry) and the template tests both call this,
 * so the tests check exactly what `cdk synth` produces.
 */
import { type App, Duration, type Environment, Validations } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import type { TopicSpec } from './endpoints.ts';
import { TOPICS } from './endpoints.ts';
import { PlainBrokers } from './kafka-access.ts';
import { readSettings, type Settings } from './settings.ts';
import { StatefulStack } from './stateful-stack.ts';
import { StatelessStack, type StatelessStackProps } from './stateless-stack.ts';

export const STACK_NAMES = {
  stateful: 'LogEnrichmentStateful',
  stateless: 'LogEnrichmentStateless',
  local: 'LogEnrichmentLocal',
} as const;

export interface BuiltApp {
  readonly settings: Settings;
  readonly stateful?: StatefulStack;
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
 * const built = buildApp(new App({ context: { target: 'local' } }));
 */
export function buildApp(app: App): BuiltApp {
  const settings = readSettings(app.node);
  const env: Environment | undefined =
    settings.account !== undefined && settings.region !== undefined
      ? { account: settings.account, region: settings.region }
      : undefined;
  const common = {
    ...(env === undefined ? {} : { env }),
    topics: TOPICS,
    eventSource: {
      batchSize: settings.enrichBatchSize,
      maxBatchingWindow: Duration.seconds(settings.enrichBatchWindowSeconds),
      retryAttempts: settings.enrichRetryAttempts,
      maximumPollers: settings.rawLogsPartitions,
      onFailureTopic: settings.onFailureTopic,
    },
    ingestThrottle: {
      rateLimit: settings.ingestRateLimit,
      burstLimit: settings.ingestBurstLimit,
      dailyQuota: settings.ingestDailyQuota,
    },
  } satisfies Partial<StatelessStackProps>;

  let built: BuiltApp;
  if (settings.target === 'local') {
    const stateless = new StatelessStack(app, STACK_NAMES.local, {
      ...common,
      target: 'local',
      description: 'Log enrichment on LocalStack: functions + REST API; Kafka, Redis, PostgreSQL from compose',
      resources: {
        kafka: new PlainBrokers(settings.localKafkaBrokers.split(',')),
        redis: { url: settings.localRedisUrl },
        database: { environment: { DATABASE_URL: settings.localDatabaseUrl } },
      },
      local: { ingestApiKey: settings.localIngestApiKey, adminApiKey: settings.localAdminApiKey },
    });
    built = { settings, stateless };
  } else {
    const stateful = new StatefulStack(app, STACK_NAMES.stateful, {
      ...(env === undefined ? {} : { env }),
      description: 'Log enrichment data stores: VPC, MSK (IAM), ElastiCache Valkey, Aurora PostgreSQL + RDS Proxy',
      mskMode: settings.mskMode,
      kafkaVersion: settings.kafkaVersion,
      brokerInstanceType: settings.brokerInstanceType,
      topics: topicSpecs(settings),
      cacheNodeType: settings.cacheNodeType,
      protectData: settings.protectData,
    });
    const stateless = new StatelessStack(app, STACK_NAMES.stateless, {
      ...common,
      target: 'aws',
      description: 'Log enrichment functions, REST API, MSK event source mapping, dashboard and alarms',
      resources: stateful.resources,
      ...(settings.alarmTopicArn === undefined ? {} : { alarmTopicArn: settings.alarmTopicArn }),
    });
    stateless.addStackDependency(stateful, 'functions need the topics and the schema the stateful triggers create');
    built = { settings, stateful, stateless };
  }

  // cdk-nag 3 is a policy-validation plugin: a violation that is not acknowledged interrupts synthesis.
  Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true }));
  return built;
}
