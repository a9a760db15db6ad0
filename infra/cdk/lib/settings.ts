/**
 * The app's settings, read once from CDK context (cdk.json, or `-c key=value`) and checked like the functions'
 * environment: every bad value is named at once. `-c` values arrive as strings, hence the coercions.
 */
import type { Node } from 'constructs';
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import { OUTPUT_ENCODINGS } from '../../../functions/enrich/src/otlp/types.ts';
import { TOPICS } from './endpoints.ts';

const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** A list from cdk.json (an array) or from `-c key=a,b` (a comma-separated string). */
const list = z.union([
  z.array(z.string()),
  z.string().transform((value) => value.split(',').map((item) => item.trim()).filter((item) => item.length > 0)),
]);

export const settingsSchema = z.object({
  /** `aws` (default): the whole pipeline. `local`: functions + REST API on LocalStack, data stores in compose. */
  target: z.enum(['aws', 'local']).default('aws'),
  /**
   * Names the stacks (`LogEnrichment-<stage>-…`) and the resources that carry a name, so stages deploy side by
   * side in one account. Short: it is part of every stack name, and CloudFormation builds function names
   * (64 characters at most) from the stack name.
   */
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,7}$/, '1 to 8 characters: a lowercase letter, then lowercase letters or digits')
    .default('dev'),
  /**
   * `standard`: highly available (two cache nodes, endpoints in both AZs, Aurora behind RDS Proxy, provisioned
   * event-source pollers with retries and an on-failure topic). `minimal`: the cheapest settings that still
   * run the pipeline, for development (README, "Deploy", says what it gives up).
   */
  costProfile: z.enum(['standard', 'minimal']).default('standard'),
  /**
   * Two availability zone IDs (`use1-az1,use1-az2`) for the isolated subnets. IDs, unlike names, mean the same
   * zone in every account; checked in `availability-zones.ts`.
   */
  availabilityZoneIds: list.optional(),
  /** Pins the stacks to an account/region; without them the templates are environment-agnostic. */
  account: z.string().regex(/^\d{12}$/).optional(),
  region: z.string().min(1).optional(),
  mskMode: z.enum(['serverless', 'provisioned']).default('serverless'),
  kafkaVersion: z.string().min(1).default('3.9.x'),
  brokerInstanceType: z.string().startsWith('kafka.').default('kafka.m7g.large'),
  /** ElastiCache node type of the Valkey primary and its replica. */
  cacheNodeType: z.string().startsWith('cache.').default('cache.t4g.small'),
  rawLogsPartitions: count(6),
  outputTopicPartitions: count(3),
  /**
   * On-failure destination of the enrich event source mapping: a topic of the same cluster that receives the
   * records themselves. Never raw-logs (Lambda refuses a loop) nor raw-logs-dlq, whose consumers read only
   * enrich's own dead-letter envelope.
   */
  onFailureTopic: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: letters, digits, ".", "_", "-"')
    .refine((name) => !Object.values(TOPICS).includes(name), 'must differ from the pipeline topics (raw-logs-dlq included)')
    .default('raw-logs-unprocessed'),
  enrichBatchSize: count(500),
  enrichBatchWindowSeconds: z.coerce.number().int().min(0).max(300).default(1),
  enrichRetryAttempts: z.coerce.number().int().min(0).max(10_000).default(5),
  /**
   * How enrich writes enriched-logs-complete and -partial: `json` (our schema), `otlp_proto` or `otlp_json`
   * (OTLP, for an OpenTelemetry Collector's Kafka receiver). Enrich's OUTPUT_ENCODING, on both targets.
   */
  outputEncoding: z.enum(OUTPUT_ENCODINGS).default('json'),
  ingestRateLimit: count(500),
  ingestBurstLimit: count(1000),
  ingestDailyQuota: count(10_000_000),
  protectData: flag.default(true),
  alarmTopicArn: z.string().startsWith('arn:').optional(),
  // LocalStack target: compose service names on the network LocalStack starts the function containers in.
  localKafkaBrokers: z.string().min(1).default('kafka:19092'),
  localRedisUrl: z.string().regex(/^redis:\/\//).default('redis://redis:6379'),
  localDatabaseUrl: z.string().regex(/^postgres:\/\//).default('postgres://postgres:postgres@postgres:5432/log_enrichment'),
  localIngestApiKey: z.string().min(20).default('local-ingest-key-0123456789'),
  localAdminApiKey: z.string().min(1).default('local-admin-key'),
});
export type Settings = z.infer<typeof settingsSchema>;
export type CostProfile = Settings['costProfile'];

/**
 * The physical name of a named resource of a stage: `log-enrichment-<stage>[-<part>…]`, so that stages never
 * collide in one account and a name left behind by a failed deploy belongs to one stage only.
 *
 * @example
 * stageName('dev', 'ingest'); // 'log-enrichment-dev-ingest'
 */
export function stageName(stage: string, ...parts: string[]): string {
  return ['log-enrichment', stage, ...parts].join('-');
}

/**
 * @example
 * const settings = readSettings(app.node); // throws ConfigError naming every bad context value
 */
export function readSettings(node: Node): Settings {
  const keys = Object.keys(settingsSchema.shape);
  const context = Object.fromEntries(keys.map((key) => [key, node.tryGetContext(key) as unknown]));
  return readConfig(settingsSchema, context as NodeJS.ProcessEnv);
}
