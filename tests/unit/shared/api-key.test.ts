import { isOneOf } from '#shared/http/request.ts';

describe('isOneOf (API key check)', () => {
  it('accepts a key that is one of the configured keys, wherever it is in the list', () => {
    expect(isOneOf('k-2', ['k-1', 'k-2', 'k-3'])).toBe(true);
    expect(isOneOf('k-3', ['k-1', 'k-2', 'k-3'])).toBe(true);
  });

  it('refuses a key that is not configured, a prefix of one, or one that differs in its last character', () => {
    expect(isOneOf('k-4', ['k-1', 'k-2'])).toBe(false);
    expect(isOneOf('k-', ['k-1'])).toBe(false);
    expect(isOneOf('k-1x', ['k-1'])).toBe(false);
    expect(isOneOf('secret-b', ['secret-a'])).toBe(false);
  });

  it('refuses everything when no key is configured', () => {
    expect(isOneOf('', [])).toBe(false);
  });

  it('compares keys of any length and encoding (digests of equal length)', () => {
    expect(isOneOf('ключ-☃', ['x', 'ключ-☃'])).toBe(true);
    expect(isOneOf('a'.repeat(10_000), ['a'.repeat(9_999)])).toBe(false);
  });
});
