import { parseTime } from '../../../functions/enrich/src/replay/time.ts';

describe('parseTime', () => {
  const now = Date.parse('2026-12-01T18:00:00Z');

  it('reads a date-time with its zone, a date as midnight UTC, and epoch seconds or milliseconds by magnitude', () => {
    expect(parseTime('2026-12-01T16:00:00Z')).toBe(Date.parse('2026-12-01T16:00:00Z'));
    expect(parseTime('2026-12-01T17:00:00.250+01:00')).toBe(Date.parse('2026-12-01T16:00:00.250Z'));
    expect(parseTime('2026-12-01')).toBe(Date.parse('2026-12-01T00:00:00Z'));
    expect(parseTime('1764604800000')).toBe(1_764_604_800_000);
    // What `date +%s` prints: seconds, as the log contract reads an epoch number below 1e11.
    expect(parseTime('1764604800')).toBe(1_764_604_800_000);
    expect(parseTime('99999999999')).toBe(99_999_999_999_000); // just below 1e11: seconds
    expect(parseTime('100000000000')).toBe(100_000_000_000); // 1e11: milliseconds
  });

  it('refuses an epoch number of 1e14 or more as ambiguous, naming the rule', () => {
    for (const text of ['100000000000000', '1764604800000000']) {
      expect(() => parseTime(text, now)).toThrow('is ambiguous as an epoch number: below 1e11 it is seconds, below 1e14 milliseconds');
    }
  });

  it('refuses a time before 1970 (Kafka would fail to list offsets for it)', () => {
    for (const text of ['100000000d', '30000d', '1969-12-31', '1969-12-31T23:59:59Z']) {
      expect(() => parseTime(text, now)).toThrow(/is before 1970-01-01T00:00:00Z/);
    }
    expect(parseTime('1970-01-01T00:00:00Z')).toBe(0);
  });

  it('refuses a date or time that does not exist instead of rolling it over', () => {
    for (const text of ['2026-02-30', '2026-02-29', '2026-04-31T10:00:00Z', '2026-12-01T24:00:00Z', '2026-12-01T23:60:00+01:00']) {
      expect(() => parseTime(text, now)).toThrow(/is not a time/);
    }
    expect(parseTime('2028-02-29')).toBe(Date.parse('2028-02-29T00:00:00Z'));
  });

  it('reads a duration as that long before now', () => {
    expect(parseTime('2h', now)).toBe(Date.parse('2026-12-01T16:00:00Z'));
    expect(parseTime('15m', now)).toBe(Date.parse('2026-12-01T17:45:00Z'));
    expect(parseTime('7d', now)).toBe(Date.parse('2026-11-24T18:00:00Z'));
    expect(parseTime('90s', now)).toBe(now - 90_000);
  });

  it('refuses what could be misread: a date-time without a zone, a word, a negative or unitless number', () => {
    for (const text of ['2026-12-01T16:00:00', 'yesterday', '-2h', '15', '2026-13-45', '']) {
      expect(() => parseTime(text, now)).toThrow(/is not a time/);
    }
  });
});
