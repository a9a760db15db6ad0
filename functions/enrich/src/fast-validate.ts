/**
 * A fast path for `RawLogRecord.safeParse` on the hot path (zod costs ~5 µs per record here, half the
 * per-record budget of the 100k records/s target).
 *
 * It ACCEPTS ONLY what the zod schema certainly accepts, and returns exactly what zod would return: anything
 * it is not sure about (an IPv6 source, a level that needs normalising, an unknown field, an invalid value)
 * returns undefined and the caller runs the zod schema, which also produces the problem list. The format
 * patterns and length bounds are read from the schema itself at load; if the schema's shape is not the one
 * this code understands, the fast path switches itself off (everything goes through zod).
 * tests/unit/enrich/fast-validate.test.ts checks the equivalence on generated valid and invalid records.
 */
import { LIMITS, LOG_LEVELS, RawLogRecord } from '#shared/schemas/log.ts';

interface Bounds {
  min: number;
  max: number;
  pattern: RegExp | undefined;
}

interface ZodInternals {
  _zod: {
    def: {
      type?: string;
      pattern?: unknown;
      format?: string;
      checks?: { _zod: { def: { check?: string; minimum?: number; maximum?: number; format?: string; pattern?: unknown } } }[];
      innerType?: ZodInternals;
      options?: ZodInternals[];
    };
  };
}

const EXPECTED_KEYS = ['level', 'message', 'service', 'source_ip', 'timestamp', 'hostname', 'trace_id', 'attributes', 'event_id', 'received_at'];

/** Length bounds and regex of a string schema (optional unwrapped), or undefined when it has other checks. */
function stringBounds(schema: unknown): Bounds | undefined {
  let def = (schema as ZodInternals)._zod.def;
  if (def.type === 'optional' && def.innerType !== undefined) def = def.innerType._zod.def;
  if (def.type !== 'string') return undefined;
  const bounds: Bounds = { min: 0, max: Number.POSITIVE_INFINITY, pattern: def.pattern instanceof RegExp ? def.pattern : undefined };
  for (const check of def.checks ?? []) {
    const inner = check._zod.def;
    if (inner.check === 'min_length' && inner.minimum !== undefined) bounds.min = Math.max(bounds.min, inner.minimum);
    else if (inner.check === 'max_length' && inner.maximum !== undefined) bounds.max = Math.min(bounds.max, inner.maximum);
    else if (inner.check === 'string_format' && inner.format === 'regex' && inner.pattern instanceof RegExp && bounds.pattern === undefined) {
      bounds.pattern = inner.pattern;
    } else return undefined;
  }
  return bounds;
}

function buildChecker(): ((value: unknown) => RawLogRecord | undefined) | undefined {
  const shape = RawLogRecord.shape as unknown as Record<string, unknown>;
  const keys = Object.keys(shape);
  if (keys.length !== EXPECTED_KEYS.length || !EXPECTED_KEYS.every((key) => keys.includes(key))) return undefined;
  const message = stringBounds(shape.message);
  const service = stringBounds(shape.service);
  const timestamp = stringBounds(shape.timestamp);
  const receivedAt = stringBounds(shape.received_at);
  const eventId = stringBounds(shape.event_id);
  const hostname = stringBounds(shape.hostname);
  const traceId = stringBounds(shape.trace_id);
  const ipv4 = ((shape.source_ip as ZodInternals)._zod.def.options ?? []).find((option) => option._zod.def.format === 'ipv4')?._zod.def.pattern;
  if (
    message === undefined ||
    service?.pattern === undefined ||
    timestamp?.pattern === undefined ||
    receivedAt?.pattern === undefined ||
    eventId?.pattern === undefined ||
    hostname === undefined ||
    traceId === undefined ||
    !(ipv4 instanceof RegExp)
  ) {
    return undefined;
  }
  const levels = new Set<string>(LOG_LEVELS);
  const fits = (value: unknown, bounds: Bounds): value is string =>
    typeof value === 'string' && value.length >= bounds.min && value.length <= bounds.max && (bounds.pattern === undefined || bounds.pattern.test(value));

  return (value: unknown): RawLogRecord | undefined => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const input = value as Record<string, unknown>;
    let known = 0;
    for (const key in input) {
      if (!Object.hasOwn(shape, key)) return undefined; // zod strips unknown keys: let it
      known++;
    }
    const { level, source_ip: sourceIp } = input;
    if (typeof level !== 'string' || !levels.has(level)) return undefined;
    if (!fits(input.message, message) || !fits(input.service, service)) return undefined;
    if (typeof sourceIp !== 'string' || !ipv4.test(sourceIp)) return undefined;
    if (!fits(input.timestamp, timestamp) || !fits(input.received_at, receivedAt) || !fits(input.event_id, eventId)) return undefined;
    const hostnameValue = input.hostname;
    const traceIdValue = input.trace_id;
    const attributes = input.attributes;
    if (hostnameValue !== undefined && !fits(hostnameValue, hostname)) return undefined;
    if (traceIdValue !== undefined && !fits(traceIdValue, traceId)) return undefined;
    if (attributes !== undefined) {
      if (attributes === null || typeof attributes !== 'object' || Object.getPrototypeOf(attributes) !== Object.prototype) return undefined;
      if (Object.hasOwn(attributes, '__proto__')) return undefined;
      if (Buffer.byteLength(JSON.stringify(attributes)) > LIMITS.attributesBytes) return undefined;
    }
    // Built in the schema's key order, as zod builds its output.
    const out = { level, message: input.message, service: input.service, source_ip: sourceIp, timestamp: input.timestamp } as RawLogRecord;
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
    out.event_id = input.event_id;
    out.received_at = input.received_at;
    // Every key seen was one we checked (no explicit `undefined`s, which zod treats its own way).
    return present === known ? out : undefined;
  };
}

const checker = buildChecker();

/** True when the fast path is active (the schema has the shape this module understands). */
export const fastPathEnabled = checker !== undefined;

/** The zod output for `value` when it is certainly valid, else undefined (run the zod schema). */
export function fastRawLogRecord(value: unknown): RawLogRecord | undefined {
  return checker === undefined ? undefined : checker(value);
}
