/**
 * Wiring of the enrich function: `createEnrichDependencies(env)` reads and checks its configuration (fail
 * fast), builds the clients (they connect lazily, on first use) and gives each use case its adapters, typed
 * as their ports. Nothing happens at import: handler.ts calls `createEnrichDependencies(process.env)` once per
 * Lambda instance; the local runner, tests and bench call it with their own environment, publisher, log,
 * metrics sink or instance id, and `close()` what it built.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { type EventPublisher, KafkaPublisher } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import { logger, metrics as powertoolsMetrics } from '#shared/observability.ts';
import { type EnrichConfig, readEnrichConfig } from './config.ts';
import { MemoryCache } from './src/adapters/memory-cache.ts';
import { PostgresMetadataSource } from './src/adapters/postgres-metadata-source.ts';
import { PowertoolsEnrichMetrics } from './src/adapters/powertools-metrics.ts';
import { RedisBreakerReports } from './src/adapters/redis-breaker-reports.ts';
import { RedisMetadataCache } from './src/adapters/redis-metadata-cache.ts';
import { SharedBreaker } from './src/breaker.ts';
import { EnrichBatch } from './src/enrich-batch.ts';
import { createEnrichFunction, type EnrichFunction, type EnrichHandlerDependencies } from './src/enrich-handler.ts';
import type { EnrichMetrics } from './src/ports.ts';
import { TieredMetadataLookup } from './src/tiered-lookup.ts';

export const BREAKER_NAMES = { redis: 'redis', postgres: 'postgres' } as const;

export interface EnrichOverrides {
  /** Defaults to a KafkaPublisher from the Kafka environment (KAFKA_BROKERS or MSK_CLUSTER_ARN). */
  publisher?: EventPublisher;
  /** Defaults to the Powertools logger. */
  log?: Log;
  /** Defaults to EMF through Powertools. */
  metrics?: EnrichMetrics;
  /** Identifies this instance in the shared breaker reports (defaults to host, pid and a random suffix). */
  instanceId?: string;
}

export interface EnrichDependencies extends EnrichHandlerDependencies {
  config: EnrichConfig;
  instanceId: string;
  enrichBatch: EnrichBatch;
  lookup: TieredMetadataLookup;
  /** The raw function over `enrichBatch` (no middleware): what the local event source and tests invoke. */
  enrich: EnrichFunction;
  /** Closes the producer, the pool and the Redis client (local runtime shutdown, tests); a Lambda instance never needs it. */
  close(): Promise<void>;
}

/**
 * @throws ConfigError naming every bad variable of `env`.
 * @example
 * const deps = createEnrichDependencies({ ...process.env, REDIS_URL: 'redis://127.0.0.1:6390' }, { instanceId: 'test-a' });
 * await deps.enrich(mskEvent);
 * await deps.close();
 */
export function createEnrichDependencies(env: NodeJS.ProcessEnv, overrides: EnrichOverrides = {}): EnrichDependencies {
  const config = readEnrichConfig(env);
  const publisher = overrides.publisher ?? new KafkaPublisher(readConfig(kafkaEnv, env), 'enrich');
  const instanceId = overrides.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const log = overrides.log ?? logger;

  const redis = createRedis(config, 'enrich');
  // The pool's timeout bounds connecting and is the server-side statement_timeout; each lookup query has its
  // own, much tighter, client-side budget.
  const pool = createPool({ ...config, DATABASE_TIMEOUT_MS: config.ENRICH_DB_CONNECT_TIMEOUT_MS }, 'enrich');
  const remote = new RedisMetadataCache(redis, {
    ttlSeconds: config.ENRICH_REDIS_TTL_S,
    negativeTtlSeconds: config.ENRICH_REDIS_NEGATIVE_TTL_S,
    log,
  });
  // Instances that keep failing re-open, and so re-report, once per reset time: twice that keeps a report
  // alive exactly while someone still fails (functions/enrich/src/breaker.ts). The breaker is told too: a
  // report it has not probed yet stops counting once it is that old.
  const reportTtlMs = 2 * config.ENRICH_BREAKER_RESET_MS;
  const breakerReports = new RedisBreakerReports(redis, { keyPrefix: config.ENRICH_BREAKER_KEY_PREFIX, reportTtlMs });
  const breaker = {
    resetMs: config.ENRICH_BREAKER_RESET_MS,
    errorPercent: config.ENRICH_BREAKER_ERROR_PERCENT,
    volume: config.ENRICH_BREAKER_VOLUME,
    windowMs: config.ENRICH_BREAKER_WINDOW_MS,
  };
  const redisConnectMs = Math.max(config.REDIS_TIMEOUT_MS * 4, 200); // as createRedis sets it
  // The Redis breaker stays in-process: whoever can read a shared report has just reached Redis itself.
  const redisBreaker = new SharedBreaker(
    { ...breaker, name: BREAKER_NAMES.redis, timeoutMs: redisConnectMs + config.REDIS_TIMEOUT_MS },
    { instanceId, log },
  );
  const postgresBreaker = new SharedBreaker(
    { ...breaker, name: BREAKER_NAMES.postgres, timeoutMs: config.ENRICH_DB_CONNECT_TIMEOUT_MS + config.ENRICH_DB_TIMEOUT_MS, reportTtlMs },
    { reports: breakerReports, instanceId, log },
  );
  const lookup = new TieredMetadataLookup({
    memory: new MemoryCache({
      maxEntries: config.ENRICH_MEMORY_MAX_ENTRIES,
      maxBytes: config.ENRICH_MEMORY_MAX_BYTES,
      ttlMs: config.ENRICH_MEMORY_TTL_MS,
      negativeTtlMs: config.ENRICH_MEMORY_NEGATIVE_TTL_MS,
    }),
    remote,
    source: new PostgresMetadataSource(pool, { queryTimeoutMs: config.ENRICH_DB_TIMEOUT_MS }),
    redisBreaker,
    postgresBreaker,
    log,
    provenance: config.ENRICH_PROVENANCE,
  });
  const enrichBatch = new EnrichBatch({
    lookup,
    publisher,
    metrics: overrides.metrics ?? new PowertoolsEnrichMetrics(powertoolsMetrics),
    topics: { complete: config.COMPLETE_TOPIC, partial: config.PARTIAL_TOPIC, deadLetter: config.DLQ_TOPIC },
    log,
    reportBatchItemFailures: config.ENRICH_REPORT_BATCH_ITEM_FAILURES,
    outputEncoding: config.OUTPUT_ENCODING,
  });
  return {
    config,
    instanceId,
    enrichBatch,
    lookup,
    enrich: createEnrichFunction(enrichBatch),
    async close() {
      redisBreaker.shutdown();
      postgresBreaker.shutdown();
      await Promise.allSettled([publisher.close(), pool.end(), redis.quit().catch(() => redis.disconnect())]);
    },
  };
}
