/**
 * Stateless stack: the four functions, the REST API in front of ingest and metadata, the MSK event source
 * mappings of enrich and of the re-enricher, and (AWS target) the dashboard and alarms. Everything it needs from the data stores
 * arrives as typed `PipelineResources`: from the stateful and setup stacks on AWS, from the compose services
 * locally.
 */
import { CfnOutput, type Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  Period,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { StartingPosition, MetricType } from 'aws-cdk-lib/aws-lambda';
import { ManagedKafkaEventSource, type ManagedKafkaEventSourceProps } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { PostgresEnv, RedisEnv } from '#shared/config.ts';
import type { EnrichEnv } from '../../../functions/enrich/config.ts';
import type { OutputEncoding } from '../../../functions/enrich/src/otlp/types.ts';
import {
  ENRICH_CONSUMER_GROUP,
  type PipelineResources,
  REENRICH_CONSUMER_GROUP,
  REENRICH_READ_BACK_GROUP_PREFIX,
  type TopicNames,
} from './endpoints.ts';
import { MEMORY_MB } from './function-sizes.ts';
import { acknowledge } from './nag-suppressions.ts';
import { PipelineObservability } from './observability.ts';
import { ENTRIES } from './paths.ts';
import { PipelineFunction, TIMEOUTS } from './pipeline-function.ts';
import { stageName } from './settings.ts';

export type Target = 'aws' | 'local';

/** POWERTOOLS_SERVICE_NAME of each function: the `service` dimension of its metrics. */
export const SERVICES = { ingest: 'ingest', enrich: 'enrich', metadata: 'metadata', reenrich: 'reenrich' } as const;

export const API_STAGE = 'v1';

/** The `*_TIMEOUT_MS` variables a function's configuration reads: a misspelt name fails the type check. */
type ClientTimeouts<Env> = {
  readonly [Name in keyof Env as Name extends `${string}_TIMEOUT_MS` ? Name : never]?: number;
};

/**
 * Client budgets (ms) for AWS. The functions' defaults are sized for local services (REDIS_TIMEOUT_MS 50, so a
 * 200 ms connect; enrich's PostgreSQL 50 ms per query, 250 ms to connect); a TLS handshake with ElastiCache, or a
 * cold RDS Proxy connection plus the Secrets Manager fetch of the password, needs more. Enrich stays tight per
 * call (its breakers skip a slow source); metadata answers an administrator and can wait. The LocalStack
 * target gets the same values, so both targets behave alike.
 */
export const CLIENT_TIMEOUTS_MS = {
  enrich: { ENRICH_DB_CONNECT_TIMEOUT_MS: 1500, ENRICH_DB_TIMEOUT_MS: 200, REDIS_TIMEOUT_MS: 100 },
  metadata: { REDIS_TIMEOUT_MS: 500, DATABASE_TIMEOUT_MS: 3000 },
} as const satisfies {
  enrich: ClientTimeouts<EnrichEnv & RedisEnv>;
  metadata: ClientTimeouts<RedisEnv & PostgresEnv>;
};

/** A misspelt name would fail the type check here (and the env-schemas test) rather than fall back to json. */
const OUTPUT_ENCODING: keyof EnrichEnv = 'OUTPUT_ENCODING';

function environmentOf(values: Readonly<Record<string, number>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, String(value)]));
}

export interface EnrichEventSourceSettings {
  /**
   * `provisioned` (standard): pollers kept warm, and the error handling controls that need them (retries,
   * bisection, partial batch responses, the on-failure topic, the mapping's own metrics). `on-demand`
   * (minimal): no fixed poller cost; a failed batch is retried whole until it succeeds or its records expire.
   */
  readonly pollers: 'provisioned' | 'on-demand';
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly retryAttempts: number;
  /** Provisioned pollers: at most one per partition of raw-logs is ever useful. */
  readonly maximumPollers: number;
  /** The re-enricher's provisioned pollers: at most one per partition of enriched-logs-partial. */
  readonly reenrichMaximumPollers: number;
  /** Topic (same cluster) that receives the records of batches the mapping gives up on. */
  readonly onFailureTopic: string;
}

export interface StatelessStackProps extends StackProps {
  readonly target: Target;
  /** Part of the API, usage plan and dashboard names, so stages deploy side by side. */
  readonly stage: string;
  readonly resources: PipelineResources;
  readonly topics: TopicNames;
  readonly eventSource: EnrichEventSourceSettings;
  /** Enrich's OUTPUT_ENCODING: how the complete and partial topics are written (functions/enrich/config.ts). */
  readonly outputEncoding: OutputEncoding;
  /** Requests per second and burst of the ingest usage plan, and its daily quota. */
  readonly ingestThrottle: { readonly rateLimit: number; readonly burstLimit: number; readonly dailyQuota: number };
  /**
   * LocalStack only. The ingest API key gets a known value (a generated one would need an AWS call to read),
   * and metadata checks ADMIN_API_KEYS itself because LocalStack's free edition does not enforce IAM auth.
   */
  readonly local?: { readonly ingestApiKey: string; readonly adminApiKey: string };
  /** SNS topic that receives alarm notifications (AWS target); none means alarms only show in the console. */
  readonly alarmTopicArn?: string;
}

export class StatelessStack extends Stack {
  readonly ingest: PipelineFunction;
  readonly enrich: PipelineFunction;
  readonly metadata: PipelineFunction;
  readonly reenrich: PipelineFunction;
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { kafka, cache, databaseRoles, vpc, apiEndpoints } = props.resources;
    const { topics } = props;
    const network = {
      // LocalStack's free edition has no X-Ray.
      activeTracing: props.target === 'aws',
      ...(vpc === undefined ? {} : { vpc }),
      ...(apiEndpoints === undefined ? {} : { apiEndpoints }),
    };

    // Sizes: ingest and metadata answer one HTTP request; enrich handles a batch of up to batchSize records
    // with three lookups each and more memory, which on Lambda also means more CPU for JSON work.
    this.ingest = new PipelineFunction(this, 'Ingest', {
      entry: ENTRIES.ingest,
      serviceName: SERVICES.ingest,
      description: 'POST /api/logs: validates logs and publishes them to raw-logs',
      memorySize: MEMORY_MB.ingest,
      timeout: TIMEOUTS.http,
      ...network,
    }).bindTopic(kafka, 'RAW_TOPIC', topics.raw, 'produce');

    this.metadata = new PipelineFunction(this, 'Metadata', {
      entry: ENTRIES.metadata,
      serviceName: SERVICES.metadata,
      description: '/api/metadata: hosts, services and networks (PostgreSQL), invalidates the Redis cache',
      memorySize: MEMORY_MB.metadata,
      timeout: TIMEOUTS.http,
      environment: environmentOf(CLIENT_TIMEOUTS_MS.metadata),
      ...network,
    })
      .bindDatabase(databaseRoles.metadata)
      .bindRedis(cache.metadata);

    /** What enrich and the re-enricher both do: write the three output topics, in one encoding, from enrich's sources. */
    const enrichesLikeEnrich = (fn: PipelineFunction) =>
      fn
        .bindTopic(kafka, 'COMPLETE_TOPIC', topics.complete, 'produce')
        .bindTopic(kafka, 'PARTIAL_TOPIC', topics.partial, 'produce')
        .bindTopic(kafka, 'DLQ_TOPIC', topics.dlq, 'produce')
        .bindRedis(cache.enrich)
        .bindDatabase(databaseRoles.enrich)
        .bindValue(OUTPUT_ENCODING, props.outputEncoding);

    this.enrich = new PipelineFunction(this, 'Enrich', {
      entry: ENTRIES.enrich,
      serviceName: SERVICES.enrich,
      description: 'raw-logs batches: adds host/service/network metadata, publishes complete/partial/dead-letter',
      memorySize: MEMORY_MB.enrich,
      timeout: TIMEOUTS.batch,
      environment: environmentOf(CLIENT_TIMEOUTS_MS.enrich),
      ...network,
    })
      .bindTopic(kafka, 'RAW_TOPIC', topics.raw, 'consume')
      .bindConsumerGroup(kafka, ENRICH_CONSUMER_GROUP);
    enrichesLikeEnrich(this.enrich);

    // The re-enricher runs enrich's code on enrich's partial outputs: the same sources, so the same client
    // budgets, cache user and database role (it reads what enrich reads, nothing more), and the same output
    // encoding (it writes the topics enrich writes, which are read in one encoding). Its timeout is longer:
    // it waits inside an invocation for logs to be due (TIMEOUTS.reenrichBatch).
    this.reenrich = new PipelineFunction(this, 'ReEnrich', {
      entry: ENTRIES.reenrich,
      serviceName: SERVICES.reenrich,
      description: 'enriched-logs-partial batches: enriches partial logs again once their sources answer',
      memorySize: MEMORY_MB.reenrich,
      timeout: TIMEOUTS.reenrichBatch,
      environment: environmentOf(CLIENT_TIMEOUTS_MS.enrich),
      ...network,
    })
      // Its event source, and (enrichesLikeEnrich) one of its outputs: a log still partial goes back there, one attempt on.
      .bindTopic(kafka, 'PARTIAL_TOPIC', topics.partial, 'consume')
      // OTLP partials carry no raw log: it reads the raw-logs record back by its offset, each time as a
      // throwaway consumer group (REENRICH_READ_BACK_GROUP_PREFIX + a UUID).
      .bindTopic(kafka, 'RAW_TOPIC', topics.raw, 'consume')
      .bindConsumerGroup(kafka, REENRICH_CONSUMER_GROUP)
      .bindConsumerGroupPrefix(
        kafka,
        REENRICH_READ_BACK_GROUP_PREFIX,
        'Throwaway groups of the raw-logs read-backs, named at run time (reenrich-read-back-<uuid>): granted by that prefix only',
      );
    enrichesLikeEnrich(this.reenrich);

    if (props.local !== undefined) {
      this.metadata.bindValue('ADMIN_API_KEYS', props.local.adminApiKey);
      // LocalStack's free edition has no X-Ray to send traces to.
      for (const fn of [this.ingest, this.enrich, this.metadata, this.reenrich]) fn.bindValue('POWERTOOLS_TRACE_ENABLED', 'false');
    }

    this.api = this.restApi(props);
    // Generated names; the outputs let scripts find them (logs, the local event-source runner's invokes).
    new CfnOutput(this, 'IngestFunctionName', { value: this.ingest.functionName });
    new CfnOutput(this, 'EnrichFunctionName', { value: this.enrich.functionName });
    new CfnOutput(this, 'MetadataFunctionName', { value: this.metadata.functionName });
    new CfnOutput(this, 'ReEnrichFunctionName', { value: this.reenrich.functionName });

    if (props.target === 'aws') this.awsOnly(props);
  }

  /** REST API (v1: API keys and usage plans; HTTP APIs have neither). */
  private restApi(props: StatelessStackProps): RestApi {
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH });
    const api = new RestApi(this, 'Api', {
      restApiName: stageName(props.stage),
      description: 'Log ingestion (API key) and metadata administration (IAM)',
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: true,
      deployOptions: {
        stageName: API_STAGE,
        loggingLevel: MethodLoggingLevel.ERROR,
        metricsEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: props.ingestThrottle.rateLimit,
        throttlingBurstLimit: props.ingestThrottle.burstLimit,
        // X-Ray traces of each request through the stage (AWS target; LocalStack's free edition has no X-Ray).
        tracingEnabled: props.target === 'aws',
      },
    });
    // No gateway request validator: bodies are validated by the functions (zod, JSON and NDJSON, per-field
    // problems); a gateway model would be a second copy of the schema and cannot express NDJSON.
    acknowledge(api, 'AwsSolutions-APIG2', 'Request bodies are validated by the Lambda functions (zod schemas, JSON and NDJSON)');
    acknowledge(
      api.deploymentStage,
      'AwsSolutions-APIG3',
      'No WAF yet: ingest is protected by API keys with usage-plan throttling and quota; metadata by IAM',
    );
    const root = api.root.addResource('api');
    const ingestIntegration = new LambdaIntegration(this.ingest);

    // /api/logs: clients send an API key (x-api-key); the usage plan throttles and caps them per key.
    const postLogs = root.addResource('logs').addMethod('POST', ingestIntegration, {
      apiKeyRequired: true,
    });
    acknowledge(postLogs, 'AwsSolutions-APIG4', 'Machine clients (log shippers) authenticate with an API key on a usage plan');
    acknowledge(postLogs, 'AwsSolutions-COG4', 'Machine clients (log shippers) have no Cognito identity; they use API keys');

    // /api/health: liveness of ingest for load balancers and probes, open like api/openapi.yaml says. It answers
    // {"status":"ok"} without touching Kafka or any data; the stage's throttle still applies.
    const health = root.addResource('health').addMethod('GET', ingestIntegration);
    acknowledge(health, 'AwsSolutions-APIG4', 'Liveness probe only: answers {"status":"ok"}, reads and writes no data');
    acknowledge(health, 'AwsSolutions-COG4', 'Liveness probe only: answers {"status":"ok"}, reads and writes no data');

    // /api/metadata/...: a separate credential. IAM (SigV4) rather than a second API key: it names the caller,
    // needs no shared secret, and is granted by policy (see the MetadataInvokePolicy output).
    const metadata = root.addResource('metadata');
    const proxy = metadata.addProxy({
      defaultIntegration: new LambdaIntegration(this.metadata),
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      anyMethod: true,
    });
    if (proxy.anyMethod !== undefined) {
      acknowledge(proxy.anyMethod, 'AwsSolutions-COG4', 'Metadata administrators authenticate with IAM (SigV4)');
    }
    const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole !== undefined) {
      acknowledge(
        cloudWatchRole,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-level role API Gateway needs to write execution logs; AWS maintains its log actions',
      );
    }

    const key = api.addApiKey('IngestApiKey', {
      description: 'Ingest clients (POST /api/logs)',
      ...(props.local === undefined ? {} : { value: props.local.ingestApiKey }),
    });
    const plan = api.addUsagePlan('IngestUsagePlan', {
      name: stageName(props.stage, 'ingest'),
      description: 'Throttle and daily quota of ingest clients',
      throttle: { rateLimit: props.ingestThrottle.rateLimit, burstLimit: props.ingestThrottle.burstLimit },
      quota: { limit: props.ingestThrottle.dailyQuota, period: Period.DAY },
    });
    plan.addApiStage({ stage: api.deploymentStage });
    plan.addApiKey(key);

    new CfnOutput(this, 'ApiUrl', {
      value: api.urlForPath('/api'),
      description: 'Base URL of /api/logs, /api/health and /api/metadata',
    });
    new CfnOutput(this, 'ApiKeyId', {
      value: key.keyId,
      description: 'aws apigateway get-api-key --include-value --api-key <id> --query value --output text',
    });
    new CfnOutput(this, 'RestApiId', { value: api.restApiId });
    new CfnOutput(this, 'MetadataInvokeArn', {
      value: api.arnForExecuteApi('*', '/api/metadata/*', API_STAGE),
      description: 'Grant execute-api:Invoke on this ARN to metadata administrators',
    });
    return api;
  }

  private awsOnly(props: StatelessStackProps): void {
    const clusterArn = props.resources.mskClusterArn;
    if (clusterArn === undefined) throw new Error('the AWS target needs the MSK cluster ARN');
    const provisioned = props.eventSource.pollers === 'provisioned';
    const options: ManagedKafkaEventSourceProps = {
      clusterArn,
      topic: props.topics.raw,
      consumerGroupId: ENRICH_CONSUMER_GROUP,
      // TRIM_HORIZON: the mapping takes minutes to start; LATEST would skip logs ingested meanwhile.
      // (Once the group has committed offsets, those win.)
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: props.eventSource.batchSize,
      maxBatchingWindow: props.eventSource.maxBatchingWindow,
      ...(provisioned ? this.errorHandling(props) : {}),
    };
    // Partial batch responses only where the mapping asks for them (FunctionResponseTypes): otherwise a failure
    // is thrown, and the mapping retries the whole batch.
    this.enrich.bindValue('ENRICH_REPORT_BATCH_ITEM_FAILURES', String(options.reportBatchItemFailures === true));
    const eventSource = new ManagedKafkaEventSource(options);
    this.enrich.addEventSource(eventSource);

    // The re-enricher reads the partial topic as its own group, batched like enrich. TRIM_HORIZON: the partial
    // logs written before the mapping started are the ones it is for (those past REENRICH_MAX_AGE_MS are only
    // counted and left).
    const reenrichOptions: ManagedKafkaEventSourceProps = {
      clusterArn,
      topic: props.topics.partial,
      consumerGroupId: REENRICH_CONSUMER_GROUP,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: props.eventSource.batchSize,
      maxBatchingWindow: props.eventSource.maxBatchingWindow,
      ...(provisioned ? this.reenrichErrorHandling(props) : {}),
    };
    // A log not due yet is handed back: a batch item failure where the mapping reads them, else a failed
    // invocation (either way the mapping delivers it again).
    this.reenrich.bindValue('ENRICH_REPORT_BATCH_ITEM_FAILURES', String(reenrichOptions.reportBatchItemFailures === true));
    this.reenrich.addEventSource(new ManagedKafkaEventSource(reenrichOptions));

    for (const fn of [this.enrich, this.reenrich]) {
      acknowledge(
        fn.role ?? fn,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
        'Attached by ManagedKafkaEventSource: the network-interface and cluster-describe actions the MSK pollers need',
      );
    }

    const observability = new PipelineObservability(this, 'Observability', {
      dashboardName: stageName(props.stage),
      ingest: { fn: this.ingest, service: SERVICES.ingest },
      enrich: { fn: this.enrich, service: SERVICES.enrich },
      metadata: { fn: this.metadata, service: SERVICES.metadata },
      // On-demand pollers: a batch whose logs are not due yet fails its invocation on purpose, so errors are
      // no sign of trouble there.
      reenrich: { fn: this.reenrich, service: SERVICES.reenrich, alarmOnErrors: provisioned },
      ...(provisioned
        ? { onFailure: { eventSourceMappingId: eventSource.eventSourceMappingId, topic: props.eventSource.onFailureTopic } }
        : {}),
      ...(props.alarmTopicArn === undefined
        ? {}
        : { alarmAction: new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)) }),
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${observability.dashboard.dashboardName}`,
    });
  }

  /**
   * The error handling controls of provisioned pollers (retries, bisection, partial batch responses, the
   * on-failure destination) and the mapping's own metrics.
   */
  private errorHandling(props: StatelessStackProps): Partial<ManagedKafkaEventSourceProps> {
    // Batches the mapping gives up on (retries exhausted, or older than the maximum record age) go to a Kafka
    // topic of the same cluster: Lambda writes the records themselves there, with the failure as metadata, so
    // they outlive raw-logs' retention. An SQS or SNS destination would get only topic/partition/offsets, and
    // the logs would be lost once raw-logs expires them. Not raw-logs-dlq: that topic holds enrich's own dead
    // letters in their own JSON envelope, and its readers would break on Lambda's format mixed in.
    const { onFailureTopic } = props.eventSource;
    if (onFailureTopic === props.topics.dlq || onFailureTopic === props.topics.raw) {
      throw new Error(`the on-failure topic must not be ${onFailureTopic}`);
    }
    return {
      provisionedPollerConfig: { minimumPollers: 1, maximumPollers: props.eventSource.maximumPollers },
      retryAttempts: props.eventSource.retryAttempts,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      onFailure: this.enrich.kafkaOnFailureDestination(props.resources.kafka, onFailureTopic),
      // EventCount carries OnFailureDestinationDeliveredEventCount and DroppedEventCount, read by the alarms.
      metricsConfig: { metrics: [MetricType.EVENT_COUNT, MetricType.ERROR_COUNT, MetricType.KAFKA_METRICS] },
    };
  }

  /**
   * The re-enricher's mapping with provisioned pollers: partial batch responses, retried without end, and
   * neither bisection nor an on-failure destination. A log not due yet comes back as a batch item failure and
   * must be delivered again, however often: a finite retry count would end by dropping (or diverting) logs
   * that were only early. Nothing is lost by never giving up: the records stay on enriched-logs-partial
   * whatever the mapping does, and the re-enricher itself leaves a log once it is past its attempts or age.
   * No on-failure topic: enrich's (raw-logs-unprocessed) is replayed as raw records, and partial outputs mixed
   * in would break that; nothing needs a copy. No bisection: the failures are per record already.
   */
  private reenrichErrorHandling(props: StatelessStackProps): Partial<ManagedKafkaEventSourceProps> {
    return {
      provisionedPollerConfig: { minimumPollers: 1, maximumPollers: props.eventSource.reenrichMaximumPollers },
      retryAttempts: -1,
      reportBatchItemFailures: true,
      metricsConfig: { metrics: [MetricType.EVENT_COUNT, MetricType.ERROR_COUNT, MetricType.KAFKA_METRICS] },
    };
  }
}
