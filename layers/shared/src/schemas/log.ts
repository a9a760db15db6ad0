/**
 * The log contract, ONE for ingest (HTTP) and enrich (`raw-logs`, which any Kafka producer can write to):
 * normalise (./normalise.ts: aliases, ECS shapes, extra fields into `attributes`) → validate with zod (this
 * file: levels, timestamps, addresses, bounds). Ingest calls `parseLogInput`, enrich `parseRawLogRecord`.
 * Documented in README "Input contract" and as JSON Schema in layers/shared/schemas/raw-log.input.schema.json
 * (tests/unit/shared/input-contract.test.ts checks that the two accept and refuse the same samples).
 */
import * as z from 'zod';
// Not `z.core.regexes`: esbuild cannot shake a namespace reached through `z.core`, and keeps all of zod's locales (330 KiB).
import { regexes } from 'zod/v4/core';
import type { FieldProblem } from '../errors.ts';
import { canonicalIp, isLinkLocalOrLoopback } from '../net/ip.ts';
import { LIMITS } from './limits.ts';
import { zodProblems } from './problems.ts';
import { boundedKeyList, deeperThan, FIELD_ALIASES, isPlainObject, nestingProblems, normaliseLog, pathName } from './normalise.ts';

export { deeperThan, LIMITS };

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Level names, case-insensitive, surrounding blanks ignored. Syslog's crit, alert and emerg have no level of
 * their own here: they are FATAL (the top), like Python's CRITICAL; notice is INFO (below WARN). zap's and
 * logrus's panic ends the program, as fatal does: FATAL. zap's dpanic ("development panic") panics only in
 * development; in production, where these logs come from, it is an error that did not stop anything: ERROR.
 */
export const LEVEL_NAMES: ReadonlyMap<string, LogLevel> = new Map([
  ['trace', 'TRACE'],
  ['debug', 'DEBUG'],
  ['info', 'INFO'],
  ['informational', 'INFO'],
  ['notice', 'INFO'],
  ['warn', 'WARN'],
  ['warning', 'WARN'],
  ['err', 'ERROR'],
  ['error', 'ERROR'],
  ['crit', 'FATAL'],
  ['critical', 'FATAL'],
  ['alert', 'FATAL'],
  ['emerg', 'FATAL'],
  ['emergency', 'FATAL'],
  ['fatal', 'FATAL'],
  ['panic', 'FATAL'],
  ['dpanic', 'ERROR'],
]);

/**
 * Level numbers, as JSON numbers or numeric strings: syslog severities 0-7 (RFC 5424) and the pino/bunyan
 * levels 10-60 (the two ranges do not overlap).
 */
export const LEVEL_NUMBERS: ReadonlyMap<number, LogLevel> = new Map([
  [0, 'FATAL'],
  [1, 'FATAL'],
  [2, 'FATAL'],
  [3, 'ERROR'],
  [4, 'WARN'],
  [5, 'INFO'],
  [6, 'INFO'],
  [7, 'DEBUG'],
  [10, 'TRACE'],
  [20, 'DEBUG'],
  [30, 'INFO'],
  [40, 'WARN'],
  [50, 'ERROR'],
  [60, 'FATAL'],
]);

/** Our level for a level name or number, or undefined. */
export function levelOf(value: unknown): LogLevel | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? LEVEL_NUMBERS.get(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^\d+$/.test(text) ? LEVEL_NUMBERS.get(Number(text)) : LEVEL_NAMES.get(text.toLowerCase());
}

const level = z.preprocess(
  (value) => levelOf(value) ?? value,
  z.enum(LOG_LEVELS, {
    // Kept short; the accepted spellings are in README "Input contract".
    error: `must be one of ${LOG_LEVELS.join(', ')}`,
  }),
);

/** zod's own ISO 8601 date-time pattern (offset or Z required; seconds required; any fraction). Exported for the generated fast validator (scripts/fast-validator.ts). */
export const ISO_DATETIME = regexes.datetime({ offset: true, local: false });
/** Epoch numbers are read by magnitude; the bounds are where one unit's range ends and the next begins. */
const EPOCH_SECONDS_BELOW = 1e11; // 5138-11-16 in seconds; 1973-03-03 in milliseconds
const EPOCH_MILLIS_BELOW = 1e14;
const EPOCH_MICROS_BELOW = 1e17;
const EPOCH_NANOS_BELOW = 1e20;

export const TIMESTAMP_RULE =
  'must be an ISO 8601 date-time with an offset (2024-01-15T10:30:00Z, …+02:00) or a non-negative epoch number (below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, below 1e20 nanoseconds)';

/**
 * The instants an ISO 8601 date-time with a four-digit year can write in UTC (what the enriched event's
 * `format: date-time` accepts). `0000-01-01T00:00:00+01:00` is in year -1 in UTC: `Date#toISOString` would
 * write `-000001-12-31T23:00:00.000Z`. Epoch numbers stay below 1e14 ms (year 5138) by the rule above.
 */
export const EARLIEST_INSTANT = '0000-01-01T00:00:00.000Z';
export const LATEST_INSTANT = '9999-12-31T23:59:59.999Z';
const EARLIEST_MS = Date.parse(EARLIEST_INSTANT);
const LATEST_MS = Date.parse(LATEST_INSTANT);
export const INSTANT_RANGE_RULE = `must be between ${EARLIEST_INSTANT} and ${LATEST_INSTANT} once converted to UTC`;

/**
 * An instant as ISO 8601 in UTC with milliseconds (what `Date#toISOString` writes), or undefined when the value
 * is none of the accepted forms. Sub-millisecond digits are cut.
 *
 * @example
 * instantOf('2024-01-15T12:30:00+02:00'); // '2024-01-15T10:30:00.000Z'
 * instantOf(1705314600);                  // '2024-01-15T10:30:00.000Z' (seconds)
 * instantOf(1705314600123456789);         // '2024-01-15T10:30:00.123Z' (nanoseconds)
 */
export function instantOf(value: unknown): string | undefined {
  const ms = epochMillisOf(value);
  return ms !== undefined && inRange(ms) ? new Date(ms).toISOString() : undefined;
}

const inRange = (ms: number) => ms >= EARLIEST_MS && ms <= LATEST_MS;

/** Whole epoch milliseconds of an accepted form, in range or not; undefined when the value is no accepted form. */
function epochMillisOf(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === 'string') {
    if (!ISO_DATETIME.test(value)) return undefined;
    ms = Date.parse(value);
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || value >= EPOCH_NANOS_BELOW) return undefined;
    if (value < EPOCH_SECONDS_BELOW) ms = value * 1000;
    else if (value < EPOCH_MILLIS_BELOW) ms = value;
    else if (value < EPOCH_MICROS_BELOW) ms = value / 1e3;
    else ms = value / 1e6;
  } else return undefined;
  return Number.isNaN(ms) ? undefined : Math.floor(ms);
}

const instant = z.any().transform((value, ctx): string => {
  const ms = epochMillisOf(value);
  if (ms !== undefined && inRange(ms)) return new Date(ms).toISOString();
  ctx.issues.push({ code: 'custom', message: ms === undefined ? TIMESTAMP_RULE : INSTANT_RANGE_RULE, input: value });
  return z.NEVER;
});

/** A service name: also the rule for services registered through the metadata API. */
export const ServiceName = z
  .string({ error: 'is required and must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of letters, digits, ".", "_" or "-"');

/** An IPv4 or IPv6 address as written: also the rule for host addresses in the metadata API. */
export const IpAddress = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

export const NESTING_RULE = `is nested deeper than ${LIMITS.nestingDepth} levels`;

const attributes = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }).check((ctx) => {
  // `parse` refuses deeper members before this runs; checked again so that the schema alone never throws.
  const deep = Object.keys(ctx.value).filter((key) => deeperThan(ctx.value[key], LIMITS.nestingDepth));
  for (const key of deep) ctx.issues.push({ code: 'custom', message: NESTING_RULE, input: ctx.value[key], path: [key] });
  if (deep.length === 0 && Buffer.byteLength(JSON.stringify(ctx.value)) > LIMITS.attributesBytes) {
    ctx.issues.push({ code: 'custom', message: `must serialise to at most ${LIMITS.attributesBytes} bytes`, input: ctx.value });
  }
});

/**
 * Lookup keys (hostname: the hosts query, the cache key, the Kafka key) and trace ids carry no control
 * characters (PostgreSQL refuses NUL in text, failing the whole batch's query) and no surrounding whitespace
 * (refused rather than trimmed: a name that is silently changed may match another host). Exported for the JSON
 * Schema, which states the same patterns.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what this refuses
export const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f]*$/;
export const NO_SURROUNDING_WHITESPACE = /^(?:\S(?:[\s\S]*\S)?)?$/;
const CONTROL_RULE = 'must not contain control characters (U+0000-U+001F, U+007F)';
const WHITESPACE_RULE = 'must not start or end with whitespace';

/** A string that names something: 1 to `max` characters (code points), no control characters, no surrounding blanks. */
const label = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(NO_CONTROL_CHARACTERS, CONTROL_RULE)
    .regex(NO_SURROUNDING_WHITESPACE, WHITESPACE_RULE);

/** `a, b or c`: a field's names, from the alias table, so the rule lists every name a log may use. */
const names = (field: keyof typeof FIELD_ALIASES) => {
  const all = FIELD_ALIASES[field].map(pathName);
  return `${all.slice(0, -1).join(', ')} or ${all.at(-1)}`;
};
export const ORIGIN_RULE = `is required when there is no hostname: a log needs an IP (${names('source_ip')}) or a hostname (${names('hostname')}), or both`;

/** A log names where it came from: an address, a hostname, or both. */
const hasOrigin = {
  check: (log: { source_ip?: unknown; hostname?: unknown }) => log.source_ip !== undefined || log.hostname !== undefined,
  // Runs even when other fields failed, so a log missing both is told so along with its other problems.
  params: { message: ORIGIN_RULE, path: ['source_ip'], when: () => true },
};

/** One log with our field names (after normalisation). */
const LogFields = z.object({
  level,
  message: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(LIMITS.messageChars, `must be at most ${LIMITS.messageChars} characters`),
  service: ServiceName,
  /** One spelling per address (PostgreSQL's), so cache keys and metadata invalidation agree on IPv6. */
  source_ip: IpAddress.transform(canonicalIp).optional(),
  timestamp: instant.optional(),
  hostname: label(LIMITS.hostnameChars).optional(),
  trace_id: label(LIMITS.traceIdChars).optional(),
  attributes: attributes.optional(),
});

/** One log as a client sends it to ingest (validated after `normaliseLog`: use `parseLogInput`). */
export const LogInput = LogFields.refine(hasOrigin.check, hasOrigin.params);
export type LogInput = z.infer<typeof LogInput> & { dropped_attributes?: string[] };

const droppedAttributes = z.array(z.string().max(LIMITS.droppedKeyChars * 2), { error: 'must be a list of strings' }).max(LIMITS.droppedKeys);

/**
 * A record on `raw-logs`: a log plus what ingest adds (event_id, received_at, and dropped_attributes when extra
 * fields did not fit). Another producer's record may lack all three: enrich derives event_id and received_at
 * from the Kafka record (functions/enrich/src/log-event.ts).
 */
export const RawLogRecord = LogFields.extend({
  event_id: z.uuid({ error: 'must be a UUID' }).optional(),
  received_at: instant.optional(),
  dropped_attributes: droppedAttributes.optional(),
}).refine(hasOrigin.check, hasOrigin.params);
export type RawLogRecord = z.infer<typeof RawLogRecord>;

/** What ingest writes to `raw-logs`: a RawLogRecord with every pipeline field it sets. */
export type IngestedLogRecord = LogInput & { event_id: string; timestamp: string; received_at: string };

/** A log's own non-aliased fields, at ingest and on `raw-logs`. */
const INPUT_OWN: ReadonlySet<string> = new Set(['attributes']);
const RAW_OWN: ReadonlySet<string> = new Set(['attributes', 'event_id', 'received_at', 'dropped_attributes']);

export type ParsedLog<T> = { ok: true; log: T } | { ok: false; problems: FieldProblem[] };

/**
 * A log sent to ingest, in any accepted shape, as our record; or every problem, each naming the field as the
 * client wrote it. `event_id`, `received_at` and `dropped_attributes` are ingest's to set: a client's are kept
 * under `attributes` like any extra field.
 *
 * @example
 * parseLogInput({ 'log.level': 'warning', message: 'disk full', 'service.name': 'billing', host: 'web-1' });
 * // { ok: true, log: { level: 'WARN', message: 'disk full', service: 'billing', hostname: 'web-1' } }
 */
export function parseLogInput(value: unknown, index?: number): ParsedLog<LogInput> {
  return parse(LogInput, INPUT_OWN, value, index);
}

/** A `raw-logs` value, from ingest or any other producer, as our record; or every problem with it. */
export function parseRawLogRecord(value: unknown): ParsedLog<RawLogRecord> {
  return parse(RawLogRecord, RAW_OWN, value);
}

/**
 * Never throws, whatever the value: too deep a field is refused before anything serialises it, and an
 * unexpected error (a contract bug) becomes a problem with the record rather than a failed request or batch.
 */
function parse<T extends { dropped_attributes?: string[] }>(schema: z.ZodType, own: ReadonlySet<string>, value: unknown, index?: number): ParsedLog<T> {
  try {
    return parseOrThrow<T>(schema, own, value, index);
  } catch {
    return { ok: false, problems: [withIndex({ field: '(record)', reason: 'could not be validated' }, index)] };
  }
}

function parseOrThrow<T extends { dropped_attributes?: string[] }>(schema: z.ZodType, own: ReadonlySet<string>, value: unknown, index?: number): ParsedLog<T> {
  if (!isPlainObject(value)) return { ok: false, problems: [withIndex({ field: '(record)', reason: 'must be a JSON object' }, index)] };
  // Alone: the other fields are not read (normalising and the byte bound serialise values).
  const deep = nestingProblems(value, LIMITS.nestingDepth);
  if (deep.length > 0) return { ok: false, problems: deep.map((field) => withIndex({ field, reason: NESTING_RULE }, index)) };
  const normalised = normaliseLog(value, own, preferredIp);
  const result = schema.safeParse(normalised.record);
  if (!result.success) {
    return { ok: false, problems: zodProblems(result.error, normalised.record, { index }).map((problem) => renamed(problem, normalised.sources)) };
  }
  const log = result.data as T;
  if (normalised.dropped.length > 0) log.dropped_attributes = boundedKeyList([...(log.dropped_attributes ?? []), ...normalised.dropped]);
  return { ok: true, log };
}

/**
 * The address an ECS `host.ip` array names its host by: the first that is neither link-local, loopback nor
 * unspecified (those name no particular machine); else the first valid one; the array itself when none is.
 *
 * @example
 * preferredIp(['fe80::1', '127.0.0.1', '10.0.0.5']); // '10.0.0.5'
 */
export function preferredIp(values: readonly unknown[]): unknown {
  let first: unknown;
  for (const value of values) {
    if (!IpAddress.safeParse(value).success) continue;
    if (!isLinkLocalOrLoopback(value as string)) return value;
    first ??= value;
  }
  return first ?? values;
}

/** A problem about one of our fields, told with the name the log used (`log.level`, `@timestamp`). */
function renamed(problem: FieldProblem, sources: Partial<Record<string, string>>): FieldProblem {
  const [head = '', ...rest] = problem.field.split('.');
  const source = sources[head];
  return source === undefined ? problem : { ...problem, field: [source, ...rest].join('.') };
}

function withIndex(problem: FieldProblem, index: number | undefined): FieldProblem {
  return index === undefined ? problem : { ...problem, index };
}
