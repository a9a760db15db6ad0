/**
 * The log event, as accepted by ingest and as carried on `raw-logs`. Ingest validates it at the edge;
 * enrich validates the Kafka value again with `RawLogRecord`, because anything can be written to a topic.
 */
import { z } from 'zod';

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;

export const LIMITS = {
  messageChars: 32_768,
  attributesBytes: 16_384,
} as const;

const level = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toUpperCase() : value),
  z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
);

/** ISO 8601 date-time with an offset, or epoch milliseconds; normalised to ISO in UTC. */
const timestamp = z.union([
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with offset or epoch milliseconds' }),
  z.number().int().nonnegative(),
]).transform((value) => new Date(value).toISOString());

const attributes = z
  .record(z.string(), z.unknown())
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= LIMITS.attributesBytes, {
    message: `must serialise to at most ${LIMITS.attributesBytes} bytes`,
  });

/** One log as a client sends it. */
export const LogInput = z.object({
  level,
  message: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(LIMITS.messageChars),
  service: z
    .string({ error: 'is required and must be a string' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of letters, digits, ".", "_" or "-"'),
  source_ip: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' }),
  timestamp: timestamp.optional(),
  hostname: z.string().min(1).max(253).optional(),
  trace_id: z.string().min(1).max(128).optional(),
  attributes: attributes.optional(),
});
export type LogInput = z.infer<typeof LogInput>;

/** The value written to `raw-logs`: the validated log plus its id and when it was accepted. */
export const RawLogRecord = LogInput.extend({
  event_id: z.uuid(),
  timestamp: z.iso.datetime({ offset: true }),
  received_at: z.iso.datetime({ offset: true }),
});
export type RawLogRecord = z.infer<typeof RawLogRecord>;

/** Turns zod issues into field problems a client can act on. */
export function zodProblems(
  error: z.ZodError,
  input: unknown,
  index?: number,
): { field: string; reason: string; index?: number }[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : '(record)',
    // A missing field fails whichever check comes first (type, union, enum): say what the client must fix.
    reason: issue.path.length > 0 && valueAt(input, issue.path) === undefined ? 'is required' : issue.message,
    ...(index === undefined ? {} : { index }),
  }));
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
