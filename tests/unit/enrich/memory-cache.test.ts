import { approximateSize, MemoryCache } from '../../../functions/enrich/src/adapters/memory-cache.ts';
import { NOT_FOUND } from '../../../functions/enrich/src/ports.ts';
import { host, service } from './fakes.ts';

const found = { state: 'found', value: service(), stale: false } as const;
const foundHost = { state: 'found', value: host(), stale: false } as const;

function cache(ttlMs = 60_000, bounds: { maxEntries?: number; maxBytes?: number; negativeTtlMs?: number } = {}): MemoryCache {
  return new MemoryCache({ maxEntries: 100, maxBytes: 1_000_000, ttlMs, negativeTtlMs: ttlMs, ...bounds });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('MemoryCache versions', () => {
  it('stores a value read under the current version', () => {
    const memory = cache();
    memory.useVersion('3');
    expect(memory.set('services', 'k', found, '3')).toBe(true);
    expect(memory.get('services', 'k')).toEqual(found);
  });

  it('refuses a value read under another version than the current one', () => {
    // Prepare: a read began under version 3; meanwhile another batch saw version 4
    const memory = cache();
    memory.useVersion('3');
    memory.useVersion('4');
    // Act
    const stored = memory.set('services', 'k', found, '3');
    // Assess
    expect(stored).toBe(false);
    expect(memory.get('services', 'k')).toBeUndefined();
    expect(memory.getStale('services', 'k')).toBeUndefined();
  });

  it('drops every entry of every kind when the version moves, including the expired ones kept for stale answers', async () => {
    const memory = cache(1);
    memory.useVersion('3');
    memory.set('services', 'k', found, '3');
    memory.set('hostsByIp', '10.0.0.1', foundHost, '3');
    memory.set('networks', '10.0.0.1', NOT_FOUND, '3');
    memory.set('hostsByName', 'gone', NOT_FOUND, '3');
    await sleep(5);
    expect(memory.getStale('services', 'k')).toEqual(found);
    expect(memory.getStale('hostsByIp', '10.0.0.1')).toEqual(foundHost);
    memory.useVersion('4');
    expect(memory.getStale('services', 'k')).toBeUndefined();
    expect(memory.getStale('hostsByIp', '10.0.0.1')).toBeUndefined();
    expect(memory.entries).toBe(0);
    expect(memory.bytes).toBe(0);
  });

  it('moves back too when Redis lost its counter (a restart or a fail-over), rather than refusing every write', () => {
    const memory = cache();
    memory.useVersion('9');
    memory.useVersion(null);
    expect(memory.set('services', 'k', found, null)).toBe(true);
    expect(memory.get('services', 'k')).toEqual(found);
  });

  it('never stores unavailable', () => {
    const memory = cache();
    expect(memory.set('services', 'k', { state: 'unavailable' }, undefined)).toBe(false);
    expect(memory.entries).toBe(0);
  });
});

describe('MemoryCache kinds and bounds', () => {
  it('keeps each kind apart: one id names different entries per kind', () => {
    // A host and a service may share a name; an IP has both a host and a network entry.
    const memory = cache();
    memory.set('hostsByName', 'payment-api', foundHost, undefined);
    memory.set('services', 'payment-api', found, undefined);
    memory.set('hostsByIp', '10.0.0.1', foundHost, undefined);
    memory.set('networks', '10.0.0.1', NOT_FOUND, undefined);
    expect(memory.get('hostsByName', 'payment-api')).toEqual(foundHost);
    expect(memory.get('services', 'payment-api')).toEqual(found);
    expect(memory.get('hostsByIp', '10.0.0.1')).toEqual(foundHost);
    expect(memory.get('networks', '10.0.0.1')).toEqual(NOT_FOUND);
    expect(memory.get('services', '10.0.0.1')).toBeUndefined();
    expect(memory.entries).toBe(4);
  });

  it('serves negative entries for the shorter TTL, then only as stale answers', async () => {
    const memory = cache(60_000, { negativeTtlMs: 1 });
    memory.set('hostsByIp', '10.0.0.9', NOT_FOUND, undefined);
    memory.set('services', 'k', found, undefined);
    await sleep(5);
    expect(memory.get('hostsByIp', '10.0.0.9')).toBeUndefined();
    expect(memory.getStale('hostsByIp', '10.0.0.9')).toEqual(NOT_FOUND);
    expect(memory.get('services', 'k')).toEqual(found);
  });

  it('bounds the entries of all kinds together, evicting the least recently used of the kind holding the most', () => {
    // Prepare: a budget of 4; two services, then a flood of IPs
    const memory = cache(60_000, { maxEntries: 4 });
    memory.set('services', 'a', found, undefined);
    memory.set('services', 'b', found, undefined);
    // Act
    for (let i = 1; i <= 5; i++) memory.set('hostsByIp', `10.0.0.${i}`, foundHost, undefined);
    // Assess: never more than the budget; the IPs evicted their own oldest, not the services
    expect(memory.entries).toBe(4);
    expect(memory.get('services', 'a')).toEqual(found);
    expect(memory.get('services', 'b')).toEqual(found);
    expect(memory.get('hostsByIp', '10.0.0.5')).toEqual(foundHost);
    expect(memory.get('hostsByIp', '10.0.0.4')).toEqual(foundHost);
    expect(memory.get('hostsByIp', '10.0.0.3')).toBeUndefined();
  });

  it('lets one kind use the whole entry budget while the others are empty', () => {
    const memory = cache(60_000, { maxEntries: 4 });
    for (let i = 1; i <= 4; i++) memory.set('networks', `10.0.0.${i}`, NOT_FOUND, undefined);
    expect(memory.entries).toBe(4);
    for (let i = 1; i <= 4; i++) expect(memory.get('networks', `10.0.0.${i}`)).toEqual(NOT_FOUND);
    memory.set('networks', '10.0.0.5', NOT_FOUND, undefined);
    expect(memory.entries).toBe(4);
    expect(memory.get('networks', '10.0.0.1')).toBeUndefined();
  });

  it('bounds the bytes of all kinds together', () => {
    // Prepare: room for about three service entries in all
    const entryBytes = approximateSize('a', found);
    const memory = cache(60_000, { maxBytes: entryBytes * 3 + 1 });
    memory.set('services', 'a', found, undefined);
    memory.set('hostsByName', 'b', found, undefined);
    memory.set('hostsByName', 'c', found, undefined);
    // Act
    memory.set('hostsByName', 'd', found, undefined);
    // Assess
    expect(memory.bytes).toBeLessThanOrEqual(memory.maxBytes);
    expect(memory.entries).toBe(3);
    expect(memory.get('services', 'a')).toEqual(found);
    expect(memory.get('hostsByName', 'b')).toBeUndefined();
    expect(memory.get('hostsByName', 'd')).toEqual(found);
  });
});
