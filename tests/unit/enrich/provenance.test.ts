/**
 * Field provenance (enriched-log v2): which tier answered each field group, how old its value was (from the
 * PostgreSQL read, through Redis and the in-process cache) and whether it was stale, on the real lookup and
 * EnrichBatch over the fakes with an injected wall clock; and the setting off giving v1 byte for byte as it
 * was before provenance existed (v1-outputs.golden.json, see ./golden-scenario.ts).
 */
import { readFileSync } from 'node:fs';
import { silentLog } from '#shared/log-port.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { FETCHED_AT, NEGATIVE_MARKER, RedisMetadataCache } from '../../../functions/enrich/src/adapters/redis-metadata-cache.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import type { Provenance } from '../../../functions/enrich/src/enriched-log.ts';
import type { MetadataRequest } from '../../../functions/enrich/src/ports.ts';
import { buildLookup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, network, rawLog, service } from './fakes.ts';
import { type GoldenOutput, goldenOutputs } from './golden-scenario.ts';
import { expectValidEnrichedLog, validateEnrichedLogV1, validateEnrichedLogV2 } from './schema.ts';

const request = (parts: Partial<{ ips: string[]; hostnames: string[]; services: string[] }>): MetadataRequest => ({
  ips: new Set(parts.ips ?? []),
  hostnames: new Set(parts.hostnames ?? []),
  services: new Set(parts.services ?? []),
});

/** A wall clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Two enrich instances (each its own in-process cache) sharing one Redis and one PostgreSQL, one wall clock. */
function twoInstances(clock: { read: () => number }, options: { ttlMs?: number } = {}) {
  const remote = new FakeRemoteCache();
  const source = new FakeSource();
  source.hosts = [host()];
  source.services = [service()];
  source.networks = [network()];
  const make = (instanceId: string) => {
    const { lookup } = buildLookup(remote, source, { instanceId, clock: clock.read, ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }) });
    const publisher = new FakePublisher();
    const useCase = new EnrichBatch({ lookup, publisher, metrics: { batch: () => undefined }, topics: { complete: 'complete', partial: 'partial', deadLetter: 'dlq' }, reportBatchItemFailures: false, log: silentLog });
    return { lookup, publisher, useCase };
  };
  return { remote, source, a: make('a'), b: make('b') };
}

/** Enriches one log and returns its event (either topic). */
async function enrichOne(instance: { publisher: FakePublisher; useCase: EnrichBatch }, log: Record<string, unknown>): Promise<Record<string, unknown>> {
  const before = instance.publisher.published.length;
  await instance.useCase.handle(kafkaEvent([kafkaRecord(rawLog(log))]));
  const [message] = instance.publisher.published.slice(before);
  return JSON.parse(String(message?.value)) as Record<string, unknown>;
}

const provenanceOf = (event: Record<string, unknown>) => (event.enrichment as { provenance: Provenance }).provenance;

describe('field provenance', () => {
  it('says postgres, then redis, then memory, with the age since the PostgreSQL read growing each batch', async () => {
    // Prepare: instance a reads PostgreSQL first; instance b then finds Redis filled, and keeps it in process
    const clock = manualClock();
    const fetched = clock.now;
    const { a, b } = twoInstances(clock);
    // Act
    const first = await enrichOne(a, { source_ip: '10.0.0.1' });
    await flush(); // the write-back to Redis is fire-and-forget
    clock.now += 1_500;
    const second = await enrichOne(b, { source_ip: '10.0.0.1' });
    clock.now += 2_000;
    const third = await enrichOne(b, { source_ip: '10.0.0.1' });
    // Assess
    const group = (tier: string, age: number) => ({ tier, age_ms: age, stale: false });
    expect(provenanceOf(first)).toEqual({ host: group('postgres', 0), network: group('postgres', 0), service: group('postgres', 0) });
    expect(provenanceOf(second)).toEqual({ host: group('redis', 1_500), network: group('redis', 1_500), service: group('redis', 1_500) });
    expect(provenanceOf(third)).toEqual({ host: group('memory', 3_500), network: group('memory', 3_500), service: group('memory', 3_500) });
    expect(clock.now - fetched).toBe(3_500);
    for (const event of [first, second, third]) {
      expect(event).toMatchObject({ schema_version: 2, enrichment: { status: 'complete' } });
      expectValidEnrichedLog(event);
    }
  });

  it('gives negative answers their tier and age too (not_found from PostgreSQL, then from memory)', async () => {
    // Prepare
    const clock = manualClock();
    const { a } = twoInstances(clock);
    // Act: an unknown host inside no network, an unknown service
    const first = await enrichOne(a, { source_ip: '10.9.9.9', service: 'nobody' });
    clock.now += 700;
    const second = await enrichOne(a, { source_ip: '10.9.9.9', service: 'nobody' });
    // Assess
    expect(first.enrichment).toMatchObject({ missing: { 'host.hostname': 'not_found', 'service.team': 'not_found' } });
    expect(provenanceOf(first)).toEqual({
      host: { tier: 'postgres', age_ms: 0, stale: false },
      network: { tier: 'postgres', age_ms: 0, stale: false },
      service: { tier: 'postgres', age_ms: 0, stale: false },
    });
    expect(provenanceOf(second).service).toEqual({ tier: 'memory', age_ms: 700, stale: false });
    expectValidEnrichedLog(second);
  });

  it('serves stale values from memory with their age, and says tier null for what nobody could answer, when the sources are down', async () => {
    // Prepare: cached once, then the in-process entries expire and both sources go down
    const clock = manualClock();
    const { remote, source, a } = twoInstances(clock, { ttlMs: 1 });
    await enrichOne(a, { source_ip: '10.0.0.1' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    remote.down = true;
    source.down = true;
    clock.now += 42_000;
    // Act
    const stale = await enrichOne(a, { source_ip: '10.0.0.1' });
    const unknown = await enrichOne(a, { source_ip: '10.0.0.1', service: 'never-seen' });
    // Assess
    expect(stale.enrichment).toMatchObject({ status: 'partial', missing: { 'host.hostname': 'stale', 'service.team': 'stale' } });
    expect(provenanceOf(stale)).toEqual({
      host: { tier: 'memory', age_ms: 42_000, stale: true },
      network: { tier: 'memory', age_ms: 42_000, stale: true },
      service: { tier: 'memory', age_ms: 42_000, stale: true },
    });
    expect(provenanceOf(unknown).service).toEqual({ tier: null, age_ms: null, stale: false });
    for (const event of [stale, unknown]) expectValidEnrichedLog(event);
  });

  it('says age null for a Redis entry an older version wrote without its read time, in Redis and then in memory', async () => {
    // Prepare: entries as a version before provenance wrote them (no time)
    const clock = manualClock();
    const { remote, b } = twoInstances(clock);
    remote.store.set(cacheKeys.hostByIp('10.0.0.1'), host());
    remote.store.set(cacheKeys.networkForIp('10.0.0.1'), network());
    remote.store.set(cacheKeys.service('payment-api'), service());
    // Act
    const fromRedis = await enrichOne(b, { source_ip: '10.0.0.1' });
    clock.now += 1_000;
    const fromMemory = await enrichOne(b, { source_ip: '10.0.0.1' });
    // Assess: the values are used (complete), their age is unknown, never guessed
    expect(fromRedis.enrichment).toMatchObject({ status: 'complete' });
    expect(provenanceOf(fromRedis)).toEqual({
      host: { tier: 'redis', age_ms: null, stale: false },
      network: { tier: 'redis', age_ms: null, stale: false },
      service: { tier: 'redis', age_ms: null, stale: false },
    });
    expect(provenanceOf(fromMemory).host).toEqual({ tier: 'memory', age_ms: null, stale: false });
    expectValidEnrichedLog(fromRedis);
  });

  it('names the host lookup its fields came from: by hostname when the IP is unknown; network null without an IP', async () => {
    // Prepare: the host is in Redis by name (written 5 s ago), its IP is unknown to PostgreSQL
    const clock = manualClock();
    const { remote, a } = twoInstances(clock);
    remote.store.set(cacheKeys.hostByName('web-01'), host());
    remote.fetchedAt.set(cacheKeys.hostByName('web-01'), clock.now - 5_000);
    // Act
    const byName = await enrichOne(a, { source_ip: '10.7.7.7', hostname: 'web-01' });
    const nameOnly = await enrichOne(a, { source_ip: undefined, hostname: 'web-01' });
    // Assess
    expect(byName.host).toMatchObject({ hostname: 'web-01', datacenter: 'dc-east' });
    expect(provenanceOf(byName)).toMatchObject({ host: { tier: 'redis', age_ms: 5_000 }, network: { tier: 'postgres', age_ms: 0 } });
    expect(provenanceOf(nameOnly)).toMatchObject({ host: { tier: 'memory', age_ms: 5_000 }, network: null });
    for (const event of [byName, nameOnly]) expectValidEnrichedLog(event);
  });

  it('keeps the in-process answer one object per entry, so blocks are reused while ages move', async () => {
    // Prepare
    const clock = manualClock();
    const { a } = twoInstances(clock);
    await a.lookup.resolve(request({ services: ['payment-api'] }));
    // Act
    const first = await a.lookup.resolve(request({ services: ['payment-api'] }));
    clock.now += 10;
    const second = await a.lookup.resolve(request({ services: ['payment-api'] }));
    // Assess
    expect(second.services.get('payment-api')).toBe(first.services.get('payment-api'));
    expect(second.provenanceAt).toBe((first.provenanceAt ?? 0) + 10);
  });
});

describe('ENRICH_PROVENANCE off', () => {
  const golden = JSON.parse(readFileSync(new URL('./v1-outputs.golden.json', import.meta.url), 'utf8')) as GoldenOutput[];

  it('writes v1 events byte for byte as before provenance existed', async () => {
    // Act
    const outputs = await goldenOutputs({ provenance: false });
    // Assess
    expect(outputs).toEqual(golden);
    for (const output of outputs) {
      const event = JSON.parse(output.value);
      expect(event.schema_version).toBe(1);
      expect(event.enrichment).not.toHaveProperty('provenance');
      expect(validateEnrichedLogV1(event)).toBe(true);
    }
  });

  it('and on, writes the same events as v2: schema_version 2 and enrichment.provenance, nothing else differs', async () => {
    // Act
    const outputs = await goldenOutputs({ provenance: true, clock: () => 1_705_314_660_000 });
    // Assess
    expect(outputs.map(({ topic, key }) => ({ topic, key }))).toEqual(golden.map(({ topic, key }) => ({ topic, key })));
    outputs.forEach((output, i) => {
      const event = JSON.parse(output.value);
      const { provenance, ...enrichment } = event.enrichment;
      expect({ ...event, schema_version: 1, enrichment }).toEqual(JSON.parse((golden[i] as GoldenOutput).value));
      expect(provenance).toEqual(expect.objectContaining({ service: expect.objectContaining({ stale: expect.any(Boolean) }) }));
      expect(validateEnrichedLogV2(event)).toBe(true);
      // A v2 event is not a v1 event, nor the other way round.
      expect(validateEnrichedLogV1(event)).toBe(false);
      expect(validateEnrichedLogV2(JSON.parse((golden[i] as GoldenOutput).value))).toBe(false);
    });
  });
});

describe('RedisMetadataCache value format', () => {
  /** The three commands the adapter sends, over a Map (ioredis is not under test here). */
  function fakeRedis(entries: Record<string, string>) {
    const store = new Map(Object.entries(entries));
    const redis = {
      status: 'ready',
      mget: async (...keys: string[]) => keys.map((key) => store.get(key) ?? null),
      set: async () => null,
      eval: async (_script: string, count: number, ...args: string[]) => {
        const keys = args.slice(1, count);
        for (const [i, key] of keys.entries()) store.set(key, args[count + 1 + i * 2] as string);
        return keys.length;
      },
    };
    return { store, cache: new RedisMetadataCache(redis as never, { ttlSeconds: 60, negativeTtlSeconds: 10, log: silentLog }) };
  }

  it('writes the PostgreSQL read time with the value, and reads it back', async () => {
    // Prepare
    const { store, cache } = fakeRedis({ [cacheKeys.version]: 'v1' });
    const found = cacheKeys.service('payment-api');
    const missing = cacheKeys.service('nobody');
    // Act
    await cache.write(
      [
        { key: found, value: service(), fetchedAt: 1_700_000_000_123 },
        { key: missing, value: null, fetchedAt: 1_700_000_000_456 },
      ],
      'v1',
    );
    const read = await cache.read([found, missing, cacheKeys.service('other')]);
    // Assess
    expect(JSON.parse(store.get(found) as string)).toEqual({ ...service(), [FETCHED_AT]: 1_700_000_000_123 });
    expect(store.get(missing)).toBe(`${NEGATIVE_MARKER}@1700000000456`);
    expect(read).toEqual({ version: 'v1', values: [service(), null, undefined], fetchedAt: [1_700_000_000_123, 1_700_000_000_456, null] });
  });

  it('reads entries an older version wrote (no time) as they were, with the time unknown', async () => {
    // Prepare
    const found = cacheKeys.service('payment-api');
    const missing = cacheKeys.service('nobody');
    const { cache } = fakeRedis({ [cacheKeys.version]: 'v1', [found]: JSON.stringify(service()), [missing]: NEGATIVE_MARKER });
    // Act
    const read = await cache.read([found, missing]);
    // Assess
    expect(read).toEqual({ version: 'v1', values: [service(), null], fetchedAt: [null, null] });
  });

  it('takes a time that is not a whole non-negative number as unknown, and keeps the entity', async () => {
    const key = cacheKeys.service('payment-api');
    const { cache } = fakeRedis({ [cacheKeys.version]: 'v1', [key]: JSON.stringify({ ...service(), [FETCHED_AT]: 'yesterday' }) });
    expect(await cache.read([key])).toEqual({ version: 'v1', values: [service()], fetchedAt: [null] });
  });
});
