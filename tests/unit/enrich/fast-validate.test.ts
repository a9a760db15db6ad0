/**
 * The fast path and the contract agree, in both directions, over generated records (fast-check):
 * (a) whatever the fast path accepts, the contract accepts, and the fast path's LogEvent is the contract's,
 *     deep-equal and in the same key order;
 * (b) whatever is in the canonical subset (IPv4 source, every pipeline field) and comes out of the contract
 *     exactly as it went in, the fast path accepts: it does not silently lose its speed.
 * Records are built field by field from valid values and from values at and around every boundary (lengths at
 * min/max/max+1 in UTF-16 units, each level spelling, IPv4/IPv6/bad addresses, instants valid, invalid and
 * non-canonical, attributes around the byte and depth limits, aliases and extra fields, explicit undefined
 * and null). The committed generated validator must be what scripts/fast-validator.ts writes.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { LIMITS, LOG_LEVELS, parseRawLogRecord } from '#shared/schemas/log.ts';
import { fastLogEvent } from '../../../functions/enrich/src/fast-validate.ts';
import { toLogEvent } from '../../../functions/enrich/src/log-event.ts';
import { canonicalRecordValidatorSource, VALIDATOR_FILE } from '../../../scripts/fast-validator.ts';
import { rawLog } from './fakes.ts';

const POSITION = { topic: 'raw-logs', partition: 0, offset: 1, timestamp: 1_705_314_600_000 };
/** Marks a field left out of the record. */
const ABSENT = Symbol('absent');
type Field = unknown | typeof ABSENT;

/** An array `levels` levels deep: `[[…[]…]]`. */
const nested = (levels: number): unknown => {
  let value: unknown = [];
  for (let level = 1; level < levels; level++) value = level % 2 === 0 ? [value] : { n: value };
  return value;
};

const text = (pieces: string[], maxLength = 6) => fc.array(fc.constantFrom(...pieces), { maxLength }).map((parts) => parts.join(''));
/** Around a length bound: `n - 1`, `n`, `n + 1` UTF-16 units, in ASCII and in surrogate pairs (one code point, two units). */
const around = (n: number, first = 'a') =>
  fc.constantFrom(first + 'x'.repeat(n - 2), first + 'x'.repeat(n - 1), first + 'x'.repeat(n), `${first}${'😀'.repeat((n - 1) / 2)}`, `${first}${'😀'.repeat(n / 2)}`);

// ---------------------------------------------------------------- values per field: canonical ones, and the rest
const level = {
  canonical: fc.constantFrom(...LOG_LEVELS),
  other: fc.constantFrom('info', 'Info', ' WARN', 'WARN ', 'warning', 'err', 'crit', 'notice', 'LOUD', '', '3', ' 30 ', 3, 30, 0, 8, 3.5, true),
};
const message = {
  canonical: fc.oneof(fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }), fc.constantFrom('x', 'x'.repeat(LIMITS.messageChars), '😀'.repeat(LIMITS.messageChars / 2), '\ud800 lone')),
  // The last but two: one code point more than the bound; the last but one: within it in code points, not in units.
  other: fc.constantFrom('', 'x'.repeat(LIMITS.messageChars + 1), `x${'😀'.repeat(LIMITS.messageChars / 2)}`, `${'x'.repeat(LIMITS.messageChars - 1)}😀`, 42, ['m']),
};
const serviceHead = [...'aZ09'];
const serviceTail = [...'aZ09._-'];
const service = {
  canonical: fc.oneof(
    fc.tuple(fc.constantFrom(...serviceHead), text(serviceTail, 10)).map(([head, tail]) => head + tail),
    fc.constantFrom('a', `a${'b'.repeat(127)}`),
  ),
  other: fc.oneof(text([...serviceTail, ' ', 'é', '/', '😀'], 5), fc.constantFrom('', '-a', '.a', `a${'b'.repeat(128)}`, 'a b', 7)),
};
const sourceIp = {
  canonical: fc.oneof(fc.ipV4(), fc.constantFrom('0.0.0.0', '255.255.255.255', '10.0.0.1')),
  other: fc.oneof(
    fc.ipV4Extended(),
    fc.ipV6(),
    fc.constantFrom('2001:DB8::1', '2001:db8::1', '::ffff:1.2.3.4', 'fe80::1%eth0', '256.1.1.1', '1.2.3', '01.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4.5', '', 167772161),
  ),
};
const pad = (value: number, width: number) => String(value).padStart(width, '0');
const instantParts = fc.tuple(
  fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1900, 2000, 2023, 2024, 2100, 9999)),
  fc.integer({ min: 0, max: 13 }),
  fc.integer({ min: 0, max: 32 }),
  fc.integer({ min: 0, max: 24 }),
  fc.integer({ min: 0, max: 60 }),
  fc.integer({ min: 0, max: 60 }),
  fc.integer({ min: 0, max: 999 }),
);
const instant = {
  canonical: fc.oneof(
    fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((date) => date.toISOString()),
    fc.constantFrom('0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '2024-02-29T23:59:59.999Z', '2000-02-29T00:00:00.000Z'),
  ),
  other: fc.oneof(
    // Any calendar digits: Feb 29 of 1900 and 2023, Feb 30, Apr 31, month 13, hour 24, second 60, …
    instantParts.map(([y, mo, d, h, mi, s, ms]) => `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`),
    // Valid, but not the form the contract writes (it converts them).
    instantParts.map(([y, , d, h, mi, s]) => `${pad(y, 4)}-01-${pad(Math.max(1, Math.min(d, 28)), 2)}T${pad(h % 24, 2)}:${pad(mi % 60, 2)}:${pad(s % 60, 2)}Z`),
    fc.constantFrom(
      '2024-01-15T10:30:00.000+00:00',
      '2024-01-15T10:30:00.000000Z',
      '2024-01-15T10:30:00.1Z',
      '2024-01-15t10:30:00.000z',
      '2024-01-15 10:30:00.000Z',
      '+010000-01-01T00:00:00.000Z',
      '-000001-12-31T23:00:00.000Z',
      '0000-01-01T00:30:00.000+01:00',
      '',
      1_705_314_600_000,
      1_705_314_600,
    ),
  ),
};
const labelPieces = ['a', '-', '.', 'é', '😀', ' ', '\u00a0', '\ufeff'];
const badPieces = [' ', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u2028', '\u00a0', '\ufeff'];
const label = (max: number) => ({
  canonical: fc.oneof(
    fc.tuple(fc.constantFrom('a', 'é', '😀'), text(labelPieces), fc.constantFrom('z', '9', '😀')).map(([head, middle, tail]) => head + middle + tail),
    fc.constantFrom('a', 'a'.repeat(max), `a${'😀'.repeat((max - 1) / 2)}`.slice(0, max)),
  ),
  other: fc.oneof(text([...labelPieces, ...badPieces], 5), around(max + 1), fc.constantFrom('', 'a'.repeat(max + 1), 5)),
});
const hostname = label(LIMITS.hostnameChars);
const traceId = label(LIMITS.traceIdChars);
/** `{"k":"…"}` of exactly `bytes` bytes as JSON, with `unit`-byte characters. */
const attributesOfBytes = (bytes: number, unit: string) => ({ k: unit.repeat((bytes - 8) / Buffer.byteLength(unit)) });
const attributes = {
  canonical: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4, noNullPrototype: true }),
    fc.constantFrom({}, attributesOfBytes(LIMITS.attributesBytes, 'x'), attributesOfBytes(LIMITS.attributesBytes - 2, 'é'), { deep: nested(LIMITS.nestingDepth) }),
  ),
  other: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    fc.constantFrom(
      attributesOfBytes(LIMITS.attributesBytes + 1, 'x'),
      attributesOfBytes(LIMITS.attributesBytes + 2, 'é'),
      { deep: nested(LIMITS.nestingDepth + 1) },
      JSON.parse('{"__proto__":{"a":1},"b":2}'),
      [],
      'a string',
      7,
    ),
  ),
};
const eventId = {
  canonical: fc.oneof(fc.uuid(), fc.uuid().map((id) => id.toUpperCase()), fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')),
  other: fc.constantFrom('not-a-uuid', '6ba7b810-9dad-01d1-80b4-00c04fd430c8', '6ba7b810-9dad-11d1-c0b4-00c04fd430c8', '6ba7b8109dad11d180b400c04fd430c8', '', 42),
};

const FIELDS = {
  level,
  message,
  service,
  source_ip: sourceIp,
  timestamp: instant,
  hostname,
  trace_id: traceId,
  attributes,
  event_id: eventId,
  received_at: instant,
} as const;
type FieldName = keyof typeof FIELDS;
const OPTIONAL: ReadonlySet<FieldName> = new Set(['hostname', 'trace_id', 'attributes']);
const EXTRAS = fc.constantFrom<[string, unknown]>(
  ['extra', 'kept under attributes'],
  ['log.level', 'warn'],
  ['msg', 'an alias'],
  ['host', 'web-1'],
  ['@timestamp', 1_705_314_600],
  ['severity', 'ERROR'],
  ['dropped_attributes', ['x']],
  ['dropped_attributes', []],
  ['v', 0],
);

/** A field's value: mostly canonical; else another value, absent, explicit undefined or null. */
function fieldValue(name: FieldName, canonicalWeight: number): fc.Arbitrary<Field> {
  const { canonical, other } = FIELDS[name];
  return fc.oneof(
    { arbitrary: canonical as fc.Arbitrary<unknown>, weight: canonicalWeight },
    { arbitrary: other as fc.Arbitrary<unknown>, weight: 3 },
    { arbitrary: fc.constant(ABSENT), weight: OPTIONAL.has(name) ? 6 : 1 },
    { arbitrary: fc.constantFrom(undefined, null), weight: 1 },
  );
}

/** A record built from per-field values, with extra fields sometimes, its keys in any order. */
const record = (canonicalWeight: number) =>
  fc
    .tuple(
      fc.record(Object.fromEntries(Object.keys(FIELDS).map((name) => [name, fieldValue(name as FieldName, canonicalWeight)])) as Record<FieldName, fc.Arbitrary<Field>>),
      fc.oneof({ arbitrary: fc.constant([] as [string, unknown][]), weight: 4 }, { arbitrary: fc.array(EXTRAS, { minLength: 1, maxLength: 2 }), weight: 1 }),
      fc.integer({ min: 0, max: 2 ** 30 }),
    )
    .map(([fields, extras, seed]) => {
      const entries: [string, unknown][] = Object.entries(fields).filter(([, value]) => value !== ABSENT);
      entries.push(...extras);
      // A fixed shuffle per seed: the fast path must not depend on the order the producer wrote the keys in.
      for (let i = entries.length - 1; i > 0; i--) {
        const j = (seed + i * 7919) % (i + 1);
        [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
      }
      const out: Record<string, unknown> = {};
      for (const [key, value] of entries) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      return out;
    });

/** Mostly-valid records (every field canonical about 90 % of the time), and rougher ones. */
const records = fc.oneof({ arbitrary: record(60), weight: 3 }, { arbitrary: record(6), weight: 1 });
/** What the contract makes of a record, as the slow path of decode does. */
function contract(value: unknown) {
  const parsed = parseRawLogRecord(value);
  return parsed.ok ? { ok: true as const, raw: parsed.log, event: toLogEvent(parsed.log, POSITION) } : { ok: false as const };
}

const withinUnits = (value: unknown, max: number) => typeof value !== 'string' || value.length <= max;

/** Checks one record both ways; returns whether the fast path took it. */
function agree(value: Record<string, unknown>): boolean {
  const fast = fastLogEvent(value);
  const slow = contract(value);
  if (fast !== undefined) {
    // (a) the fast path's promise: the contract accepts, with the same event, keys in the same order.
    if (!slow.ok) throw new Error('the fast path accepted a record the contract refuses');
    if (!isDeepStrictEqual(fast, slow.event)) throw new Error(`different events:\n${JSON.stringify(fast)}\n${JSON.stringify(slow.event)}`);
    expect(Object.keys(fast)).toEqual(Object.keys(slow.event));
    return true;
  }
  // (b) the canonical subset: an IPv4 source, every pipeline field, no dropped_attributes, strings within their
  // bounds in UTF-16 units (the generator's documented narrowings), no explicit undefined (parsed JSON has
  // none; the fast path leaves them to the contract); and the contract changed nothing.
  const inSubset =
    Object.values(value).every((field) => field !== undefined) &&
    typeof value.source_ip === 'string' &&
    isIPv4(value.source_ip) &&
    ['event_id', 'received_at', 'timestamp'].every((key) => value[key] !== undefined) &&
    !Object.hasOwn(value, 'dropped_attributes') &&
    withinUnits(value.message, LIMITS.messageChars) &&
    withinUnits(value.hostname, LIMITS.hostnameChars) &&
    withinUnits(value.trace_id, LIMITS.traceIdChars);
  if (slow.ok && inSubset && isDeepStrictEqual(slow.raw, value) && slow.event.derived.length === 0) {
    throw new Error('the fast path declined a canonical record the contract accepts unchanged');
  }
  return false;
}

describe('the fast path (generated validator) and the contract', () => {
  it('committed functions/enrich/src/generated/canonical-record.ts is what scripts/fast-validator.ts writes (run npm run schema:validator)', () => {
    expect(readFileSync(VALIDATOR_FILE, 'utf8')).toBe(canonicalRecordValidatorSource());
  });

  it('the generated validator imports nothing (ajv stays a build-time dependency)', () => {
    expect(readFileSync(VALIDATOR_FILE, 'utf8')).not.toMatch(/\brequire\(|^\s*import\b/m);
  });

  it('agree on generated records, both ways', () => {
    let accepted = 0;
    let declined = 0;
    fc.assert(
      fc.property(records, (value) => {
        if (agree(value)) accepted++;
        else declined++;
      }),
      { numRuns: 1500 },
    );
    // Both sides were exercised (a generator that never yields a canonical record would prove nothing).
    expect(accepted).toBeGreaterThan(100);
    expect(declined).toBeGreaterThan(100);
  });

  it('agree on every single-field change of a canonical record', () => {
    // Each field in turn takes each kind of value, the others staying canonical: every boundary meets the fast path.
    const names = Object.keys(FIELDS) as FieldName[];
    const oneChange = fc.tuple(record(1000), fc.constantFrom(...names), fc.oneof(...names.map((name) => FIELDS[name].other as fc.Arbitrary<unknown>)), fc.constantFrom('value', 'own', 'absent', 'undefined', 'null'));
    fc.assert(
      fc.property(oneChange, ([value, name, otherValue, kind]) => {
        const changed: Record<string, unknown> = { ...value };
        if (kind === 'value') changed[name] = otherValue;
        else if (kind === 'absent') delete changed[name];
        else if (kind === 'undefined') changed[name] = undefined;
        else if (kind === 'null') changed[name] = null;
        agree(changed);
      }),
      { numRuns: 1500 },
    );
  });

  it('agree on anything at all', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const fast = fastLogEvent(value);
        if (fast !== undefined) expect(contract(value).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('declines attributes nested 5,000 levels deep without overflowing the stack, and the contract refuses them', () => {
    // Prepare
    const value = JSON.parse(`${JSON.stringify(rawLog()).slice(0, -1)},"attributes":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`);
    // Act / Assess
    expect(fastLogEvent(value)).toBeUndefined();
    expect(parseRawLogRecord(value)).toEqual({ ok: false, problems: [{ field: 'attributes.a', reason: 'is nested deeper than 32 levels' }] });
  });

  it('takes our ingest records as they are written', () => {
    // Prepare
    const value = JSON.parse(JSON.stringify(rawLog({ hostname: 'web-01', trace_id: 'abc', attributes: { user: 'u-1' } })));
    // Act
    const fast = fastLogEvent(value);
    // Assess
    expect(fast).toEqual({ ...value, derived: [], dropped_attributes: [] });
  });
});
