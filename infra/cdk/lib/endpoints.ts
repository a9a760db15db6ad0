/**
 * The stateful resources as the functions see them: environment values plus the network and IAM access that
 * go with them. The AWS stack fills them from ElastiCache and RDS Proxy; the LocalStack target from the
 * compose services. Typed props between the stacks, so the stateless stack never looks anything up.
 */
import type { IConnectable, IVpc } from 'aws-cdk-lib/aws-ec2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { KafkaAccess } from './kafka-access.ts';

export interface RedisEndpoint {
  /**
   * `rediss://<primary endpoint>:<port>` on AWS (TLS; the endpoint follows a failover to the replica),
   * `redis://redis:6379` locally.
   */
  readonly url: string;
  /** Present on AWS: the cache's security group, opened to each function bound to it. */
  readonly network?: IConnectable;
  /**
   * Settings besides REDIS_URL that `#shared/config.ts` `redisEnv` reads: on AWS, the function's own cache
   * user (REDIS_AUTH=aws-iam, REDIS_USER, REDIS_CACHE_NAME; see cache-users.ts). None locally.
   */
  readonly environment?: Readonly<Record<string, string>>;
  /** On AWS: `elasticache:Connect` as that user. */
  grantConnect?(fn: IFunction): void;
}

export interface DatabaseEndpoint {
  /**
   * Plain settings read by `#shared/config.ts` `postgresEnv`: DATABASE_HOST/PORT/NAME/USER + DATABASE_SSL on
   * AWS (the password stays in the secret), DATABASE_URL locally.
   */
  readonly environment: Readonly<Record<string, string>>;
  /** Secret holding the password (`{"username","password",…}`), read at first connect. */
  readonly secret?: ISecret;
  /** Present on AWS: the RDS Proxy, opened to each function bound to it. */
  readonly network?: IConnectable;
}

/** A PostgreSQL login role of one function, created by the migration with the password in its secret. */
export interface AppDatabaseRole {
  /** The login role (its secret's `username`). */
  readonly role: string;
  /** The NOLOGIN group role holding its privileges (layers/shared/migrations). */
  readonly group: string;
  readonly secret: ISecret;
}

/**
 * The cache and the database per function: each function reaches them as its own user with its own rights
 * (on AWS; locally both are the compose services' URLs).
 */
export interface PerFunctionAccess {
  readonly cache: { readonly enrich: RedisEndpoint; readonly metadata: RedisEndpoint };
  readonly databaseRoles: { readonly enrich: DatabaseEndpoint; readonly metadata: DatabaseEndpoint };
}

/** Everything the stateless stack needs from the stateful one (or from the compose services). */
export interface PipelineResources extends PerFunctionAccess {
  readonly kafka: KafkaAccess;
  readonly redis: RedisEndpoint;
  readonly database: DatabaseEndpoint;
  /** AWS only: functions run in the VPC's private subnets. */
  readonly vpc?: IVpc;
  /** AWS only: the VPC interface endpoints (security group) the functions reach AWS APIs through. */
  readonly apiEndpoints?: IConnectable;
  /** AWS only: the MSK cluster the enrich event source mapping reads. */
  readonly mskClusterArn?: string;
}

/** Topic names and partition counts, created at deploy on AWS (KAFKA_TOPICS env of the topic trigger). */
export type { TopicSpec } from '#shared/kafka/topics.ts';

export interface TopicNames {
  readonly raw: string;
  readonly complete: string;
  readonly partial: string;
  readonly dlq: string;
}

/** Defaults of `#shared/config.ts` `topicsEnv`. */
export const TOPICS: TopicNames = {
  raw: 'raw-logs',
  complete: 'enriched-logs-complete',
  partial: 'enriched-logs-partial',
  dlq: 'raw-logs-dlq',
};

export const ENRICH_CONSUMER_GROUP = 'log-enrichment-enrich';

/**
 * The group the re-enricher's event source mapping commits its enriched-logs-partial offsets as: its own, so
 * that it never takes partitions or offsets from another reader of that topic.
 */
export const REENRICH_CONSUMER_GROUP = 'log-enrichment-reenrich';

/**
 * Prefix of the throwaway groups the re-enricher reads single raw-logs records back by offset with (OTLP
 * partials carry no raw log; `reenrich-read-back-<uuid>`, one per read-back): named at run time, so granted
 * by prefix.
 */
export { REENRICH_READ_BACK_GROUP_PREFIX } from '../../../functions/enrich/src/reenrich/read-back.ts';
