import { jest } from '@jest/globals';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { METRIC } from '#shared/metric-names.ts';
import { logger, metrics } from '#shared/observability.ts';
import { PowertoolsMetadataMetrics } from '../../../functions/metadata/src/adapters/powertools-metrics.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { FailingInvalidator, host, MemoryRepository, network, RecordingInvalidator, service, unobserved } from './fakes.ts';

function setup() {
  const repository = new MemoryRepository();
  const invalidator = new RecordingInvalidator();
  return { repository, invalidator, catalog: new MetadataCatalog(repository, invalidator, unobserved) };
}

afterEach(() => jest.restoreAllMocks());

describe('cache invalidation after writes', () => {
  it('drops the new host by IP and by name after a create', async () => {
    // Prepare
    const { catalog, invalidator } = setup();

    // Act
    await catalog.hosts.create(host());

    // Assess
    expect(invalidator.calls).toEqual([
      { keys: [cacheKeys.hostByIp('192.168.1.100'), cacheKeys.hostByName('payment-api-01')], patterns: [] },
    ]);
  });

  it('drops the old and the new IP when a host moves', async () => {
    // Prepare
    const { catalog, invalidator } = setup();
    await catalog.hosts.create(host());
    invalidator.calls.length = 0;

    // Act
    await catalog.hosts.replace(host({ ipAddress: '192.168.1.120' }));

    // Assess
    expect(invalidator.calls).toEqual([
      {
        keys: [
          cacheKeys.hostByIp('192.168.1.100'),
          cacheKeys.hostByName('payment-api-01'),
          cacheKeys.hostByIp('192.168.1.120'),
        ],
        patterns: [],
      },
    ]);
  });

  it('drops a deleted host by IP and by name', async () => {
    // Prepare
    const { catalog, invalidator } = setup();
    await catalog.hosts.create(host());
    invalidator.calls.length = 0;

    // Act
    await catalog.hosts.remove('payment-api-01');

    // Assess
    expect(invalidator.calls).toEqual([
      { keys: [cacheKeys.hostByIp('192.168.1.100'), cacheKeys.hostByName('payment-api-01')], patterns: [] },
    ]);
  });

  it('drops the service entry after a service write', async () => {
    // Prepare
    const { catalog, invalidator } = setup();

    // Act
    await catalog.services.create(service());
    await catalog.services.replace(service({ version: '3.0.0' }));

    // Assess
    expect(invalidator.calls).toEqual([
      { keys: [cacheKeys.service('payment-service')], patterns: [] },
      { keys: [cacheKeys.service('payment-service')], patterns: [] },
    ]);
  });

  it('sweeps every network entry after a network write', async () => {
    // Prepare
    const { catalog, invalidator } = setup();

    // Act
    await catalog.networks.create(network());

    // Assess
    expect(invalidator.calls).toEqual([{ keys: [], patterns: [cacheKeys.networkPattern] }]);
  });

  it('invalidates nothing when a write fails', async () => {
    // Prepare
    const { catalog, invalidator } = setup();
    await catalog.hosts.create(host());
    invalidator.calls.length = 0;

    // Act
    const creating = catalog.hosts.create(host());
    const replacing = catalog.hosts.replace(host({ hostname: 'unknown-01' }));

    // Assess
    await expect(creating).rejects.toMatchObject({ statusCode: 409, field: 'hostname' });
    await expect(replacing).rejects.toMatchObject({ statusCode: 404 });
    expect(invalidator.calls).toEqual([]);
  });
});

describe('upsert (seeding)', () => {
  it('creates, then updates, then leaves alone a record that already holds the values', async () => {
    // Prepare
    const { catalog, invalidator } = setup();

    // Act
    const outcomes = [
      await catalog.services.upsert(service()),
      await catalog.services.upsert(service({ version: '9.9.9' })),
      await catalog.services.upsert(service({ version: '9.9.9' })),
    ];

    // Assess
    expect(outcomes).toEqual(['created', 'updated', 'unchanged']);
    expect(invalidator.calls).toHaveLength(2);
  });
});

describe('when the cache is unreachable', () => {
  function setupWithCacheDown() {
    const repository = new MemoryRepository();
    const logError = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
    const addMetric = jest.fn<Metrics['addMetric']>();
    jest.spyOn(metrics, 'singleMetric').mockReturnValue({ addMetric } as unknown as Metrics);
    // Powertools' logger and metrics, as the function's wiring passes them.
    const observers = { log: logger, metrics: new PowertoolsMetadataMetrics(metrics) };
    return { repository, logError, addMetric, catalog: new MetadataCatalog(repository, new FailingInvalidator(), observers) };
  }

  it('still commits the write and returns the stored record', async () => {
    // Prepare
    const { catalog, repository } = setupWithCacheDown();

    // Act
    const stored = await catalog.hosts.create(host());

    // Assess
    expect(stored).toMatchObject(host());
    expect(repository.hosts.records.has('payment-api-01')).toBe(true);
  });

  it('logs an error naming the keys it could not drop', async () => {
    // Prepare
    const { catalog, logError } = setupWithCacheDown();

    // Act
    await catalog.hosts.create(host());

    // Assess
    expect(logError).toHaveBeenCalledWith(
      expect.stringContaining('metadata cache invalidation failed'),
      expect.objectContaining({
        keys: [cacheKeys.hostByIp('192.168.1.100'), cacheKeys.hostByName('payment-api-01')],
        error: expect.any(Error),
      }),
    );
  });

  it('emits the CacheInvalidationFailures metric', async () => {
    // Prepare
    const { catalog, addMetric } = setupWithCacheDown();

    // Act
    await catalog.networks.create(network());

    // Assess
    expect(addMetric).toHaveBeenCalledWith(METRIC.cacheInvalidationFailures, 'Count', 1);
  });
});
