/**
 * A fast path for the log contract on the hot path (normalise + zod cost ~5 µs per record here, half the
 * per-record budget of the 100k records/s target): records as our own ingest writes them.
 *
 * It ACCEPTS ONLY records the contract certainly accepts unchanged, and returns exactly what the slow path
 * (`parseRawLogRecord` → `toLogEvent`) would return: our field names only, no alias and no extra field, a
 * canonical level, an IPv4 source, timestamps already in `toISOString` form, every pipeline field present (so
 * nothing is derived), no `dropped_attributes`. Anything else returns undefined and the caller runs the
 * contract, which also produces the problem list.
 *
 * Not a second copy of the schema: the length bounds and patterns are read from `RawLogRecord` itself at load,
 * and the fast path switches itself off (everything goes through the contract) when the schema's fields are
 * not the ones this code understands, or when it disagrees with the contract on a sample set checked at load.
 * tests/unit/enrich/fast-validate.test.ts checks the equivalence on generated valid and invalid records.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { deeperThan, LIMITS, LOG_LEVELS, levelOf, parseRawLogRecord, RawLogRecord } from '#shared/schemas/log.ts';
import { type LogEvent, NONE, toLogEvent } from './log-event.ts';

interface Bounds {
  min: number;
  max: number;
  /** Every one must match (a hostname: no control characters, no surrounding whitespace). */
  patterns: RegExp[];
}

interface ZodDef {
  type?: string;
  pattern?: unknown;
  format?: string;
  checks?: { _zod: { def: { check?: string; minimum?: number; maximum?: number; format?: string; pattern?: unknown } } }[];
  innerType?: ZodInternals;
  in?: ZodInternals;
  options?: ZodInternals[];
}
interface ZodInternals {
  _zod: { def: ZodDef };
}

const EXPECTED_KEYS = [
  'level',
  'message',
  'service',
  'source_ip',
  'timestamp',
  'hostname',
  'trace_id',
  'attributes',
  'event_id',
  'received_at',
  'dropped_attributes',
];

/** The definition under `.optional()` and the input side of a `.transform()`. */
function unwrap(schema: unknown): ZodDef {
  let def = (schema as ZodInternals)._zod.def;
  for (;;) {
    if (def.type === 'optional' && def.innerType !== undefined) def = def.innerType._zod.def;
    else if (def.type === 'pipe' && def.in !== undefined) def = def.in._zod.def;
    else return def;
  }
}

/** Length bounds and regexes of a string schema, or undefined when it has other checks. */
function stringBounds(schema: unknown): Bounds | undefined {
  const def = unwrap(schema);
  if (def.type !== 'string') return undefined;
  const bounds: Bounds = { min: 0, max: Number.POSITIVE_INFINITY, patterns: def.pattern instanceof RegExp ? [def.pattern] : [] };
  for (const check of def.checks ?? []) {
    const inner = check._zod.def;
    if (inner.check === 'min_length' && inner.minimum !== undefined) bounds.min = Math.max(bounds.min, inner.minimum);
    else if (inner.check === 'max_length' && inner.maximum !== undefined) bounds.max = Math.min(bounds.max, inner.maximum);
    // A stateful regex (g, y) would not answer the same twice: not understood, fast path off.
    else if (inner.check === 'string_format' && inner.format === 'regex' && inner.pattern instanceof RegExp && !inner.pattern.global && !inner.pattern.sticky) {
      bounds.patterns.push(inner.pattern);
    } else return undefined;
  }
  return bounds;
}

/** The contract's ISO pattern; an instant is in canonical form when it also has toISOString's exact layout. */
const ISO_DATETIME = z.core.regexes.datetime({ offset: true, local: false });
const isCanonicalInstant = (value: unknown): value is string =>
  typeof value === 'string' && value.length === 24 && value.charCodeAt(23) === 90 /* Z */ && value.charCodeAt(19) === 46 /* . */ && ISO_DATETIME.test(value);

function buildChecker(): ((value: unknown) => LogEvent | undefined) | undefined {
  const shape = RawLogRecord.shape as unknown as Record<string, unknown>;
  const keys = Object.keys(shape);
  if (keys.length !== EXPECTED_KEYS.length || !EXPECTED_KEYS.every((key) => keys.includes(key))) return undefined;
  const message = stringBounds(shape.message);
  const service = stringBounds(shape.service);
  const eventId = stringBounds(shape.event_id);
  const hostname = stringBounds(shape.hostname);
  const traceId = stringBounds(shape.trace_id);
  const ipv4 = (unwrap(shape.source_ip).options ?? []).find((option) => option._zod.def.format === 'ipv4')?._zod.def.pattern;
  if (message === undefined || !service?.patterns.length || !eventId?.patterns.length || hostname === undefined || traceId === undefined || !(ipv4 instanceof RegExp)) {
    return undefined;
  }
  // Canonical level names must be their own normal form for the shortcut below to be exact.
  if (!LOG_LEVELS.every((name) => levelOf(name) === name)) return undefined;
  const levels = new Set<string>(LOG_LEVELS);
  const fits = (value: unknown, bounds: Bounds): value is string =>
    typeof value === 'string' && value.length >= bounds.min && value.length <= bounds.max && bounds.patterns.every((pattern) => pattern.test(value));

  return (value: unknown): LogEvent | undefined => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const input = value as Record<string, unknown>;
    let known = 0;
    for (const key in input) {
      // An alias or an extra field (the contract maps or keeps it), or dropped_attributes: let the contract do it.
      if (!Object.hasOwn(shape, key) || key === 'dropped_attributes') return undefined;
      known++;
    }
    const { level, source_ip: sourceIp } = input;
    if (typeof level !== 'string' || !levels.has(level)) return undefined;
    if (!fits(input.message, message) || !fits(input.service, service)) return undefined;
    if (typeof sourceIp !== 'string' || !ipv4.test(sourceIp)) return undefined;
    if (!isCanonicalInstant(input.timestamp) || !isCanonicalInstant(input.received_at) || !fits(input.event_id, eventId)) return undefined;
    const hostnameValue = input.hostname;
    const traceIdValue = input.trace_id;
    const attributes = input.attributes;
    if (hostnameValue !== undefined && !fits(hostnameValue, hostname)) return undefined;
    if (traceIdValue !== undefined && !fits(traceIdValue, traceId)) return undefined;
    if (attributes !== undefined) {
      if (attributes === null || typeof attributes !== 'object' || Object.getPrototypeOf(attributes) !== Object.prototype) return undefined;
      if (Object.hasOwn(attributes, '__proto__')) return undefined;
      // Depth first: the contract refuses deeper members, and JSON.stringify overflows on very deep ones.
      for (const key in attributes) if (deeperThan((attributes as Record<string, unknown>)[key], LIMITS.nestingDepth)) return undefined;
      if (Buffer.byteLength(JSON.stringify(attributes)) > LIMITS.attributesBytes) return undefined;
    }
    // Built in the order toLogEvent builds it.
    const out = { level, message: input.message, service: input.service, source_ip: sourceIp, timestamp: input.timestamp } as LogEvent;
    let present = 7;
    if (hostnameValue !== undefined) {
      out.hostname = hostnameValue as string;
      present++;
    }
    if (traceIdValue !== undefined) {
      out.trace_id = traceIdValue as string;
      present++;
    }
    if (attributes !== undefined) {
      out.attributes = attributes as Record<string, unknown>;
      present++;
    }
    out.event_id = input.event_id as string;
    out.received_at = input.received_at;
    out.derived = NONE;
    out.dropped_attributes = NONE;
    // Every key seen was one we checked (no explicit `undefined`s, which zod treats its own way).
    return present === known ? out : undefined;
  };
}

/** Records the fast path must accept, exactly as the contract does; checked once at load. */
const SELF_CHECK: Record<string, unknown>[] = [
  {
    level: 'WARN',
    message: 'self-check',
    service: 'fast-path',
    source_ip: '10.0.0.1',
    timestamp: '2024-01-15T10:30:00.000Z',
    event_id: '0b9e5b6e-5b0e-4a43-9d4a-3d0f2b7c1e11',
    received_at: '2024-01-15T10:30:00.100Z',
  },
  {
    level: 'INFO',
    message: 'self-check',
    service: 'fast-path',
    source_ip: '192.168.1.100',
    timestamp: '2024-02-29T23:59:59.999Z',
    hostname: 'web-01',
    trace_id: 't-1',
    attributes: { a: 1, nested: { b: [1, 2] } },
    event_id: '0b9e5b6e-5b0e-4a43-9d4a-3d0f2b7c1e12',
    received_at: '2024-03-01T00:00:00.000Z',
  },
];

function agreesWithContract(check: (value: unknown) => LogEvent | undefined): boolean {
  const position = { topic: 'self-check', partition: 0, offset: 0, timestamp: 0 };
  return SELF_CHECK.every((sample) => {
    const fast = check(sample);
    const slow = parseRawLogRecord(sample);
    if (fast === undefined || !slow.ok) return false;
    const expected = toLogEvent(slow.log, position);
    return isDeepStrictEqual(fast, expected) && Object.keys(fast).join() === Object.keys(expected).join();
  });
}

const built = buildChecker();
const checker = built !== undefined && agreesWithContract(built) ? built : undefined;

/** True when the fast path is active (the schema has the shape this module understands, and they agree). */
export const fastPathEnabled = checker !== undefined;

/** The contract's `LogEvent` for `value` when it is certainly valid as it is, else undefined (run the contract). */
export function fastLogEvent(value: unknown): LogEvent | undefined {
  return checker === undefined ? undefined : checker(value);
}
