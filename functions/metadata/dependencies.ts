/**
 * Module-scope wiring of the metadata function: configuration read once at load (fails fast, naming every
 * bad variable), one pg pool and one Redis client per instance, both connected lazily on first use.
 */
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import { apiKeysEnv, postgresEnv, readConfig, redisEnv } from '#shared/config.ts';
import { logger } from '#shared/observability.ts';
import { PgMetadataRepository } from './adapters/pg-metadata-repository.ts';
import { RedisCacheInvalidator } from './adapters/redis-cache-invalidator.ts';
import type { MetadataApiDependencies } from './api/routes.ts';
import { MetadataCatalog } from './domain/catalog.ts';

// `and`, not spreading the shapes: postgresEnv's refinement (DATABASE_URL, or the RDS Proxy parts and the
// secret) must run too, or a missing database setting would surface only at the first query.
const config = readConfig(postgresEnv.and(redisEnv).and(apiKeysEnv));

const pool = createPool(config, 'metadata');
const redis = createRedis(config, 'metadata');
// ioredis emits 'error' on every failed (re)connect; without a listener it prints "Unhandled error event".
// A failed invalidation is logged, with its keys, where it happens (domain/catalog.ts).
redis.on('error', (error: Error) => logger.warn('metadata redis connection error', { error: error.message }));

export const dependencies: MetadataApiDependencies = {
  catalog: new MetadataCatalog(new PgMetadataRepository(pool), new RedisCacheInvalidator(redis)),
  apiKeys: { API_KEYS: config.API_KEYS, ADMIN_API_KEYS: config.ADMIN_API_KEYS },
};

/** Closes the pool and the Redis client (tests, the local runtime's shutdown); Lambda never needs it. */
export async function closeDependencies(): Promise<void> {
  redis.disconnect();
  await pool.end();
}
