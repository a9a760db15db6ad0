import { parseTime } from '../../../functions/enrich/src/replay/time.ts';

describe('parseTime', () => {
  const now = Date.parse('2026-12-01T18:00:00Z');

  it('reads a date-time with its zone, a date as midnight UTC, and epoch milliseconds', () => {
    expect(parseTime('2026-12-01T16:00:00Z')).toBe(Date.parse('2026-12-01T16:00:00Z'));
    expect(parseTime('2026-12-01T17:00:00.250+01:00')).toBe(Date.parse('2026-12-01T16:00:00.250Z'));
    expect(parseTime('2026-12-01')).toBe(Date.parse('2026-12-01T00:00:00Z'));
    expect(parseTime('1764604800000')).toBe(1_764_604_800_000);
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
