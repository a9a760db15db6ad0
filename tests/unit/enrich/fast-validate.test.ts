import { RawLogRecord } from '#shared/schemas/log.ts';
import { fastPathEnabled, fastRawLogRecord } from '../../../functions/enrich/src/fast-validate.ts';
import { rawLog } from './fakes.ts';

/** Valid records and small mutations of them: every value the fast path accepts, zod must accept identically. */
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
    (value) => { value.message = ''; },
    (value) => { value.message = 'x'.repeat(40_000); },
    (value) => { value.service = '-bad'; },
    (value) => { value.service = 'a'.repeat(129); },
    (value) => { value.source_ip = '256.1.1.1'; },
    (value) => { value.source_ip = '10.0.0.01'; },
    (value) => { value.timestamp = '2024-02-30T10:00:00Z'; },
    (value) => { value.timestamp = 1_705_314_600_000; },
    (value) => { value.received_at = '2024-01-15 10:30:00'; },
    (value) => { value.event_id = 'not-a-uuid'; },
    (value) => { value.hostname = ''; },
    (value) => { value.trace_id = 'x'.repeat(129); },
    (value) => { value.attributes = []; },
    (value) => { value.attributes = null; },
    (value) => { value.attributes = { big: 'x'.repeat(20_000) }; },
    (value) => { value.extra = 'stripped by zod'; },
    (value) => { value.hostname = undefined; },
    (value) => { delete value.event_id; },
    (value) => { value.message = 42; },
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

describe('fastRawLogRecord', () => {
  it('is active for the current RawLogRecord schema', () => {
    expect(fastPathEnabled).toBe(true);
  });

  it('accepts only what zod accepts, and returns exactly what zod returns', () => {
    let accepted = 0;
    for (const value of corpus()) {
      const fast = fastRawLogRecord(value);
      if (fast === undefined) continue;
      accepted++;
      const zod = RawLogRecord.safeParse(value);
      expect(zod.success).toBe(true);
      expect(fast).toEqual(zod.data);
      expect(Object.keys(fast)).toEqual(Object.keys(zod.data as object));
    }
    expect(accepted).toBe(3); // the unmutated IPv4 records (with and without optional fields, offset timestamp)
  });

  it('leaves IPv6 sources, levels to normalise and unknown fields to zod', () => {
    expect(fastRawLogRecord(rawLog({ source_ip: '2001:db8::1' }))).toBeUndefined();
    expect(fastRawLogRecord({ ...rawLog(), level: 'warn' })).toBeUndefined();
    expect(fastRawLogRecord({ ...rawLog(), extra: 1 })).toBeUndefined();
  });
});
