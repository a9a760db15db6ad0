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
 * - ECS `host.ip` may be an array: the first element that is an IP address is taken.
 * - What was not used is kept under `attributes`, as it came (an ECS object loses only the members that were
 *   used; losing aliases are kept too). The log's own `attributes` come first; extra fields are added while the
 *   whole stays within LIMITS.attributesBytes as JSON. A field that does not fit, or whose name is already an
 *   attribute or is `__proto__`, is named in `dropped`: never dropped silently.
 */
import { LIMITS } from './limits.ts';

/** A place a value can come from: a top-level key, or an ECS object and its member. */
export type FieldPath = readonly [string] | readonly [string, string];

/** Our field names and the places they are read from, in order of precedence. */
export const FIELD_ALIASES = {
  level: [['level'], ['log', 'level'], ['severity']],
  message: [['message'], ['msg'], ['log']],
  service: [['service'], ['service', 'name']],
  source_ip: [['source_ip'], ['host', 'ip'], ['source', 'ip'], ['client', 'ip']],
  hostname: [['hostname'], ['host'], ['host', 'hostname'], ['host', 'name']],
  timestamp: [['timestamp'], ['@timestamp'], ['time']],
  trace_id: [['trace_id'], ['trace', 'id']],
} as const satisfies Record<string, readonly FieldPath[]>;

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
      if (found === undefined) continue;
      let value = found.value;
      // ECS allows a list of addresses in host.ip only; anywhere else a list is the log's error.
      if (field === 'source_ip' && path[0] === 'host' && Array.isArray(value)) value = pickIp(value);
      record[field] = value;
      if (path[0] !== field || path.length === 2) sources[field] = pathName(path);
      if (found.member === undefined) usedKeys.add(found.key);
      else {
        const members = usedMembers.get(found.key) ?? new Set<string>();
        members.add(found.member);
        usedMembers.set(found.key, members);
      }
      break;
    }
  }

  const extras: [string, unknown][] = [];
  for (const key of Object.keys(input)) {
    const value = input[key];
    if (usedKeys.has(key)) continue;
    if (own.has(key)) {
      if (value !== null) record[key] = value;
      continue;
    }
    // Our own aliased names with a null value are absent, not extras.
    if (value === null && Object.hasOwn(FIELD_ALIASES, key)) continue;
    const members = usedMembers.get(key);
    if (members !== undefined && isPlainObject(value)) {
      const rest: Record<string, unknown> = {};
      for (const member of Object.keys(value)) if (!members.has(member)) put(rest, member, value[member]);
      if (Object.keys(rest).length > 0) extras.push([key, rest]);
      continue;
    }
    extras.push([key, value]);
  }
  const dropped = extras.length === 0 ? [] : addExtras(record, extras);
  return { record, sources, dropped };
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

/** Adds extra fields to `record.attributes` while they fit; returns the names of those that did not. */
function addExtras(record: Record<string, unknown>, extras: readonly [string, unknown][]): string[] {
  const dropped: string[] = [];
  const own = record.attributes;
  // Attributes that are not an object are the log's error, reported by the schema: keep them as they are.
  if (own !== undefined && !isPlainObject(own)) return extras.map(([key]) => key);
  const attributes: Record<string, unknown> = {};
  let count = 0;
  if (own !== undefined) {
    for (const key of Object.keys(own)) {
      put(attributes, key, own[key]);
      count++;
    }
  }
  // Exact JSON size of `attributes` so far: `{}` plus entries plus commas.
  let bytes = own === undefined ? 2 : Buffer.byteLength(JSON.stringify(own));
  for (const [key, value] of extras) {
    if (key === '__proto__' || Object.hasOwn(attributes, key)) {
      dropped.push(key);
      continue;
    }
    const entry = Buffer.byteLength(JSON.stringify(key)) + 1 + Buffer.byteLength(JSON.stringify(value) ?? 'null') + (count > 0 ? 1 : 0);
    if (bytes + entry > LIMITS.attributesBytes) {
      dropped.push(key);
      continue;
    }
    put(attributes, key, value);
    bytes += entry;
    count++;
  }
  if (count > 0) record.attributes = attributes;
  return dropped;
}

/** An own, enumerable property even for `__proto__` (plain assignment would set the prototype). */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
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
