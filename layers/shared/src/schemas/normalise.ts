/**
 * The structural half of the log contract: a log in our own shape, in Elastic Common Schema shape (nested
 * objects or dotted keys), or as Vector, Fluent Bit, pino and the like write it, becomes one record with our
 * field names. Values are not judged here (the zod schemas in ./log.ts do that, on the names this returns);
 * this only decides which value fills which field, and keeps every other field under `attributes`.
 *
 * Rules (README "Input contract"; JSON Schema layers/shared/schemas/raw-log.input.schema.json):
 * - Each field takes the FIRST PRESENT candidate of FIELD_ALIASES, in order: our own name first, so when a
 *   log carries both our field and an alias, ours wins. A candidate whose value is `null` is absent.
 * - A dotted key (`"log.level"`) is tried before the nested path (`{"log":{"level":…}}`) of the same field.
 * - `host`, `service` and `log` are both a field and an ECS object: a string `host` is the hostname (Vector,
 *   Fluent Bit), a string `log` is the message (Fluent Bit's tail and Docker inputs); an object is read for its
 *   ECS members.
 * - ECS `host.ip` may be an array: the preferred address is taken (log.ts `preferredIp`), and a list of more
 *   than one element is also kept under `attributes` as it came, so no address is lost.
 * - A few candidates count only when their value has a given type, or the log has a marker field
 *   (ALIAS_CONDITIONS: Fluent Bit's numeric `date`, bunyan's `name` next to `"v": 0`); otherwise they are extras.
 * - What was not used is kept under `attributes`, as it came (an ECS object loses only the members that were
 *   used; losing aliases are kept too). The log's own `attributes` come first; extra fields are added while the
 *   whole stays within LIMITS.attributesBytes as JSON. A field that does not fit, or whose name is already an
 *   attribute or is `__proto__`, is named in `dropped`: never dropped silently. So is the log's own
 *   `attributes.__proto__` (an object rebuilt by assignment, as zod's record does, would lose it silently).
 * - Nothing here judges depth: callers check `nestingProblems` first (JSON.stringify of a value nested a few
 *   thousand levels deep overflows the stack), as `parse` in ./log.ts does.
 */
import { LIMITS } from './limits.ts';

/** A place a value can come from: a top-level key, or an ECS object and its member. */
export type FieldPath = readonly [string] | readonly [string, string];

/** Our field names and the places they are read from, in order of precedence. */
export const FIELD_ALIASES = {
  // levelname: python-json-logger.
  level: [['level'], ['log', 'level'], ['severity'], ['levelname']],
  // short_message: GELF.
  message: [['message'], ['msg'], ['log'], ['short_message']],
  // name: bunyan's application name, only in a bunyan record (ALIAS_CONDITIONS).
  service: [['service'], ['service', 'name'], ['name']],
  source_ip: [['source_ip'], ['host', 'ip'], ['source', 'ip'], ['client', 'ip']],
  // HOSTNAME: logstash-logback-encoder; kubernetes.host: the node, from Fluent Bit's kubernetes filter.
  hostname: [['hostname'], ['host'], ['host', 'hostname'], ['host', 'name'], ['HOSTNAME'], ['kubernetes', 'host']],
  // ts: zap; date: Fluent Bit's json_date_key (a number only, ALIAS_CONDITIONS).
  timestamp: [['timestamp'], ['@timestamp'], ['time'], ['ts'], ['date']],
  trace_id: [['trace_id'], ['trace', 'id']],
} as const satisfies Record<string, readonly FieldPath[]>;

/** When a candidate counts (by `pathName`); a candidate that does not meet its condition stays an extra field. */
export interface AliasCondition {
  /** Its value must have this JSON type. */
  type?: 'string' | 'number';
  /** The log must also have this top-level field with this value. */
  alongside?: readonly [key: string, value: string | number];
}

/**
 * `date` is read only as a number (Fluent Bit's default `json_date_format double`): as a string it is as
 * likely a calendar date as a time. `name` is bunyan's application name only in a bunyan record (`"v": 0`,
 * bunyan's format version); elsewhere it is a logger (Python) or anything else.
 */
export const ALIAS_CONDITIONS: Readonly<Partial<Record<string, AliasCondition>>> = {
  date: { type: 'number' },
  name: { type: 'string', alongside: ['v', 0] },
};

export type AliasedField = keyof typeof FIELD_ALIASES;

/** Keys that are an ECS object when they hold one (and a field of ours when they hold anything else). */
export const CONTAINERS: ReadonlySet<string> = new Set(
  Object.values(FIELD_ALIASES).flatMap((paths: readonly FieldPath[]) => paths.filter((path) => path.length === 2).map((path) => path[0])),
);

/** How a candidate is written in problems and docs: `log.level`, `@timestamp`. */
export const pathName = (path: FieldPath): string => path.join('.');

export interface Normalised {
  /** Our field names only; absent fields are absent (never `undefined`-valued). */
  record: Record<string, unknown>;
  /** Where each aliased field was read from, when not from its own name (`{ level: 'log.level' }`). */
  sources: Partial<Record<string, string>>;
  /** Extra fields that could not be kept under `attributes` (bounded: see `boundedKeyList`). */
  dropped: string[];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * @param own the non-aliased fields that are ours in this context (`attributes`, and on `raw-logs` the
 *   pipeline's `event_id`, `received_at`, `dropped_attributes`); anything else not aliased is an extra.
 * @param pickIp the first usable address of an ECS `host.ip` array (the IP rule lives with the zod schemas).
 * @example
 * normaliseLog({ '@timestamp': 1705314600, 'log.level': 'warning', message: 'm', service: { name: 's' }, host: 'web-1' }, new Set(['attributes']), pick);
 * // { record: { level: 'warning', message: 'm', service: 's', hostname: 'web-1', timestamp: 1705314600 }, sources: { level: 'log.level', … }, dropped: [] }
 */
export function normaliseLog(input: Record<string, unknown>, own: ReadonlySet<string>, pickIp: (values: readonly unknown[]) => unknown): Normalised {
  const record: Record<string, unknown> = {};
  const sources: Partial<Record<string, string>> = {};
  /** Top-level keys used whole, and members used out of ECS objects. */
  const usedKeys = new Set<string>();
  const usedMembers = new Map<string, Set<string>>();

  for (const field of Object.keys(FIELD_ALIASES) as AliasedField[]) {
    for (const path of FIELD_ALIASES[field] as readonly FieldPath[]) {
      const found = lookup(input, path);
      if (found === undefined || !meets(input, path, found.value)) continue;
      let value = found.value;
      // ECS allows a list of addresses in host.ip only; anywhere else a list is the log's error.
      const list = field === 'source_ip' && path[0] === 'host' && Array.isArray(value);
      if (list) value = pickIp(value as unknown[]);
      record[field] = value;
      if (path[0] !== field || path.length === 2) sources[field] = pathName(path);
      // A list of addresses is more than the one taken: it stays under attributes, as it came.
      if (list && (found.value as unknown[]).length > 1) break;
      if (found.member === undefined) usedKeys.add(found.key);
      else {
        const members = usedMembers.get(found.key) ?? new Set<string>();
        members.add(found.member);
        usedMembers.set(found.key, members);
      }
      break;
    }
  }

  const dropped: string[] = [];
  const extras: [string, unknown][] = [];
  for (const key of Object.keys(input)) {
    const value = input[key];
    if (usedKeys.has(key)) continue;
    if (own.has(key)) {
      if (key === 'attributes' && isPlainObject(value) && Object.hasOwn(value, '__proto__')) {
        record[key] = withoutProto(value);
        dropped.push('__proto__');
      } else if (value !== null) record[key] = value;
      continue;
    }
    // Our own aliased names with a null value are absent, not extras.
    if (value === null && Object.hasOwn(FIELD_ALIASES, key)) continue;
    const members = usedMembers.get(key);
    if (members !== undefined && isPlainObject(value)) {
      const rest: Record<string, unknown> = {};
      for (const member of Object.keys(value)) if (!members.has(member)) putOwn(rest, member, value[member]);
      if (Object.keys(rest).length > 0) extras.push([key, rest]);
      continue;
    }
    extras.push([key, value]);
  }
  if (extras.length > 0) addExtras(record, extras, dropped);
  return { record, sources, dropped };
}

/** Whether a found candidate counts (ALIAS_CONDITIONS). */
function meets(input: Record<string, unknown>, path: FieldPath, value: unknown): boolean {
  if (path.length !== 1) return true;
  const condition = ALIAS_CONDITIONS[path[0]];
  if (condition === undefined) return true;
  if (condition.type !== undefined && typeof value !== condition.type) return false;
  if (condition.alongside === undefined) return true;
  const [key, expected] = condition.alongside;
  return Object.hasOwn(input, key) && input[key] === expected;
}

/** A copy of an object without its own `__proto__` member, in the same order. */
function withoutProto(value: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) if (key !== '__proto__') putOwn(copy, key, value[key]);
  return copy;
}

/** True when `value` has more than `levels` levels of objects and arrays (`1`: 0, `[]`: 1, `{"a":[1]}`: 2). */
export function deeperThan(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levels <= 0) return true;
  // Own enumerable members, what JSON.stringify writes; recursion stops at `levels`, so the stack stays small.
  for (const member of Array.isArray(value) ? value : Object.values(value)) if (deeperThan(member, levels - 1)) return true;
  return false;
}

/**
 * The fields nested deeper than `levels`, as the log wrote them: every top-level field (an extra field, an ECS
 * object), and each member of the log's own `attributes` (`attributes.x`), so that a field kept under
 * `attributes` is at most `levels` deep there too.
 *
 * @example
 * nestingProblems({ a: [[1]], attributes: { b: { c: {} } } }, 2); // ['attributes.b']
 */
export function nestingProblems(input: Record<string, unknown>, levels: number): string[] {
  const fields: string[] = [];
  for (const key of Object.keys(input)) {
    const value = input[key];
    if (key === 'attributes' && isPlainObject(value)) {
      for (const member of Object.keys(value)) if (deeperThan(value[member], levels)) fields.push(`attributes.${member}`);
    } else if (deeperThan(value, levels)) fields.push(key);
  }
  return fields;
}

function lookup(input: Record<string, unknown>, path: FieldPath): { value: unknown; key: string; member?: string } | undefined {
  if (path.length === 1) {
    const [key] = path;
    const value = input[key];
    if (value === undefined || value === null || !Object.hasOwn(input, key)) return undefined;
    // `host`, `service`, `log` holding an object are ECS objects, read through their members.
    if (CONTAINERS.has(key) && isPlainObject(value)) return undefined;
    return { value, key };
  }
  const [parent, member] = path;
  const dotted = `${parent}.${member}`;
  const flat = input[dotted];
  if (flat !== undefined && flat !== null && Object.hasOwn(input, dotted)) return { value: flat, key: dotted };
  const object = input[parent];
  if (!isPlainObject(object) || !Object.hasOwn(object, member)) return undefined;
  const value = object[member];
  return value === undefined || value === null ? undefined : { value, key: parent, member };
}

/** Adds extra fields to `record.attributes` while they fit; adds the names of those that did not to `dropped`. */
function addExtras(record: Record<string, unknown>, extras: readonly [string, unknown][], dropped: string[]): void {
  const own = record.attributes;
  // Attributes that are not an object are the log's error, reported by the schema: keep them as they are.
  if (own !== undefined && !isPlainObject(own)) {
    for (const [key] of extras) dropped.push(key);
    return;
  }
  const attributes: Record<string, unknown> = {};
  let count = 0;
  if (own !== undefined) {
    for (const key of Object.keys(own)) {
      putOwn(attributes, key, own[key]);
      count++;
    }
  }
  const used = { bytes: own === undefined ? 2 : Buffer.byteLength(JSON.stringify(own)), count };
  addWhileFits(attributes, extras, dropped, used, (key) => {
    if (key !== '__proto__') return false;
    // Named once, also when the log's own attributes had a `__proto__` too.
    if (!dropped.includes(key)) dropped.push(key);
    return true;
  });
  if (used.count > 0) record.attributes = attributes;
}

/**
 * Adds `entries` to `target` while it stays within LIMITS.attributesBytes as JSON, and names in `dropped` each
 * entry that does not fit or whose key `target` already has. `used` is `target`'s exact JSON size (`{}` plus
 * entries plus commas) and member count, kept up to date. An entry `skip` returns true for is passed over
 * (`skip` names it itself if it must). The contract's extra fields and the OTLP input's attributes
 * (functions/enrich/src/otlp/decode-otlp.ts) both fill `attributes` by this one rule.
 */
export function addWhileFits(
  target: Record<string, unknown>,
  entries: Iterable<readonly [string, unknown]>,
  dropped: string[],
  used: { bytes: number; count: number },
  skip?: (key: string, value: unknown) => boolean,
): void {
  for (const [key, value] of entries) {
    if (skip?.(key, value) === true) continue;
    if (Object.hasOwn(target, key)) {
      dropped.push(key);
      continue;
    }
    const entry = Buffer.byteLength(JSON.stringify(key)) + 1 + Buffer.byteLength(JSON.stringify(value) ?? 'null') + (used.count > 0 ? 1 : 0);
    if (used.bytes + entry > LIMITS.attributesBytes) {
      dropped.push(key);
      continue;
    }
    putOwn(target, key, value);
    used.bytes += entry;
    used.count++;
  }
}

/** Sets an own, enumerable property, also for `__proto__` (plain assignment would set the prototype). */
export function putOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * At most LIMITS.droppedKeys names, each at most LIMITS.droppedKeyChars long (cut with `…`); when there are
 * more, the last entry says how many more: `(+12 more)`.
 *
 * @example
 * boundedKeyList(['a', 'b']); // ['a', 'b']
 */
export function boundedKeyList(keys: readonly string[]): string[] {
  const cut = (key: string) => (key.length > LIMITS.droppedKeyChars ? `${key.slice(0, LIMITS.droppedKeyChars - 1)}…` : key);
  if (keys.length <= LIMITS.droppedKeys) return keys.map(cut);
  const kept = keys.slice(0, LIMITS.droppedKeys - 1).map(cut);
  kept.push(`(+${keys.length - kept.length} more)`);
  return kept;
}
