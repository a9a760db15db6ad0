/**
 * Writes layers/shared/schemas/raw-log.input.schema.json, the JSON Schema of the log contract, from the same
 * alias table the normaliser reads (FIELD_ALIASES): which field wins is stated once. The value rules (level
 * spellings, timestamp forms, address formats, bounds) are written here in JSON Schema's own terms, and
 * tests/unit/shared/input-contract.test.ts checks on a corpus that ajv and the zod contract accept and refuse
 * the same logs; it also fails when the committed file is not what this script writes.
 *
 *   npm run schema:input        # rewrite the file after changing the contract
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  EARLIEST_INSTANT,
  INSTANT_RANGE_RULE,
  LATEST_INSTANT,
  LEVEL_NAMES,
  LEVEL_NUMBERS,
  LIMITS,
  NO_CONTROL_CHARACTERS,
  NO_SURROUNDING_WHITESPACE,
  ORIGIN_RULE,
  TIMESTAMP_RULE,
} from '#shared/schemas/log.ts';
import { ALIAS_CONDITIONS, CONTAINERS, FIELD_ALIASES, type FieldPath, pathName } from '#shared/schemas/normalise.ts';

export const INPUT_SCHEMA_FILE = fileURLToPath(new URL('../layers/shared/schemas/raw-log.input.schema.json', import.meta.url));

type Schema = Record<string, unknown>;

/** `warn` → `[wW][aA][rR][nN]` (JSON Schema patterns have no case-insensitive flag). */
const anyCase = (word: string) => [...word].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('');

const NOT_NULL: Schema = { not: { type: 'null' } };
const NEITHER_NULL_NOR_OBJECT: Schema = { not: { anyOf: [{ type: 'null' }, { type: 'object' }] } };

/** The ways one candidate can be written: a top-level key; for an ECS member, the dotted key, then the object. */
function spellings(path: FieldPath): { present: Schema; apply: (leaf: Schema) => Schema }[] {
  if (path.length === 1) {
    const [key] = path;
    const condition = ALIAS_CONDITIONS[key];
    const value = condition?.type !== undefined ? { type: condition.type } : CONTAINERS.has(key) ? NEITHER_NULL_NOR_OBJECT : NOT_NULL;
    const present: Schema = { required: [key], properties: { [key]: value } };
    if (condition?.alongside !== undefined) {
      const [other, expected] = condition.alongside;
      present.required = [key, other];
      present.properties = { [key]: value, [other]: { const: expected } };
    }
    return [{ present, apply: (leaf) => ({ properties: { [key]: leaf } }) }];
  }
  const [parent, member] = path;
  const dotted = pathName(path);
  return [
    { present: { required: [dotted], properties: { [dotted]: NOT_NULL } }, apply: (leaf) => ({ properties: { [dotted]: leaf } }) },
    {
      present: { required: [parent], properties: { [parent]: { type: 'object', required: [member], properties: { [member]: NOT_NULL } } } },
      apply: (leaf) => ({ properties: { [parent]: { type: 'object', properties: { [member]: leaf } } } }),
    },
  ];
}

/** The first present spelling decides, and its value must be valid; `otherwise` applies when none is present. */
function precedence(paths: readonly FieldPath[], leafFor: (path: FieldPath) => Schema, otherwise: boolean): Schema | boolean {
  let schema: Schema | boolean = otherwise;
  for (const path of [...paths].reverse()) {
    for (const spelling of [...spellings(path)].reverse()) {
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
      schema = { if: spelling.present, then: spelling.apply(leafFor(path)), else: schema };
    }
  }
  return schema;
}

const ref = (name: string): Schema => ({ $ref: `#/$defs/${name}` });

/** A candidate as the $comment lists it, with its condition: `date (a number)`, `name (a string, with v = 0)`. */
function named(path: FieldPath): string {
  const condition = path.length === 1 ? ALIAS_CONDITIONS[path[0]] : undefined;
  if (condition === undefined) return pathName(path);
  const parts = [condition.type === undefined ? undefined : `a ${condition.type}`, condition.alongside === undefined ? undefined : `with ${condition.alongside[0]} = ${condition.alongside[1]}`];
  return `${pathName(path)} (${parts.filter((part) => part !== undefined).join(', ')})`;
}

/** `nestedN`: a value with at most N levels of objects and arrays (JSON Schema cannot count: one def per level). */
function nestingDefs(levels: number): Record<string, Schema> {
  const defs: Record<string, Schema> = { nested0: { type: ['string', 'number', 'boolean', 'null'] } };
  for (let n = 1; n <= levels; n++) {
    const inner = ref(`nested${n - 1}`);
    defs[`nested${n}`] = { anyOf: [ref('nested0'), { type: 'object', additionalProperties: inner }, { type: 'array', items: inner }] };
  }
  return defs;
}

/** A string that names something (zod's `label` in log.ts): bounded, no control characters, no surrounding whitespace. */
const label = (max: number): Schema => ({
  type: 'string',
  minLength: 1,
  maxLength: max,
  allOf: [
    { type: 'string', pattern: NO_CONTROL_CHARACTERS.source },
    { type: 'string', pattern: NO_SURROUNDING_WHITESPACE.source },
  ],
});

export function inputJsonSchema(): Schema {
  const names = [...LEVEL_NAMES.keys()];
  const numbers = [...LEVEL_NUMBERS.keys()];
  const levelTable = [...LEVEL_NAMES].map(([name, level]) => `${name}=${level}`).concat([...LEVEL_NUMBERS].map(([n, level]) => `${n}=${level}`));
  const leaf: Record<string, Schema> = {
    level: {
      description: `Our levels TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case, blanks around ignored; aliases and numbers (syslog 0-7, pino 10-60) as JSON numbers or numeric strings: ${levelTable.join(', ')}.`,
      anyOf: [
        { type: 'string', pattern: `^\\s*(?:${names.map(anyCase).join('|')})\\s*$` },
        { type: 'string', pattern: `^\\s*0*(?:${numbers.map(String).join('|')})\\s*$` },
        { enum: numbers },
      ],
    },
    message: { type: 'string', minLength: 1, maxLength: LIMITS.messageChars },
    service: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
    ip: {
      description: 'IPv4 (no leading zeros) or IPv6; written in PostgreSQL\'s spelling (lower case, zeros compressed).',
      type: 'string',
      anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }],
    },
    hostIp: {
      description:
        'ECS host.ip: one address, or a list with at least one: the first that is not loopback, link-local or unspecified is taken, else the first; a list of more than one is also kept under attributes.',
      anyOf: [ref('ip'), { type: 'array', contains: ref('ip') }],
    },
    hostname: { description: 'No control characters (U+0000-U+001F, U+007F), no leading or trailing whitespace.', ...label(LIMITS.hostnameChars) },
    traceId: { description: 'No control characters (U+0000-U+001F, U+007F), no leading or trailing whitespace.', ...label(LIMITS.traceIdChars) },
    instant: {
      description: `An instant: ${TIMESTAMP_RULE}; and it ${INSTANT_RANGE_RULE} (formatMinimum/formatMaximum, the keywords of ajv-formats: a validator without them checks the four-digit year only, so it lets through a date-time in year 0000 or 9999 whose offset moves it out of range). Normalised to ISO 8601 UTC with milliseconds.`,
      anyOf: [
        {
          type: 'string',
          format: 'date-time',
          formatMinimum: EARLIEST_INSTANT,
          formatMaximum: LATEST_INSTANT,
          pattern: '^\\d{4}-\\d{2}-\\d{2}T(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)$',
        },
        { type: 'number', minimum: 0, exclusiveMaximum: 1e20 },
      ],
    },
    attributes: {
      type: 'object',
      description: `Free-form, each member at most ${LIMITS.nestingDepth} levels deep. With the extra fields kept there, at most ${LIMITS.attributesBytes} bytes as JSON: the log's own attributes over that are refused (a rule JSON Schema cannot state); extra fields that do not fit are listed in dropped_attributes.`,
      additionalProperties: ref(`nested${LIMITS.nestingDepth}`),
    },
    eventId: {
      type: 'string',
      description: 'An RFC 9562 UUID (versions 1-8, or the nil or max UUID).',
      pattern: '^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$',
    },
    droppedAttributes: { type: 'array', maxItems: LIMITS.droppedKeys, items: { type: 'string', maxLength: LIMITS.droppedKeyChars * 2 } },
    ...nestingDefs(LIMITS.nestingDepth),
  };
  const leafOf: Record<keyof typeof FIELD_ALIASES, (path: FieldPath) => Schema> = {
    level: () => ref('level'),
    message: () => ref('message'),
    service: () => ref('service'),
    source_ip: (path) => (pathName(path) === 'host.ip' ? ref('hostIp') : ref('ip')),
    hostname: () => ref('hostname'),
    timestamp: () => ref('instant'),
    trace_id: () => ref('traceId'),
  };
  const required = new Set(['level', 'message', 'service']);
  const fields = Object.entries(FIELD_ALIASES).map(([field, paths]) => ({
    $comment: `${field}: ${paths.map(named).join(' > ')}${required.has(field) ? ' (required)' : ''}`,
    ...(precedence(paths, leafOf[field as keyof typeof FIELD_ALIASES], !required.has(field)) as Schema),
  }));
  const origin = [...FIELD_ALIASES.source_ip, ...FIELD_ALIASES.hostname].flatMap((path) => spellings(path).map((spelling) => spelling.present));
  const own = (key: string, def: string): Schema => ({
    if: { required: [key], properties: { [key]: NOT_NULL } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
    then: { properties: { [key]: ref(def) } },
  });

  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://log-enrichment.example/schemas/raw-log.input.schema.json',
    title: 'Log input (POST /api/logs and the raw-logs topic)',
    description:
      `One log, as ingest accepts it and as any producer may write it to raw-logs: our own shape, Elastic Common Schema (nested objects or dotted keys), or the common shippers' fields. Each of our fields is read from the first present of its names, in order (our own name first: it wins over an alias); null is absent. Fields not used are kept under attributes. No field, and no member of attributes, nests more than ${LIMITS.nestingDepth} levels of objects and arrays. event_id, received_at and dropped_attributes are the pipeline's: on raw-logs they are taken as they are (enrich derives event_id and received_at when absent); sent to ingest they are kept under attributes like any extra field. See README "Input contract". Generated by scripts/input-schema.ts.`,
    type: 'object',
    // Every field at most LIMITS.nestingDepth levels deep; attributes: each of its members (in $defs.attributes).
    properties: { attributes: true },
    additionalProperties: ref(`nested${LIMITS.nestingDepth}`),
    allOf: [
      ...fields,
      { $comment: `source_ip or hostname: ${ORIGIN_RULE}`, anyOf: origin },
      own('attributes', 'attributes'),
      own('event_id', 'eventId'),
      own('received_at', 'instant'),
      own('dropped_attributes', 'droppedAttributes'),
    ],
    $defs: leaf,
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(INPUT_SCHEMA_FILE, `${JSON.stringify(inputJsonSchema(), null, 2)}\n`);
  console.log(`wrote ${INPUT_SCHEMA_FILE}`);
}
