import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import type { MetadataRequest } from '../../../functions/enrich/src/ports.ts';
import { buildLookup, FakeRemoteCache, FakeSource, host, network, service } from './fakes.ts';

function request(parts: Partial<{ ips: string[]; hostnames: string[]; services: string[] }>): MetadataRequest {
  return { ips: new Set(parts.ips ?? []), hostnames: new Set(parts.hostnames ?? []), services: new Set(parts.services ?? []) };
}

describe('TieredMetadataLookup', () => {
  let remote: FakeRemoteCache;
  let source: FakeSource;

  beforeEach(() => {
    remote = new FakeRemoteCache();
    source = new FakeSource();
    source.hosts = [host()];
    source.services = [service()];
    source.networks = [network()];
  });

  it('asks Redis once for all distinct keys, then PostgreSQL once for what Redis missed, and writes back', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source);
    remote.store.set(cacheKeys.service('payment-api'), service());
    // Act
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.1', '10.0.0.2'], services: ['payment-api'] }));
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(remote.reads).toHaveLength(1);
    expect(source.calls).toEqual([{ hostIps: ['10.0.0.1', '10.0.0.2'], hostnames: [], services: [], networkIps: ['10.0.0.1', '10.0.0.2'] }]);
    expect(resolved.hostsByIp.get('10.0.0.1')).toEqual({ state: 'found', value: host(), stale: false });
    expect(resolved.hostsByIp.get('10.0.0.2')).toEqual({ state: 'not_found', stale: false });
    expect(resolved.networks.get('10.0.0.2')).toMatchObject({ state: 'found', value: { zone: 'zone-a' } });
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found' });
    expect(remote.store.get(cacheKeys.hostByIp('10.0.0.2'))).toBeNull(); // negative entry, explicit
    expect(remote.store.get(cacheKeys.hostByIp('10.0.0.1'))).toEqual(host());
    expect(resolved.tally).toMatchObject({ redis: { hits: 1, misses: 4 }, postgres: { hits: 3, misses: 1 } });
  });

  it('answers repeated keys from the in-process cache with only the version check going to Redis', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source);
    await lookup.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api'] }));
    // Act
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api'] }));
    // Assess
    expect(remote.reads).toEqual([expect.any(Array), []]);
    expect(source.calls).toHaveLength(1);
    expect(resolved.tally.memory).toEqual({ hits: 3, misses: 0 });
  });

  it('drops the in-process cache when the metadata version moved, so an update is seen by the next batch', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source);
    await lookup.resolve(request({ services: ['payment-api'] }));
    source.services = [service({ team: 'new-team' })];
    remote.store.delete(cacheKeys.service('payment-api')); // what the metadata writer does
    remote.version = '2';
    // Act
    const resolved = await lookup.resolve(request({ services: ['payment-api'] }));
    // Assess
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found', value: { team: 'new-team' } });
  });

  it('goes to PostgreSQL while Redis is down, and opens the Redis breaker', async () => {
    // Prepare
    const { lookup, redisBreaker } = buildLookup(remote, source);
    remote.down = true;
    // Act
    const first = await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    const second = await lookup.resolve(request({ ips: ['10.0.0.3'] }));
    // Assess
    expect(first.hostsByIp.get('10.0.0.1')).toMatchObject({ state: 'found' });
    expect(second.hostsByIp.get('10.0.0.3')).toMatchObject({ state: 'not_found' });
    expect(redisBreaker.state).toBe('open');
    expect(source.calls).toHaveLength(2);
  });

  it('serves the expired in-process value, flagged stale, when Redis and PostgreSQL are both down', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source, { ttlMs: 1 });
    await lookup.resolve(request({ ips: ['10.0.0.1'], services: ['ghost'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    remote.down = true;
    source.down = true;
    // Act
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.1', '10.0.0.9'], services: ['ghost'] }));
    // Assess
    expect(resolved.hostsByIp.get('10.0.0.1')).toEqual({ state: 'found', value: host(), stale: true });
    expect(resolved.services.get('ghost')).toEqual({ state: 'not_found', stale: true });
    expect(resolved.hostsByIp.get('10.0.0.9')).toEqual({ state: 'unavailable' });
    expect(resolved.tally).toMatchObject({ stale: 3, unavailable: 2 });
  });

  it('skips an open breaker tier without calling it', async () => {
    // Prepare
    const { lookup, postgresBreaker } = buildLookup(remote, source);
    source.down = true;
    await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    expect(postgresBreaker.state).toBe('open');
    source.down = false;
    // Act
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.4'] }));
    // Assess
    expect(source.calls).toHaveLength(1);
    expect(resolved.hostsByIp.get('10.0.0.4')).toEqual({ state: 'unavailable' });
  });

  it('collapses concurrent misses of one key into one remote lookup', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source);
    let release: () => void = () => undefined;
    source.gate = new Promise((resolve) => {
      release = resolve;
    });
    // Act
    const first = lookup.resolve(request({ services: ['payment-api'] }));
    const second = lookup.resolve(request({ services: ['payment-api'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    release();
    const [a, b] = await Promise.all([first, second]);
    // Assess
    expect(source.calls).toHaveLength(1);
    expect(a.services.get('payment-api')).toMatchObject({ state: 'found' });
    expect(b.services.get('payment-api')).toBe(a.services.get('payment-api'));
  });

  it('does not write back when the version moved during the batch', async () => {
    // Prepare
    const { lookup } = buildLookup(remote, source);
    let release: () => void = () => undefined;
    source.gate = new Promise((resolve) => {
      release = resolve;
    });
    // Act
    const pending = lookup.resolve(request({ services: ['payment-api'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    remote.version = '2'; // a metadata write lands while we query PostgreSQL
    release();
    await pending;
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(remote.writes).toHaveLength(0);
  });
});
