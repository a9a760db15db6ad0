/**
 * What the local services read from the environment: where each service is expected, the pipeline's
 * topics, and how long `up` waits. Read on call, never at import.
 */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import { pipelineTopicList, pipelineTopicsEnv, type TopicSpec } from '#shared/kafka/topics.ts';

export const servicesEnv = pipelineTopicsEnv.extend({
  KAFKA_BROKERS: z
    .string()
    .regex(/^\s*[^\s:,]+:\d+\s*(,\s*[^\s:,]+:\d+\s*)*$/, 'must be a comma-separated host:port list')
    .default('127.0.0.1:9092'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/postgres'),
  /** How long `up` waits for a service it started to answer (the broker's first start is the slow one). */
  SERVICES_TIMEOUT_MS: z.coerce.number().int().positive().default(90_000),
});

/** Where each service is expected, and what `up` creates. */
export interface ServicesConfig {
  readonly kafka: {
    readonly brokers: readonly string[];
    /** The first broker's host and port: the one `up` starts when nothing answers. */
    readonly host: string;
    readonly port: number;
    /** Single node: the controller listens next to the broker (9092 → 9093). */
    readonly controllerPort: number;
  };
  readonly redis: { readonly url: string; readonly host: string; readonly port: number };
  readonly postgres: {
    readonly url: string;
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly database: string;
  };
  /** The pipeline's topics (raw, complete, partial, dlq). */
  readonly topics: readonly TopicSpec[];
  /** SERVICES_TIMEOUT_MS. */
  readonly timeoutMs: number;
}

/**
 * Parses `env` into the services' configuration. Throws a ConfigError that names every invalid variable.
 *
 * @example
 * const { kafka } = servicesConfig(); // kafka.brokers: ['127.0.0.1:9092'] unless KAFKA_BROKERS says otherwise
 */
export function servicesConfig(env: NodeJS.ProcessEnv = process.env): ServicesConfig {
  const config = readConfig(servicesEnv, env);
  const brokers = config.KAFKA_BROKERS.split(',').map((broker) => broker.trim());
  const [kafkaHost = '127.0.0.1', kafkaPort = '9092'] = (brokers[0] ?? '').split(':');
  const redisUrl = new URL(config.REDIS_URL);
  const postgresUrl = new URL(config.DATABASE_URL);
  return Object.freeze({
    kafka: Object.freeze({
      brokers: Object.freeze(brokers),
      host: kafkaHost,
      port: Number(kafkaPort),
      controllerPort: Number(kafkaPort) + 1,
    }),
    redis: Object.freeze({ url: config.REDIS_URL, host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }),
    postgres: Object.freeze({
      url: config.DATABASE_URL,
      host: postgresUrl.hostname,
      port: Number(postgresUrl.port || 5432),
      user: decodeURIComponent(postgresUrl.username) || 'postgres',
      database: decodeURIComponent(postgresUrl.pathname.slice(1)) || 'postgres',
    }),
    topics: pipelineTopicList(env),
    timeoutMs: config.SERVICES_TIMEOUT_MS,
  });
}
