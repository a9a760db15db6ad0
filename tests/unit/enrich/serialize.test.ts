/**
 * `Merger.serialize` writes JSON from fragments (and from blocks kept across batches). Over generated logs,
 * metadata (found, stale, not_found, unavailable, unknown; from any tier, with or without a PostgreSQL read
 * time) and batches sharing one BlockCache, with provenance on (v2) or off (v1) per batch, every output is
 * valid against the published schema of its version (layers/shared/schemas/enriched-log.v1.schema.json or
 * .v2) and equal, as parsed JSON, to `JSON.stringify(merge(…))` of the same event by a Merger that keeps
 * nothing between batches. A log the text building cannot write safely falls back to exactly that plain JSON.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { LOG_LEVELS } from '#shared/schemas/log.ts';
import { BlockCache, Merger } from '../../../functions/enrich/src/enriched-log.ts';
import { DERIVABLE, type LogEvent, NONE } from '../../../functions/enrich/src/log-event.ts';
import type { OtlpOrigin } from '../../../functions/enrich/src/otlp/types.ts';
import { NOT_FOUND, NOT_FOUND_STALE, type Resolution, type ResolvedMetadata, UNAVAILABLE } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { expectValidEnrichedLog } from './schema.ts';

/** Strings JSON must escape, and ordinary ones. */
const tricky = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }),
  fc.constantFrom('plain', 'say "hi"', 'back\\slash', 'nul\u0000 and \u001f', 'lone \ud800 surrogate', 'line\u2028sep', 'é😀', '</script>'),
);
const IPS = ['10.0.0.1', '10.0.0.2', '2001:db8::1', '::ffff:1.2.3.4'];
const HOSTNAMES = ['web-1', 'web-2', 'wéb "3"'];
const SERVICES = ['checkout', 'billing', 'a"b\\c'];

const log: fc.Arbitrary<LogEvent> = fc
  .record(
    {
      level: fc.constantFrom(...LOG_LEVELS),
      message: tricky,
      // Mostly from small pools, so that blocks are shared within and across batches.
      service: fc.oneof({ arbitrary: fc.constantFrom(...SERVICES), weight: 4 }, { arbitrary: tricky, weight: 1 }),
      source_ip: fc.oneof({ arbitrary: fc.constantFrom(...IPS), weight: 4 }, { arbitrary: fc.ipV4(), weight: 1 }),
      timestamp: fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((date) => date.toISOString()),
      hostname: fc.oneof({ arbitrary: fc.constantFrom(...HOSTNAMES), weight: 4 }, { arbitrary: tricky, weight: 1 }),
      trace_id: tricky,
      attributes: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
      event_id: fc.uuid(),
      received_at: fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('2100-01-01T00:00:00.000Z'), noInvalidDate: true }).map((date) => date.toISOString()),
      // Mostly none: then the enrichment JSON is the one a block keeps for its batch.
      derived: fc.oneof({ arbitrary: fc.constant(NONE), weight: 4 }, { arbitrary: fc.subarray([...DERIVABLE]), weight: 1 }),
      dropped_attributes: fc.oneof({ arbitrary: fc.constant(NONE), weight: 4 }, { arbitrary: fc.array(tricky, { maxLength: 3 }), weight: 1 }),
      // A log of an OTLP request: only its index reaches the JSON event (source.index).
      origin: fc.nat(1000).map((index) => ({ index }) as OtlpOrigin),
    },
    // A log names its origin by IP, hostname or both; the serializer is also fed one with neither.
    { requiredKeys: ['level', 'message', 'service', 'timestamp', 'event_id', 'received_at', 'derived', 'dropped_attributes'] },
  )
  .map((fields) => fields as LogEvent);

const host: fc.Arbitrary<Host> = fc.record({ hostname: tricky, ipAddress: fc.constant('10.0.0.1'), datacenter: tricky, environment: tricky, costCenter: tricky, tags: fc.constant({}) });
const service: fc.Arbitrary<Service> = fc.record({ name: tricky, team: tricky, owner: tricky, tier: tricky, version: tricky, costCenter: tricky, tags: fc.constant({}) });
const network: fc.Arbitrary<Network> = fc.record({ cidr: fc.constant('10.0.0.0/8'), datacenter: tricky, environment: tricky, zone: tricky, description: fc.constant(null) });
/** Where an answer came from, as the lookup marks it (or nothing, as a resolution built by hand). */
const answeredBy = fc.option(
  fc.record({ tier: fc.constantFrom('memory' as const, 'redis' as const, 'postgres' as const), fetchedAt: fc.option(fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 })) }),
  { nil: undefined },
);
function resolution<T>(value: fc.Arbitrary<T>): fc.Arbitrary<Resolution<T> | undefined> {
  return fc.oneof(
    { arbitrary: fc.tuple(value, answeredBy).map(([found, by]) => ({ state: 'found' as const, value: found, stale: false, ...by })), weight: 4 },
    fc.tuple(value, answeredBy).map(([found, by]) => ({ state: 'found' as const, value: found, stale: true, ...by })),
    fc.tuple(fc.boolean(), answeredBy).map(([stale, by]) => ({ state: 'not_found' as const, stale, ...by })),
    fc.constantFrom(NOT_FOUND, NOT_FOUND_STALE, UNAVAILABLE, undefined),
  );
}

/** Per test case: a pool of resolutions, and batches whose metadata pick from it (the same objects across batches, or not). */
const scenario = fc
  .record({
    hosts: fc.array(resolution(host), { minLength: 1, maxLength: 4 }),
    networks: fc.array(resolution(network), { minLength: 1, maxLength: 3 }),
    services: fc.array(resolution(service), { minLength: 1, maxLength: 3 }),
    // Tiny: evicted all the time; large: blocks meet the next batches.
    maxEntries: fc.constantFrom(2, 1000),
    batches: fc.array(
      fc.record({
        logs: fc.array(fc.tuple(log, fc.record({ topic: fc.constantFrom('raw-logs', 'raw "logs"'), partition: fc.nat(64), offset: fc.nat() })), { minLength: 1, maxLength: 8 }),
        picks: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        latencyMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
        // Provenance on (the time ages are measured to; before or after a read time: ages never go below 0) or off.
        provenanceAt: fc.option(fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }), { nil: undefined }),
        enrichedAt: fc.date({ min: new Date('2024-01-01T00:00:00.000Z'), max: new Date('2030-01-01T00:00:00.000Z'), noInvalidDate: true }).map((date) => date.toISOString()),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ hosts, networks, services, maxEntries, batches }) => ({
    maxEntries,
    batches: batches.map(({ logs, picks, latencyMs, enrichedAt, provenanceAt }) => {
      const pick = <T>(pool: (Resolution<T> | undefined)[], i: number) => pool[(picks[i] as number) % pool.length];
      const entries = <T>(keys: string[], pool: (Resolution<T> | undefined)[], from: number) =>
        new Map(keys.flatMap((key, i) => {
          const found = pick(pool, from + i);
          return found === undefined ? [] : [[key, found] as const];
        }));
      // Keys outside the pools (random IPs, names) have no entry: the lookup could not answer them.
      const metadata: ResolvedMetadata = {
        hostsByIp: entries(IPS, hosts, 0),
        hostsByName: entries(HOSTNAMES, hosts, 4),
        networks: entries(IPS, networks, 7),
        services: entries(SERVICES, services, 9),
        tally: emptyTally(),
        ...(provenanceAt === undefined ? {} : { provenanceAt }),
      };
      return { logs, metadata, latencyMs, enrichedAt };
    }),
  }));

describe('Merger.serialize', () => {
  it('writes valid events equal to JSON.stringify(merge(…)), across batches sharing one BlockCache', () => {
    fc.assert(
      fc.property(scenario, ({ maxEntries, batches }) => {
        const shared = new BlockCache(maxEntries);
        for (const { logs, metadata, latencyMs, enrichedAt } of batches) {
          const merger = new Merger(metadata, enrichedAt, latencyMs, shared);
          const plain = new Merger(metadata, enrichedAt, latencyMs);
          for (const [event, source] of logs) {
            const written = merger.serialize(event, source);
            const parsed = JSON.parse(written.json);
            const expected = plain.merge(event, source);
            if (!isDeepStrictEqual(parsed, JSON.parse(JSON.stringify(expected)))) throw new Error(`differs from the plain path:\n${written.json}\n${JSON.stringify(expected)}`);
            expect(written.status).toBe(expected.enrichment.status);
            expect(parsed.schema_version).toBe(metadata.provenanceAt === undefined ? 1 : 2);
            expect(Object.hasOwn(parsed.enrichment, 'provenance')).toBe(metadata.provenanceAt !== undefined);
            expectValidEnrichedLog(parsed);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  describe('falls back to the plain JSON when an assumption of the text building does not hold', () => {
    const metadata: ResolvedMetadata = { hostsByIp: new Map(), hostsByName: new Map(), networks: new Map(), services: new Map(), tally: emptyTally() };
    const source = { topic: 'raw-logs', partition: 0, offset: 7 };
    const base: LogEvent = {
      level: 'INFO',
      message: 'm',
      service: 'checkout',
      source_ip: '10.0.0.1',
      timestamp: '2024-01-15T10:30:00.000Z',
      event_id: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
      received_at: '2024-01-15T10:30:00.100Z',
      derived: NONE,
      dropped_attributes: NONE,
    };
    const broken: [string, LogEvent, typeof source][] = [
      // Written between quotes as it is, this level would end the string early: `"level":"INFO","x":"1"`.
      ['a level outside LOG_LEVELS', { ...base, level: 'INFO","x":"1' as LogEvent['level'] }, source],
      ['a message that is not a string', { ...base, message: undefined as unknown as string }, source],
      ['a hostname that is a function', { ...base, hostname: (() => 'h') as unknown as string }, source],
      ['attributes whose toJSON writes nothing', { ...base, attributes: { toJSON: () => undefined } }, source],
      ['an offset that is not finite', base, { ...source, offset: Number.NaN }],
      ['derived that is not a list', { ...base, derived: undefined as unknown as LogEvent['derived'] }, source],
      ['an OTLP index that is not finite', { ...base, origin: { index: Number.NaN } as OtlpOrigin }, source],
    ];
    const withProvenance: ResolvedMetadata = { ...metadata, provenanceAt: 1_705_314_601_000 };
    it.each(broken.flatMap(([name, event, coordinates]) => [[`${name} (v1)`, event, coordinates, metadata] as const, [`${name} (v2)`, event, coordinates, withProvenance] as const]))('%s', (_name, event, coordinates, resolved) => {
      // Prepare
      const merger = new Merger(resolved, '2024-01-15T10:30:01.000Z', 1);
      // Act
      const written = merger.serialize(event, coordinates);
      // Assess: exactly the plain path's text (the fast path writes event_id second, the plain path level).
      expect(written.json).toBe(JSON.stringify(merger.merge(event, coordinates)));
      expect(() => JSON.parse(written.json)).not.toThrow();
    });

    it('takes the fast path for a decoded log (so the fallback tests above show a fallback)', () => {
      const merger = new Merger(metadata, '2024-01-15T10:30:01.000Z', 1);
      const written = merger.serialize(base, source);
      expect(written.json).not.toBe(JSON.stringify(merger.merge(base, source)));
      expect(JSON.parse(written.json)).toEqual(JSON.parse(JSON.stringify(merger.merge(base, source))));
    });
  });
});
