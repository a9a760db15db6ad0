import { MemoryCache } from '../../../functions/enrich/src/adapters/memory-cache.ts';
import { NOT_FOUND } from '../../../functions/enrich/src/ports.ts';
import { service } from './fakes.ts';

const found = { state: 'found', value: service(), stale: false } as const;

function cache(ttlMs = 60_000): MemoryCache {
  return new MemoryCache({ maxEntries: 100, maxBytes: 1_000_000, ttlMs, negativeTtlMs: ttlMs });
}

describe('MemoryCache versions', () => {
  it('stores a value read under the current version', () => {
    const memory = cache();
    memory.useVersion('3');
    expect(memory.set('k', found, '3')).toBe(true);
    expect(memory.get('k')).toEqual(found);
  });

  it('refuses a value read under another version than the current one', () => {
    // Prepare: a read began under version 3; meanwhile another batch saw version 4
    const memory = cache();
    memory.useVersion('3');
    memory.useVersion('4');
    // Act
    const stored = memory.set('k', found, '3');
    // Assess
    expect(stored).toBe(false);
    expect(memory.get('k')).toBeUndefined();
    expect(memory.getStale('k')).toBeUndefined();
  });

  it('drops every entry when the version moves, including the expired ones kept for stale answers', async () => {
    const memory = cache(1);
    memory.useVersion('3');
    memory.set('k', found, '3');
    memory.set('gone', NOT_FOUND, '3');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(memory.getStale('k')).toEqual(found);
    memory.useVersion('4');
    expect(memory.getStale('k')).toBeUndefined();
    expect(memory.entries).toBe(0);
  });

  it('moves back too when Redis lost its counter (a restart or a fail-over), rather than refusing every write', () => {
    const memory = cache();
    memory.useVersion('9');
    memory.useVersion(null);
    expect(memory.set('k', found, null)).toBe(true);
    expect(memory.get('k')).toEqual(found);
  });

  it('never stores unavailable', () => {
    const memory = cache();
    expect(memory.set('k', { state: 'unavailable' }, undefined)).toBe(false);
  });
});
