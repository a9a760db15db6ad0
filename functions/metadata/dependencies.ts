/**
 * Wiring of the metadata function: configuration read from `env` and checked (fail fast), one pg pool and
 * one Redis client, both connecting lazily on first use, adapters typed as their ports. Nothing happens at
 * import: `handler.ts` calls `createMetadataDependencies(process.env)` once per Lambda instance; the local
 * runtime, tests and tools call it with an environment of their own and `close()` what it built.
 */
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import type { Log } from '#shared/log-port.ts';
import { logger, metrics as powertoolsMetrics } from '#shared/observability.ts';
import { type MetadataConfig, readMetadataConfig } from './config.ts';
import { PgMetadataBulkStore } from './src/adapters/pg-metadata-bulk.ts';
import { PgMetadataRepository } from './src/adapters/pg-metadata-repository.ts';
import { PowertoolsMetadataMetrics } from './src/adapters/powertools-metrics.ts';
import { RedisCacheInvalidator } from './src/adapters/redis-cache-invalidator.ts';
import { MetadataBulk } from './src/bulk.ts';
import { MetadataCatalog } from './src/catalog.ts';
import type { MetadataCacheInvalidator, MetadataMetrics } from './src/ports.ts';
import type { MetadataApiDependencies } from './src/routes.ts';

export interface MetadataOverrides {
  /** Defaults to the Powertools logger. */
  log?: Log;
  /** Defaults to EMF through Powertools. */
  metrics?: MetadataMetrics;
  /** Defaults to Redis (REDIS_URL); tests wrap it to count invalidations. */
  invalidator?: MetadataCacheInvalidator;
}

export interface MetadataDependencies extends MetadataApiDependencies {
  config: MetadataConfig;
  bulk: MetadataBulk;
  /** Closes the pool and the Redis client (local runtime shutdown, tests); a Lambda instance never needs it. */
  close(): Promise<void>;
}

/**
 * @example
 * const deps = createMetadataDependencies({ ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/log_enrichment' });
 * const { handler } = createMetadataApi(deps);
 * await deps.close();
 */
export function createMetadataDependencies(env: NodeJS.ProcessEnv, overrides: MetadataOverrides = {}): MetadataDependencies {
  const config = readMetadataConfig(env);
  const log = overrides.log ?? logger;
  const pool = createPool(config, 'metadata');
  const redis = createRedis(config, 'metadata');
  // ioredis emits 'error' on every failed (re)connect; without a listener it prints "Unhandled error event".
  // A failed invalidation is logged, with its keys, where it happens (src/catalog.ts).
  redis.on('error', (error: Error) => log.warn('metadata redis connection error', { error: error.message }));
  const observers = { log, metrics: overrides.metrics ?? new PowertoolsMetadataMetrics(powertoolsMetrics) };
  const invalidator = overrides.invalidator ?? new RedisCacheInvalidator(redis);
  const catalog = new MetadataCatalog(new PgMetadataRepository(pool), invalidator, observers);
  // The bulk import and export: the same pool, the same invalidator (one invalidation per import).
  const bulk = new MetadataBulk(new PgMetadataBulkStore(pool), { ...observers, invalidator });
  return {
    config,
    catalog,
    bulk,
    apiKeys: { API_KEYS: config.API_KEYS, ADMIN_API_KEYS: config.ADMIN_API_KEYS },
    async close() {
      redis.disconnect();
      await pool.end();
    },
  };
}
