import { jest } from '@jest/globals';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { buildLookup, FakeBreakerReports, FakeRemoteCache, FakeSource, host, network, service, metadataRequest as request } from './fakes.ts';

/** A gate for FakeSource: calls hold until `release()`. */
function gate(source: FakeSource): () => void {
  let release: () => void = () => undefined;
  source.gate = new Promise((resolve) => {
    release = resolve;
  });
  return () => {
    source.gate = undefined;
    release();
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

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
    expect(resolved.hostsByIp.get('10.0.0.1')).toEqual({ state: 'found', value: host(), stale: false, tier: 'postgres', fetchedAt: expect.any(Number) });
    expect(resolved.hostsByIp.get('10.0.0.2')).toEqual({ state: 'not_found', stale: false, tier: 'postgres', fetchedAt: expect.any(Number) });
    expect(resolved.networks.get('10.0.0.2')).toMatchObject({ state: 'found', value: { zone: 'zone-a' } });
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found' });
    expect(remote.store.get(cacheKeys.hostByIp('10.0.0.2'))).toBeNull(); // negative entry, explicit
    expect(remote.store.get(cacheKeys.hostByIp('10.0.0.1'))).toEqual(host());
    expect(resolved.tally).toMatchObject({ redis: { hits: 1, misses: 4 }, postgres: { hits: 3, misses: 1 } });
  });

  it('writes nothing back to Redis under no version: a version that reappears could not tell it from current', async () => {
    // Prepare: a Redis tier that answers without a version
    remote.version = null;
    const { lookup } = buildLookup(remote, source);
    // Act
    const resolved = await lookup.resolve(request({ services: ['payment-api'] }));
    await new Promise((resolve) => setImmediate(resolve));
    // Assess: answered from PostgreSQL, nothing written back
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found' });
    expect(remote.writes).toEqual([]);
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
    expect(resolved.hostsByIp.get('10.0.0.1')).toEqual({ state: 'found', value: host(), stale: true, tier: 'memory', fetchedAt: expect.any(Number) });
    expect(resolved.services.get('ghost')).toEqual({ state: 'not_found', stale: true, tier: 'memory', fetchedAt: expect.any(Number) });
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

  it('does not keep in process a PostgreSQL answer read before a write another batch has already seen', async () => {
    // Prepare: batch X queries PostgreSQL under version 1, and is held there; Redis knows what Y will ask
    const { lookup } = buildLookup(remote, source);
    remote.store.set(cacheKeys.hostByIp('10.0.0.1'), host());
    remote.store.set(cacheKeys.networkForIp('10.0.0.1'), network());
    const release = gate(source);
    const x = lookup.resolve(request({ services: ['payment-api'] }));
    await tick();
    // Act: a metadata write (new row, key deleted, version bumped); batch Y sees version 2; then X finishes
    source.services = [service({ team: 'new-team' })];
    remote.version = '2';
    const y = await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    expect(y.tally.postgres).toEqual({ hits: 0, misses: 0 });
    release();
    const answeredX = await x;
    const next = await lookup.resolve(request({ services: ['payment-api'] }));
    // Assess: X answered what it read; the next batch does not get it from the in-process cache
    expect(answeredX.services.get('payment-api')).toMatchObject({ value: { team: 'payments' } });
    expect(next.services.get('payment-api')).toMatchObject({ state: 'found', value: { team: 'new-team' } });
    expect(next.tally.memory).toEqual({ hits: 0, misses: 1 });
  });

  it("does not take a concurrent batch's answer for a key when it was read before a version it has since seen", async () => {
    // Prepare: batch X fetches the service under version 1, and is held in PostgreSQL
    const { lookup } = buildLookup(remote, source);
    const release = gate(source);
    const x = lookup.resolve(request({ services: ['payment-api'] }));
    await tick();
    source.services = [service({ team: 'new-team' })];
    remote.version = '2';
    // Act: batch Y asks for the same key while X is in flight; its Redis read sees version 2
    const y = lookup.resolve(request({ services: ['payment-api'] }));
    await tick();
    release();
    const [answeredX, answeredY] = await Promise.all([x, y]);
    // Assess
    expect(answeredX.services.get('payment-api')).toMatchObject({ value: { team: 'payments' } });
    expect(answeredY.services.get('payment-api')).toMatchObject({ state: 'found', value: { team: 'new-team' } });
  });

  it('reads the in-process answers again from Redis when the version moved, and caches them under the new one', async () => {
    // Prepare
    const { lookup, memory } = buildLookup(remote, source);
    await lookup.resolve(request({ services: ['payment-api'] }));
    remote.store.set(cacheKeys.service('payment-api'), service({ team: 'from-redis' }));
    remote.version = '2';
    // Act
    const resolved = await lookup.resolve(request({ services: ['payment-api'] }));
    // Assess
    expect(resolved.services.get('payment-api')).toMatchObject({ value: { team: 'from-redis' } });
    expect(memory.version).toBe('2');
    expect(memory.get('services', 'payment-api')).toMatchObject({ value: { team: 'from-redis' } });
  });

  it("reads the PostgreSQL breaker reports with the batch's Redis read, and probes on a report from another instance", async () => {
    // Prepare: another instance reported PostgreSQL failing; here it answers
    const reports = new FakeBreakerReports();
    await reports.reportOpen('postgres', 'sick-instance');
    const { lookup, postgresBreaker } = buildLookup(remote, source, { reports, volume: 3 });
    // Act
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    // Assess
    expect(resolved.hostsByIp.get('10.0.0.1')).toMatchObject({ state: 'found' });
    expect(postgresBreaker.health()).toMatchObject({ state: 'closed', probePending: false, counts: { successes: 1 } });
    expect(remote.reads).toHaveLength(1);
  });

  it('reads the breaker reports only with a batch that may reach PostgreSQL: one the in-process cache answers whole sends the version read alone', async () => {
    // Prepare
    const reports = new FakeBreakerReports();
    const read = jest.spyOn(reports, 'read');
    const { lookup } = buildLookup(remote, source, { reports });
    await lookup.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api'] }));
    expect(read).toHaveBeenCalledTimes(1);
    // Act: the same keys, all in process
    await lookup.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api'] }));
    // Assess: the version check went out, the reports read did not
    expect(remote.reads).toEqual([expect.any(Array), []]);
    expect(read).toHaveBeenCalledTimes(1);
    // Act: a new key, which may reach PostgreSQL
    await lookup.resolve(request({ ips: ['10.0.0.1', '10.0.0.2'], services: ['payment-api'] }));
    // Assess
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('still probes on a report filed while it answered everything in process, at its next call to PostgreSQL', async () => {
    // Prepare: warm, then another instance reports PostgreSQL failing
    const reports = new FakeBreakerReports();
    const { lookup, postgresBreaker } = buildLookup(remote, source, { reports, volume: 3 });
    await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    await reports.reportOpen('postgres', 'sick-instance');
    source.down = true;
    // Act: a key nobody has cached: its PostgreSQL call is the probe, which fails
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.9'] }));
    // Assess: one failure was enough (volume 3): the report was read with this batch's Redis read
    expect(resolved.hostsByIp.get('10.0.0.9')).toEqual({ state: 'unavailable' });
    expect(postgresBreaker.state).toBe('open');
  });

  it('reads the breaker reports with the second read when the version moved under a batch answered in process', async () => {
    // Prepare: warm; then a write moves the version and drops the key from Redis, so PostgreSQL must answer it
    const reports = new FakeBreakerReports();
    const read = jest.spyOn(reports, 'read');
    const { lookup } = buildLookup(remote, source, { reports });
    await lookup.resolve(request({ services: ['payment-api'] }));
    remote.store.delete(cacheKeys.service('payment-api'));
    remote.version = '2';
    // Act
    const resolved = await lookup.resolve(request({ services: ['payment-api'] }));
    // Assess: two Redis reads this batch (version, then the keys again), the reports with the second
    expect(remote.reads.slice(1)).toEqual([[], [cacheKeys.service('payment-api')]]);
    expect(read).toHaveBeenCalledTimes(2);
    expect(source.calls).toHaveLength(2);
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found' });
  });

  it('opens the PostgreSQL breaker after one failed probe when another instance reported it failing', async () => {
    const reports = new FakeBreakerReports();
    await reports.reportOpen('postgres', 'sick-instance');
    const { lookup, postgresBreaker } = buildLookup(remote, source, { reports, volume: 3 });
    source.down = true;
    const resolved = await lookup.resolve(request({ ips: ['10.0.0.1'] }));
    expect(resolved.hostsByIp.get('10.0.0.1')).toEqual({ state: 'unavailable' });
    expect(postgresBreaker.state).toBe('open');
  });
});
