import { parseRawLogRecord } from '#shared/schemas/log.ts';
import { fastLogEvent, fastPathEnabled } from '../../../functions/enrich/src/fast-validate.ts';
import { toLogEvent } from '../../../functions/enrich/src/log-event.ts';
import { rawLog } from './fakes.ts';

const POSITION = { topic: 'raw-logs', partition: 0, offset: 1, timestamp: 1_705_314_600_000 };

/** Valid records and small mutations of them: every value the fast path accepts, the contract must accept identically. */
function corpus(): unknown[] {
  const base = [
    rawLog(),
    rawLog({ hostname: 'web-01', trace_id: 'abc', attributes: { user: 'u-1', nested: { a: [1, 2] } } }),
    rawLog({ source_ip: '2001:db8::1' }),
    rawLog({ timestamp: '2024-01-15T10:30:00+02:00' }),
  ];
  const mutations: ((value: Record<string, unknown>) => void)[] = [
    () => undefined,
    (value) => { value.level = 'info'; },
    (value) => { value.level = ' WARN '; },
    (value) => { value.level = 'LOUD'; },
    (value) => { value.level = 3; },
    (value) => { value.message = ''; },
    (value) => { value.message = 'x'.repeat(40_000); },
    (value) => { value.service = '-bad'; },
    (value) => { value.service = 'a'.repeat(129); },
    (value) => { value.source_ip = '256.1.1.1'; },
    (value) => { value.source_ip = '10.0.0.01'; },
    (value) => { delete value.source_ip; value.hostname = 'web-02'; },
    (value) => { value.timestamp = '2024-02-30T10:00:00.000Z'; },
    (value) => { value.timestamp = '2024-01-15T10:30:00Z'; },
    (value) => { value.timestamp = '2024-01-15T10:30:00.000+00:00'; },
    (value) => { value.timestamp = 1_705_314_600_000; },
    (value) => { value.received_at = '2024-01-15 10:30:00'; },
    (value) => { value.event_id = 'not-a-uuid'; },
    (value) => { delete value.event_id; },
    (value) => { delete value.received_at; },
    (value) => { value.hostname = ''; },
    (value) => { value.hostname = null; },
    (value) => { value.trace_id = 'x'.repeat(129); },
    (value) => { value.attributes = []; },
    (value) => { value.attributes = null; },
    (value) => { value.attributes = { big: 'x'.repeat(20_000) }; },
    (value) => { value.extra = 'kept under attributes'; },
    (value) => { value['log.level'] = 'warn'; },
    (value) => { value.dropped_attributes = ['x']; },
    (value) => { value.hostname = undefined; },
    (value) => { value.message = 42; },
    (value) => { value.hostname = 'a\u0000b'; },
    (value) => { value.hostname = 'web-01\n'; },
    (value) => { value.hostname = ' web-01'; },
    (value) => { value.trace_id = 'abc\u007f'; },
    (value) => { value.attributes = { deep: JSON.parse(`${'['.repeat(33)}${']'.repeat(33)}`) }; },
    (value) => { value.attributes = { deep: JSON.parse(`${'['.repeat(32)}${']'.repeat(32)}`) }; },
  ];
  const out: unknown[] = [null, [], 'string', 42];
  for (const record of base) {
    for (const mutate of mutations) {
      const copy = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
      mutate(copy);
      out.push(copy);
    }
  }
  return out;
}

describe('fastLogEvent', () => {
  it('is active for the current contract', () => {
    expect(fastPathEnabled).toBe(true);
  });

  it('accepts only what the contract accepts unchanged, and returns exactly what it returns', () => {
    let accepted = 0;
    for (const value of corpus()) {
      const fast = fastLogEvent(value);
      if (fast === undefined) continue;
      accepted++;
      const slow = parseRawLogRecord(value);
      expect(slow.ok).toBe(true);
      if (!slow.ok) continue;
      const expected = toLogEvent(slow.log, POSITION);
      expect(fast).toEqual(expected);
      expect(Object.keys(fast)).toEqual(Object.keys(expected));
    }
    // The unmutated IPv4 records with canonical timestamps (with and without optional fields), and the same with an
    // attribute exactly LIMITS.nestingDepth levels deep.
    expect(accepted).toBe(4);
  });

  it('declines attributes nested 5,000 levels deep without overflowing the stack, and the contract refuses them', () => {
    // Prepare
    const value = JSON.parse(`${JSON.stringify(rawLog()).slice(0, -1)},"attributes":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`);
    // Act / Assess
    expect(fastLogEvent(value)).toBeUndefined();
    expect(parseRawLogRecord(value)).toEqual({ ok: false, problems: [{ field: 'attributes.a', reason: 'is nested deeper than 32 levels' }] });
  });

  it('applies the hostname and trace id patterns as the contract does (fuzzed)', () => {
    const pieces = ['a', ' ', '\n', '\t', '\u0000', '\u007f', '\u00a0', '\ufeff', 'é', '-', '😀'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      let text = '';
      for (let n = next() % 5; n >= 0; n--) text += pieces[next() % pieces.length];
      const value = rawLog(i % 2 === 0 ? { hostname: text } : { trace_id: text });
      const fast = fastLogEvent(value);
      const slow = parseRawLogRecord(value);
      // Our own records otherwise: the fast path takes exactly the ones the contract accepts.
      expect([text, fast !== undefined]).toEqual([text, slow.ok]);
      if (fast !== undefined && slow.ok) expect(fast).toEqual(toLogEvent(slow.log, POSITION));
    }
  });

  it('leaves IPv6 sources, levels and timestamps to normalise, aliases, extras and derivation to the contract', () => {
    expect(fastLogEvent(rawLog({ source_ip: '2001:db8::1' }))).toBeUndefined();
    expect(fastLogEvent({ ...rawLog(), level: 'warn' })).toBeUndefined();
    expect(fastLogEvent({ ...rawLog(), timestamp: '2024-01-15T10:30:00Z' })).toBeUndefined();
    expect(fastLogEvent({ ...rawLog(), extra: 1 })).toBeUndefined();
    const { event_id: _id, ...withoutId } = rawLog();
    expect(fastLogEvent(withoutId)).toBeUndefined();
  });
});
