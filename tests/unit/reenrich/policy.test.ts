import { ATTEMPT_HEADER } from '../../../functions/enrich/src/enrich-batch.ts';
import { backoffAfter, decide, factsOf, type ReenrichPolicy, UNREADABLE } from '../../../functions/enrich/src/reenrich/policy.ts';
import type { ReadRecord } from '../../../functions/enrich/src/replay/rebuild.ts';

const POLICY: ReenrichPolicy = { maxAttempts: 5, maxAgeMs: 3_600_000, backoffMs: 1000, backoffMaxMs: 10_000 };
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

function partial(enrichment: Record<string, unknown>, extra: Record<string, unknown> = {}, headers: [string, Buffer | undefined][] = []): ReadRecord {
  const event = {
    schema_version: 2,
    event_id: 'e-1',
    received_at: '2026-12-01T11:59:00.000Z',
    ...extra,
    enrichment: { status: 'partial', missing: { 'host.hostname': 'unavailable' }, enriched_at: '2026-12-01T11:59:59.000Z', ...enrichment },
  };
  return { value: Buffer.from(JSON.stringify(event)), headers };
}

describe('backoffAfter', () => {
  it('doubles from the base after each attempt and stops at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffAfter(attempt, POLICY))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('stays finite for any attempt', () => {
    expect(backoffAfter(10_000, POLICY)).toBe(10_000);
  });
});

describe('decide', () => {
  it('makes a first partial whose source was unavailable due one backoff after it was enriched, as attempt 2', () => {
    expect(decide(partial({}), NOW, POLICY)).toMatchObject({ kind: 'due', next: 2, dueAt: Date.parse('2026-12-01T11:59:59.000Z') + 1000 });
  });

  it('measures the backoff of a later attempt from that attempt, doubled', () => {
    const decision = decide(partial({ attempt: 3 }), NOW, POLICY);
    expect(decision).toMatchObject({ kind: 'due', next: 4, dueAt: Date.parse('2026-12-01T11:59:59.000Z') + 4000 });
  });

  it('takes stale as worth another attempt', () => {
    expect(decide(partial({ missing: { 'service.team': 'stale' } }), NOW, POLICY).kind).toBe('due');
  });

  it('settles a partial missing only not_found fields (nothing to wait for)', () => {
    expect(decide(partial({ missing: { 'host.hostname': 'not_found', 'service.team': 'not_found' } }), NOW, POLICY)).toMatchObject({ kind: 'settled' });
  });

  it('tries one missing both not_found and unavailable fields again (the unavailable ones may come)', () => {
    expect(decide(partial({ missing: { 'host.hostname': 'not_found', 'service.team': 'unavailable' } }), NOW, POLICY).kind).toBe('due');
  });

  it('leaves one that has had its attempts', () => {
    expect(decide(partial({ attempt: 5 }), NOW, POLICY)).toMatchObject({ kind: 'exhausted', why: 'attempts' });
    expect(decide(partial({ attempt: 4 }), NOW, POLICY).kind).toBe('due');
  });

  it('leaves one whose log was received longer ago than the maximum age', () => {
    expect(decide(partial({}, { received_at: '2026-12-01T10:59:59.000Z' }), NOW, POLICY)).toMatchObject({ kind: 'exhausted', why: 'age' });
  });

  it('makes one that does not say when it was enriched due at once', () => {
    // enriched_at is required by the schema; an unparsable one is not trusted for a backoff.
    expect(decide(partial({ enriched_at: 'soon' }), NOW, POLICY)).toMatchObject({ kind: 'due', dueAt: NOW });
  });

  it.each([
    ['not JSON', { value: Buffer.from('{oops'), headers: [] }, UNREADABLE.notJson],
    ['a JSON value that is no event', { value: Buffer.from('{"level":"INFO"}'), headers: [] }, UNREADABLE.notPartial],
    ['no value', { value: null, headers: [] }, UNREADABLE.notPartial],
  ] as [string, ReadRecord, string][])('calls %s unreadable', (_name, message, why) => {
    expect(decide(message, NOW, POLICY)).toEqual({ kind: 'unreadable', why });
  });
});

describe('factsOf', () => {
  it('reads the attempt from the header first (v1 events have no room for it)', () => {
    const facts = factsOf(partial({ attempt: 2 }, {}, [[ATTEMPT_HEADER, Buffer.from('4')]]));
    expect(facts).toMatchObject({ attempt: 4, eventIds: ['e-1'] });
  });

  it('reads it from the event when there is no header, and takes 1 when neither says', () => {
    expect(factsOf(partial({ attempt: 3 }))).toMatchObject({ attempt: 3 });
    expect(factsOf(partial({}))).toMatchObject({ attempt: 1 });
  });

  it.each(['0', '-2', '2.5', 'two', ''])('ignores an attempt header of %j', (text) => {
    expect(factsOf(partial({}, {}, [[ATTEMPT_HEADER, Buffer.from(text)]]))).toMatchObject({ attempt: 1 });
  });
});
