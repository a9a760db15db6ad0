/**
 * A fast path for the log contract on the hot path (normalise + zod cost ~5 µs per record here): records as our
 * own ingest writes them. It ACCEPTS ONLY records the contract certainly accepts unchanged, and returns exactly
 * what the slow path (`parseRawLogRecord` → `toLogEvent`) returns; anything else returns undefined and the
 * caller runs the contract, which also produces the problem list.
 *
 * No rule is written here by hand. The shape (our field names only, canonical levels, an IPv4 source, instants
 * in `toISOString` form, every pipeline field present, no `dropped_attributes`) is checked by a validator that
 * ajv GENERATED from the contract's own JSON Schema (scripts/fast-validator.ts → ./generated/canonical-record.ts,
 * committed; a unit test fails when it is stale). What JSON Schema cannot state is checked below with the
 * contract's own LIMITS and `deeperThan`; the event itself is built by the contract's `toLogEvent`.
 * tests/unit/enrich/fast-validate.test.ts checks, with property tests in both directions, that the fast path
 * and the contract agree.
 */
import { deeperThan, LIMITS, type RawLogRecord } from '#shared/schemas/log.ts';
import { validate } from './generated/canonical-record.ts';
import { type LogEvent, toLogEvent } from './log-event.ts';

const isCanonical = validate as (value: unknown) => boolean;

/** Never read: a canonical record has every pipeline field, so `toLogEvent` derives nothing from it. */
const UNUSED_POSITION = Object.freeze({ topic: '', partition: 0, offset: 0, timestamp: -1 });

/**
 * Attributes the contract keeps as they are: a plain object (zod's record copies it into one), without an own
 * `__proto__` (the normaliser drops it and lists it), every member at most LIMITS.nestingDepth levels deep, and
 * at most LIMITS.attributesBytes as JSON. Depth first: JSON.stringify overflows the stack on very deep values.
 */
function attributesKeptAsTheyAre(attributes: object): boolean {
  if (Object.getPrototypeOf(attributes) !== Object.prototype || Object.hasOwn(attributes, '__proto__')) return false;
  for (const key in attributes) if (deeperThan((attributes as Record<string, unknown>)[key], LIMITS.nestingDepth)) return false;
  const json = JSON.stringify(attributes);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: short JSON needs no byte count.
  return json.length * 3 <= LIMITS.attributesBytes || Buffer.byteLength(json) <= LIMITS.attributesBytes;
}

/** The contract's `LogEvent` for `value` when it is certainly valid as it is, else undefined (run the contract). */
export function fastLogEvent(value: unknown): LogEvent | undefined {
  if (!isCanonical(value)) return undefined;
  const record = value as Record<string, unknown>;
  // JSON Schema sees an explicit `undefined` as absent, the normaliser may keep it as an extra field: parsed
  // JSON has none, so any is left to the contract.
  if (Object.getPrototypeOf(record) !== Object.prototype) return undefined;
  for (const key in record) if (record[key] === undefined) return undefined;
  const attributes = record.attributes;
  if (attributes !== undefined && !attributesKeptAsTheyAre(attributes as object)) return undefined;
  return toLogEvent(record as RawLogRecord, UNUSED_POSITION);
}
