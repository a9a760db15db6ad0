/**
 * The app's settings, read once from CDK context (cdk.json, or `-c key=value`) and checked like the functions'
 * environment: every bad value is named at once. `-c` values arrive as strings, hence the coercions.
 */
import type { Node } from 'constructs';
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import { TOPICS } from './endpoints.ts';

const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const settingsSchema = z.object({
  /** `aws` (default): the whole pipeline. `local`: functions + REST API on LocalStack, data stores in compose. */
  target: z.enum(['aws', 'local']).default('aws'),
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

/**
 * @example
 * const settings = readSettings(app.node); // throws ConfigError naming every bad context value
 */
export function readSettings(node: Node): Settings {
  const keys = Object.keys(settingsSchema.shape);
  const context = Object.fromEntries(keys.map((key) => [key, node.tryGetContext(key) as unknown]));
  return readConfig(settingsSchema, context as NodeJS.ProcessEnv);
}
