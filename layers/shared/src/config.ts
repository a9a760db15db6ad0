/**
 * Configuration is read when a function's `create…Dependencies(env)` runs (its handler.ts calls it at
 * Lambda init) and fails fast: a Lambda that starts with a missing or malformed variable should die at init
 * with a message naming every bad variable, not at the first request with an `undefined` deep inside a driver.
 */
import * as z from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Parses `env` with `schema`, listing every problem at once.
 *
 * @example
 * const config = readConfig(z.object({ REDIS_URL: z.url() }), env);
 */
export function readConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

const commaList = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter((item) => item.length > 0));

const milliseconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Kafka connection: a static broker list (local, self-managed) or an MSK cluster ARN, resolved when the first client connects. */
export const kafkaEnv = z
  .object({
    KAFKA_BROKERS: commaList.optional(),
    MSK_CLUSTER_ARN: z.string().startsWith('arn:').optional(),
    KAFKA_AUTH: z.enum(['none', 'aws-msk-iam']).default('none'),
    KAFKA_CLIENT_ID: z.string().min(1).default('log-enrichment'),
    KAFKA_PRODUCE_RETRIES: z.coerce.number().int().min(2).default(3),
    KAFKA_RETRY_DELAY_MS: milliseconds(100),
    /** Connect timeout and per-request timeout of every Kafka client (the library's own default is 30 s). */
    KAFKA_TIMEOUT_MS: milliseconds(5000),
    /**
     * Produce deadline: how long one publish may wait for the broker's acknowledgement, queueing included,
     * before it is given up (ingest then answers 503 with Retry-After, enrich fails the batch). Bounded above
     * so that it stays well inside an HTTP request (the ingest Lambda's 10 s, API Gateway's 29 s).
     */
    KAFKA_PRODUCE_TIMEOUT_MS: z.coerce.number().int().min(100).max(20_000).default(2000),
    /**
     * The largest record batch the brokers take (their `message.max.bytes`; 1,048,588 by default, on MSK too).
     * The publisher splits every send so that no partition's batch comes near it, and refuses a single message
     * that could never fit (`MessageTooLargeError`) instead of sending it to be refused on every retry.
     */
    KAFKA_MESSAGE_MAX_BYTES: z.coerce.number().int().min(16_384).default(1_048_588),
    AWS_REGION: z.string().optional(),
  })
  .refine((env) => (env.KAFKA_BROKERS?.length ?? 0) > 0 || env.MSK_CLUSTER_ARN !== undefined, {
    message: 'set KAFKA_BROKERS (host:port list) or MSK_CLUSTER_ARN',
    path: ['KAFKA_BROKERS'],
  })
  // MSK clusters here have IAM access control only: any other auth talks plain text to the IAM listener.
  .refine((env) => env.MSK_CLUSTER_ARN === undefined || env.KAFKA_AUTH === 'aws-msk-iam', {
    message: 'MSK_CLUSTER_ARN needs KAFKA_AUTH=aws-msk-iam',
    path: ['KAFKA_AUTH'],
  });
export type KafkaEnv = z.infer<typeof kafkaEnv>;

export const topicsEnv = z.object({
  RAW_TOPIC: z.string().min(1).default('raw-logs'),
  COMPLETE_TOPIC: z.string().min(1).default('enriched-logs-complete'),
  PARTIAL_TOPIC: z.string().min(1).default('enriched-logs-partial'),
  DLQ_TOPIC: z.string().min(1).default('raw-logs-dlq'),
});
export type TopicsEnv = z.infer<typeof topicsEnv>;

/**
 * Redis: REDIS_URL, and on AWS ElastiCache IAM authentication (REDIS_AUTH=aws-iam): the connection
 * authenticates as REDIS_USER with a token signed for REDIS_CACHE_NAME (the replication group id) in
 * AWS_REGION, so no password sits anywhere. IAM authentication needs TLS, hence rediss://.
 */
export const redisEnv = z
  .object({
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    REDIS_TIMEOUT_MS: milliseconds(50),
    REDIS_AUTH: z.enum(['none', 'aws-iam']).default('none'),
    /** ElastiCache user id (= user name for IAM users): lowercase letters, digits and hyphens. */
    REDIS_USER: z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be an ElastiCache user id').optional(),
    REDIS_CACHE_NAME: z.string().min(1).optional(),
    AWS_REGION: z.string().min(1).optional(),
  })
  .refine(
    (env) =>
      env.REDIS_AUTH === 'none' ||
      (env.REDIS_USER !== undefined &&
        env.REDIS_CACHE_NAME !== undefined &&
        env.AWS_REGION !== undefined &&
        env.REDIS_URL.startsWith('rediss://')),
    {
      message: 'REDIS_AUTH=aws-iam needs REDIS_USER, REDIS_CACHE_NAME, AWS_REGION and a rediss:// REDIS_URL',
      path: ['REDIS_AUTH'],
    },
  );
export type RedisEnv = z.infer<typeof redisEnv>;

/**
 * PostgreSQL: DATABASE_URL (local runs, tests), or, on AWS, the parts of the RDS Proxy endpoint plus the ARN of
 * the Secrets Manager secret holding the password (DATABASE_HOST/PORT/NAME/USER + DATABASE_SECRET_ARN), so no
 * password sits in the function's environment. `createPool` fetches the password on first connect.
 */
export const postgresEnv = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    DATABASE_HOST: z.string().min(1).optional(),
    DATABASE_PORT: z.coerce.number().int().positive().default(5432),
    DATABASE_NAME: z.string().min(1).optional(),
    DATABASE_USER: z.string().min(1).optional(),
    DATABASE_SECRET_ARN: z.string().startsWith('arn:').optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().positive().default(5),
    DATABASE_TIMEOUT_MS: milliseconds(2000),
    DATABASE_SSL: z.enum(['off', 'require']).default('off'),
  })
  .refine(
    (env) =>
      env.DATABASE_URL !== undefined ||
      (env.DATABASE_HOST !== undefined &&
        env.DATABASE_NAME !== undefined &&
        env.DATABASE_USER !== undefined &&
        env.DATABASE_SECRET_ARN !== undefined),
    {
      message: 'set DATABASE_URL, or DATABASE_HOST, DATABASE_NAME, DATABASE_USER and DATABASE_SECRET_ARN',
      path: ['DATABASE_URL'],
    },
  );
export type PostgresEnv = z.infer<typeof postgresEnv>;

/** Comma-separated API keys; absent means the check is off (local runs). In AWS, API Gateway checks keys. */
export const apiKeysEnv = z.object({
  API_KEYS: commaList.optional(),
  ADMIN_API_KEYS: commaList.optional(),
});
export type ApiKeysEnv = z.infer<typeof apiKeysEnv>;
