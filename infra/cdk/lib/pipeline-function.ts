/**
 * The house Lambda construct: every function of the app (the three pipeline functions and the deploy-time
 * triggers) is one of these, so runtime, architecture, bundling, log retention and tracing cannot drift.
 * Bindings add an environment variable and the access it needs in one call: a function never gets a topic
 * name without the right to write it, nor a grant without the variable that makes it used.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IConnectable, type IVpc, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { KafkaDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type ICommandHooks, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { nodejsBundling } from './bundling.ts';
import type { AppDatabaseRole, DatabaseEndpoint, RedisEndpoint, TopicSpec } from './endpoints.ts';
import type { KafkaAccess, TopicAccess } from './kafka-access.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag-suppressions.ts';
import { LOCK_FILE, REPO_ROOT } from './paths.ts';

/** EMF namespace of `#shared/observability.ts`; the dashboard reads the same. */
export const METRICS_NAMESPACE = 'LogEnrichment';

export interface PipelineFunctionProps {
  /** Absolute path of the handler module (see `paths.ts` ENTRIES). */
  readonly entry: string;
  /** POWERTOOLS_SERVICE_NAME: the `service` dimension of the function's metrics and logs. */
  readonly serviceName: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Runs the function in the VPC's private subnets (AWS target); absent locally. */
  readonly vpc?: IVpc;
  /**
   * The VPC's interface endpoints (AWS APIs over HTTPS). In a VPC the function's security group allows no
   * egress but what its bindings open, plus HTTPS to these endpoints.
   */
  readonly apiEndpoints?: IConnectable;
  /** Files to place next to the bundle (the migrate function's SQL). */
  readonly commandHooks?: ICommandHooks;
  readonly logRetention?: RetentionDays;
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * X-Ray active tracing (Lambda records a segment per invocation; Powertools Tracer adds subsegments). Off
   * where there is no X-Ray (LocalStack's free edition).
   * @default true
   */
  readonly activeTracing?: boolean;
}

export class PipelineFunction extends NodejsFunction {
  private kafkaBound: KafkaAccess | undefined;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    // One log group per function with a retention, created here rather than by Lambda on first write
    // (that one would never expire and would outlive `cdk destroy`).
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const securityGroup =
      props.vpc === undefined
        ? undefined
        : new SecurityGroup(scope, `${id}SecurityGroup`, {
            vpc: props.vpc,
            description: `${props.serviceName} function: egress only to what its bindings open`,
            allowAllOutbound: false,
          });
    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup,
      tracing: props.activeTracing === false ? Tracing.DISABLED : Tracing.ACTIVE,
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: nodejsBundling(props.commandHooks),
      ...(props.vpc === undefined
        ? {}
        : {
            vpc: props.vpc,
            vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
            allowPublicSubnet: false,
            ...(securityGroup === undefined ? {} : { securityGroups: [securityGroup] }),
          }),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        // Stack traces point into the TypeScript sources (the bundle ships its .map file).
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    });
    if (props.apiEndpoints !== undefined) this.connections.allowTo(props.apiEndpoints, Port.tcp(443), 'AWS APIs');

    const role = this.role ?? this;
    acknowledge(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "Lambda's standard logging policy; the function writes only to its own log group",
    );
    if (props.activeTracing !== false) {
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::*]',
        "X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords (added by active tracing) take no resource",
      );
    }
    if (props.vpc !== undefined) {
      acknowledge(
        role,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        "Lambda's standard VPC policy: the network-interface actions it grants cannot be scoped to resources",
      );
    }
  }

  /** A setting that needs no access (sizes, feature flags). */
  bindValue(name: string, value: string): this {
    this.addEnvironment(name, value);
    return this;
  }

  /** Kafka connection settings + network path + `kafka-cluster:Connect`; implied by the other Kafka bindings. */
  bindKafka(kafka: KafkaAccess): this {
    if (this.kafkaBound === kafka) return this;
    if (this.kafkaBound !== undefined) throw new Error(`${this.node.path} is already bound to another Kafka cluster`);
    this.kafkaBound = kafka;
    for (const [name, value] of Object.entries(kafka.environment)) this.addEnvironment(name, value);
    kafka.grantConnect(this);
    return this;
  }

  /** `envName=<topic>` (RAW_TOPIC, COMPLETE_TOPIC…) + the topic-level IAM actions for `access`. */
  bindTopic(kafka: KafkaAccess, envName: string, topic: string, access: TopicAccess): this {
    this.bindKafka(kafka);
    this.addEnvironment(envName, topic);
    kafka.grantTopic(this, topic, access);
    return this;
  }

  /** KAFKA_TOPICS (JSON list of names and partition counts) + the right to create exactly those topics. */
  bindTopicsToCreate(kafka: KafkaAccess, topics: readonly TopicSpec[]): this {
    this.bindKafka(kafka);
    this.addEnvironment('KAFKA_TOPICS', JSON.stringify(topics));
    for (const topic of topics) kafka.grantTopic(this, topic.name, 'create');
    return this;
  }

  /** The consumer group the event source mapping commits as (read/alter group offsets). */
  bindConsumerGroup(kafka: KafkaAccess, group: string): this {
    this.bindKafka(kafka);
    kafka.grantGroup(this, group);
    return this;
  }

  /**
   * The consumer groups the function's own code joins, named at run time as `<prefix><suffix>`: the group
   * actions on `<prefix>*`, the one wildcard of the grant, acknowledged (cdk-nag) with `reason` on that
   * resource alone. No environment variable: the prefix is the code's.
   *
   * @example
   * fn.bindConsumerGroupPrefix(kafka, 'reenrich-read-back-', 'Throwaway groups of single-record reads: reenrich-read-back-<uuid>');
   */
  bindConsumerGroupPrefix(kafka: KafkaAccess, prefix: string, reason: string): this {
    if (prefix.length === 0 || prefix.includes('*')) throw new Error(`a consumer group prefix, not ${JSON.stringify(prefix)}`);
    this.bindKafka(kafka);
    for (const resource of kafka.grantGroup(this, `${prefix}*`)) acknowledgeWildcardResource(this.role ?? this, resource, reason);
    return this;
  }

  /**
   * The on-failure destination of this function's MSK event source mapping, as a topic of the same cluster,
   * with the right to write it. No environment variable: the function never reads it. Lambda's pollers write
   * the failed records there as a Kafka producer using the function's execution role, so the role gets the
   * producer actions on that topic alone: WriteData (what AWS documents for a Kafka destination) and
   * DescribeTopic (which MSK requires with it), plus the cluster's WriteDataIdempotently in case Lambda's
   * producer turns idempotence on, the Kafka client default since 3.0 (enrich holds it anyway for its own
   * publisher).
   *
   * @example
   * fn.addEventSource(new ManagedKafkaEventSource({ …, onFailure: fn.kafkaOnFailureDestination(kafka, 'raw-logs-unprocessed') }));
   */
  kafkaOnFailureDestination(kafka: KafkaAccess, topic: string): KafkaDlq {
    this.bindKafka(kafka);
    kafka.grantTopic(this, topic, 'produce');
    return new KafkaDlq(topic);
  }

  /** `envName=<secret ARN>` + `secretsmanager:GetSecretValue` (and decrypt) on that secret only. */
  bindSecret(envName: string, secret: ISecret): this {
    this.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /**
   * REDIS_URL and the endpoint's auth settings, the network path to the cache, and (ElastiCache IAM auth)
   * `elasticache:Connect` as the endpoint's user: the user in REDIS_USER is the one the grant names.
   */
  bindRedis(redis: RedisEndpoint): this {
    this.addEnvironment('REDIS_URL', redis.url);
    for (const [name, value] of Object.entries(redis.environment ?? {})) this.addEnvironment(name, value);
    redis.grantConnect?.(this);
    if (redis.network !== undefined) this.connections.allowToDefaultPort(redis.network, 'Redis (TLS)');
    return this;
  }

  /**
   * DATABASE_* settings, DATABASE_SECRET_ARN with read access, and the network path to RDS Proxy. On AWS each
   * function gets its own role's endpoint (user and secret of that role: AppDatabaseRoles), and only the
   * migration gets the master user's.
   */
  bindDatabase(database: DatabaseEndpoint): this {
    for (const [name, value] of Object.entries(database.environment)) this.addEnvironment(name, value);
    if (database.secret !== undefined) this.bindSecret('DATABASE_SECRET_ARN', database.secret);
    if (database.network !== undefined) this.connections.allowToDefaultPort(database.network, 'PostgreSQL via RDS Proxy');
    return this;
  }

  /**
   * The migration: DATABASE_APP_ROLES (JSON `[{role, group, secretArn}]`, read by functions/metadata/migrate.ts,
   * which creates each missing login role with the password in its secret) + read access to those secrets.
   */
  bindDatabaseRoles(roles: readonly AppDatabaseRole[]): this {
    const value = roles.map(({ role, group, secret }) => ({ role, group, secretArn: secret.secretArn }));
    this.addEnvironment('DATABASE_APP_ROLES', Stack.of(this).toJsonString(value));
    for (const { secret } of roles) secret.grantRead(this);
    return this;
  }
}

/** Timeouts sized for the job: an HTTP request, a Kafka batch, a re-enrichment batch, a deploy step. */
export const TIMEOUTS = {
  http: Duration.seconds(10),
  batch: Duration.seconds(60),
  /**
   * The re-enricher holds a batch while its logs are not due yet and its breakers are open, up to
   * REENRICH_MAX_WAIT_MS (60 s by default, functions/enrich/config.ts) and never past the time the invocation
   * has left; then it enriches what is due, which takes as long as one of enrich's batches. 60 s would cut
   * that wait short on every batch that has to wait; 5 minutes leaves room for both, and for a longer wait.
   */
  reenrichBatch: Duration.minutes(5),
  deployStep: Duration.minutes(5),
} as const;
