/**
 * scripts/seed.ts against a database of its own (created, migrated and dropped here): the demo records have
 * fixed keys, which must not collide with anything other test files put into the shared test database.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createPool } from '#shared/clients/postgres.ts';
import { postgresEnv, readConfig } from '#shared/config.ts';
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { PgMetadataRepository } from '../../../functions/metadata/src/adapters/pg-metadata-repository.ts';
import { seedDemoMetadata } from '../../../scripts/seed.ts';
import { TEST_ENV } from '../env.ts';

const databaseName = `seed_test_${randomUUID().replaceAll('-', '')}`;
const databaseUrl = (() => {
  const url = new URL(TEST_ENV.DATABASE_URL);
  url.pathname = `/${databaseName}`;
  return url.toString();
})();

let redis: Redis;
let pool: pg.Pool;
let repository: PgMetadataRepository;

beforeAll(async () => {
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
  redis = new Redis(TEST_ENV.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  pool = createPool(readConfig(postgresEnv, { DATABASE_URL: databaseUrl }), 'seed-test');
  repository = new PgMetadataRepository(pool);
});

afterAll(async () => {
  await pool.end();
  redis.disconnect();
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  // The name is this file's own (seed_test_ + hex), so it is safe to put into the statement.
  await client.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
  await client.end();
});

describe('seedDemoMetadata', () => {
  it('creates the demo records, drops their cache entries, and writes nothing on a second run', async () => {
    // Prepare
    await redis.set(cacheKeys.hostByIp('192.168.1.100'), 'stale', 'EX', 60);
    await redis.set(cacheKeys.service('payment-service'), 'stale', 'EX', 60);

    // Act
    const first = await seedDemoMetadata(databaseUrl, TEST_ENV.REDIS_URL);
    const cachedAfterFirst = await redis.exists(cacheKeys.hostByIp('192.168.1.100'), cacheKeys.service('payment-service'));
    const stored = await repository.hosts.get('payment-api-01');
    const second = await seedDemoMetadata(databaseUrl, TEST_ENV.REDIS_URL);

    // Assess
    expect(first).toEqual({
      hosts: { created: 4, updated: 0, unchanged: 0 },
      services: { created: 4, updated: 0, unchanged: 0 },
      networks: { created: 4, updated: 0, unchanged: 0 },
    });
    expect(cachedAfterFirst).toBe(0);
    expect(second).toEqual({
      hosts: { created: 0, updated: 0, unchanged: 4 },
      services: { created: 0, updated: 0, unchanged: 4 },
      networks: { created: 0, updated: 0, unchanged: 4 },
    });
    expect((await repository.hosts.get('payment-api-01'))?.updatedAt).toBe(stored?.updatedAt);
  });

  it('holds the records the demo relies on', async () => {
    // Prepare
    await seedDemoMetadata(databaseUrl);

    // Act
    const host = await repository.hosts.findByIp('192.168.1.100');
    const service = await repository.services.get('payment-service');
    const nested = await repository.networks.findMostSpecific('10.20.1.5');
    const wide = await repository.networks.findMostSpecific('10.1.2.3');
    const payments = await repository.networks.findMostSpecific('192.168.1.100');

    // Assess
    expect(host).toMatchObject({ hostname: 'payment-api-01', datacenter: 'us-east-1', environment: 'production', costCenter: 'payments' });
    expect(service).toMatchObject({ name: 'payment-service', team: 'payments' });
    expect(nested?.cidr).toBe('10.20.0.0/16');
    expect(wide?.cidr).toBe('10.0.0.0/8');
    expect(payments?.cidr).toBe('192.168.1.0/24');
  });

  it('puts back a demo record that was changed', async () => {
    // Prepare
    await seedDemoMetadata(databaseUrl);
    await pool.query(`UPDATE services SET version = '0.0.1' WHERE name = 'payment-service'`);

    // Act
    const summary = await seedDemoMetadata(databaseUrl);

    // Assess
    expect(summary.services).toEqual({ created: 0, updated: 1, unchanged: 3 });
    expect((await repository.services.get('payment-service'))?.version).toBe('2.4.1');
  });

  it('drops the cache entry of the address a demo host had before it was put back', async () => {
    // Prepare: the host moved to an address of this test's own, and enrich cached it there
    await seedDemoMetadata(databaseUrl);
    const bytes = randomUUID().replaceAll('-', '');
    const movedTo = `100.${64 + (Number.parseInt(bytes.slice(0, 2), 16) & 63)}.${Number.parseInt(bytes.slice(2, 4), 16)}.7`;
    await pool.query(`UPDATE hosts SET ip_address = $1::inet WHERE hostname = 'payment-api-01'`, [movedTo]);
    await redis.set(cacheKeys.hostByIp(movedTo), 'moved', 'EX', 60);

    // Act
    const summary = await seedDemoMetadata(databaseUrl, TEST_ENV.REDIS_URL);

    // Assess
    expect(summary.hosts).toEqual({ created: 0, updated: 1, unchanged: 3 });
    expect(await redis.exists(cacheKeys.hostByIp(movedTo))).toBe(0);
    expect((await repository.hosts.get('payment-api-01'))?.ipAddress).toBe('192.168.1.100');
  });
});
