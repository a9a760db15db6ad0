/**
 * Demo metadata (scripts/demo-metadata.json) for local runs: `node scripts/seed.ts` (env DATABASE_URL and,
 * to drop what enrich cached, REDIS_URL), or `seedDemoMetadata()` from `npm start`.
 *
 * It goes through the same use cases as the API (validation, repository upsert, cache invalidation), so a
 * demo record is exactly what a POST would have stored. Idempotent: a record that already holds the demo
 * values is not written again, and nothing is invalidated for it.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import { postgresEnv, readConfig, redisEnv } from '#shared/config.ts';
import { logger, metrics } from '#shared/observability.ts';
import { PgMetadataRepository } from '../functions/metadata/src/adapters/pg-metadata-repository.ts';
import { PowertoolsMetadataMetrics } from '../functions/metadata/src/adapters/powertools-metrics.ts';
import { RedisCacheInvalidator } from '../functions/metadata/src/adapters/redis-cache-invalidator.ts';
import { MetadataCatalog, type UpsertOutcome } from '../functions/metadata/src/catalog.ts';
import type { MetadataCacheInvalidator } from '../functions/metadata/src/ports.ts';
import { DemoMetadata, toHost, toNetwork, toService } from '../functions/metadata/src/schemas.ts';

export const DEMO_METADATA_FILE = new URL('./demo-metadata.json', import.meta.url);

export type SeedSummary = Record<'hosts' | 'services' | 'networks', Record<UpsertOutcome, number>>;

/** Without Redis there is no cache to invalidate. */
const NO_CACHE: MetadataCacheInvalidator = { invalidate: async () => undefined };

/**
 * Upserts the demo hosts, services and networks, and invalidates the cache entries of what changed.
 *
 * @example
 * const summary = await seedDemoMetadata('postgres://postgres@127.0.0.1:5432/log_enrichment', 'redis://127.0.0.1:6379');
 * summary.hosts; // { created: 4, updated: 0, unchanged: 0 } on a fresh database, { …, unchanged: 4 } afterwards
 */
export async function seedDemoMetadata(databaseUrl: string, redisUrl?: string): Promise<SeedSummary> {
  return seedMetadata(databaseUrl, redisUrl, await readDemoMetadata());
}

/**
 * Upserts a metadata set through the metadata function's own use case (so caches are invalidated as on
 * any write); idempotent.
 *
 * @example
 * await seedMetadata(databaseUrl, redisUrl, { hosts: [...], services: [], networks: [] });
 */
export async function seedMetadata(databaseUrl: string, redisUrl: string | undefined, demo: DemoMetadata): Promise<SeedSummary> {
  const pool = createPool(readConfig(postgresEnv, { DATABASE_URL: databaseUrl }), 'seed');
  // A script can wait longer for Redis than a Lambda lookup does (REDIS_TIMEOUT_MS defaults to 50 ms).
  const redis =
    redisUrl === undefined ? undefined : createRedis(readConfig(redisEnv, { REDIS_URL: redisUrl, REDIS_TIMEOUT_MS: '2000' }), 'seed');
  // Reconnect errors are reported by the failed invalidation itself; without a listener ioredis prints them.
  redis?.on('error', () => undefined);
  const catalog = new MetadataCatalog(new PgMetadataRepository(pool), redis === undefined ? NO_CACHE : new RedisCacheInvalidator(redis), {
    log: logger,
    metrics: new PowertoolsMetadataMetrics(metrics),
  });
  try {
    return {
      hosts: await upsertAll(demo.hosts.map(toHost), (host) => catalog.hosts.upsert(host)),
      services: await upsertAll(demo.services.map(toService), (service) => catalog.services.upsert(service)),
      networks: await upsertAll(demo.networks.map(toNetwork), (network) => catalog.networks.upsert(network)),
    };
  } finally {
    redis?.disconnect();
    await pool.end();
  }
}

/** The demo file, validated with the API's own POST schemas (so a typo there fails here, not in a demo). */
export async function readDemoMetadata(): Promise<DemoMetadata> {
  const parsed = DemoMetadata.safeParse(JSON.parse(await readFile(DEMO_METADATA_FILE, 'utf8')));
  if (!parsed.success) throw new Error(`${DEMO_METADATA_FILE.pathname} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

async function upsertAll<T>(records: T[], upsert: (record: T) => Promise<UpsertOutcome>) {
  const counts: Record<UpsertOutcome, number> = { created: 0, updated: 0, unchanged: 0 };
  // One at a time: a handful of records, and each network upsert sweeps the network cache keys.
  for (const record of records) counts[await upsert(record)] += 1;
  return counts;
}

if (import.meta.main) {
  const env = readConfig(
    z.object({
      DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
      REDIS_URL: z.string().optional(),
    }),
  );
  const summary = await seedDemoMetadata(env.DATABASE_URL, env.REDIS_URL);
  for (const [kind, counts] of Object.entries(summary)) {
    console.log(`seed: ${kind}: ${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged`);
  }
  if (env.REDIS_URL === undefined) console.log('seed: REDIS_URL is not set; no cache entries were invalidated');
}
