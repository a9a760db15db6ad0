/**
 * Writes functions/enrich/src/generated/canonical-record.ts, the validator of enrich's fast path, compiled by
 * ajv's standalone code generation from a JSON Schema that is DERIVED here from the contract, never written
 * by hand: zod's own `z.toJSONSchema(RawLogRecord)` (the bounds and patterns the contract checks), narrowed to
 * the records the contract accepts UNCHANGED, as our ingest writes them:
 * - our field names only (`additionalProperties: false`: no alias, no extra field), no `dropped_attributes`;
 * - every pipeline field present (event_id, received_at, timestamp: nothing to derive), and a source_ip;
 * - levels: the contract's enum, only the names that are their own normal form (`levelOf(name) === name`);
 * - source_ip: the contract's IPv4 alternative only (canonicalIp rewrites IPv6 spellings);
 * - timestamp, received_at (a zod transform, which JSON Schema cannot state): the contract's ISO_DATETIME
 *   pattern at exactly the length `Date#toISOString` writes, which is then its form (ISO_STRING_LENGTH), the
 *   one the contract turns every instant into;
 * - string lengths (message, hostname, trace_id) counted in UTF-16 units, where zod counts code points: a
 *   string within a bound in units is within it in code points, so this only narrows. The one record it
 *   sends to the contract needlessly is one with astral characters (emoji) within a factor two of a bound;
 *   counting code points would need ajv's `ucs2length` at run time (ajv as a runtime dependency) and cost a
 *   pass over every string.
 * `format` keywords are dropped where zod also states a `pattern` (so the generated code needs no ajv-formats),
 * and the generator refuses to run when one has no pattern, or when the contract stops being what these
 * narrowings assume (checked below). What JSON Schema cannot state (attributes' byte bound and nesting depth,
 * an own `__proto__`, explicit `undefined`s) is checked in functions/enrich/src/fast-validate.ts with the
 * contract's own LIMITS and `deeperThan`.
 *
 * tests/unit/enrich/fast-validate.test.ts fails when the committed file is not what this script writes, and
 * checks the fast path against the contract with property tests in both directions.
 *
 *   npm run schema:validator     # rewrite the file after changing the contract (or upgrading ajv or zod)
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standaloneCodeModule from 'ajv/dist/standalone/index.js';
import { z } from 'zod';
import { ISO_DATETIME, instantOf, LOG_LEVELS, levelOf, RawLogRecord } from '#shared/schemas/log.ts';

export const VALIDATOR_FILE = fileURLToPath(new URL('../functions/enrich/src/generated/canonical-record.ts', import.meta.url));

type Schema = Record<string, unknown>;

/**
 * `Date#toISOString`'s length for a four-digit year (`2024-01-15T10:30:00.000Z`). A match of the contract's
 * ISO_DATETIME of exactly this length IS in that form: 19 characters of date and time, then a fraction and a
 * zone in 5 characters, which only `.` + 3 digits + `Z` fill (an offset alone takes 6). A length check costs
 * nothing, where a second pattern cost ~45 ns per instant.
 */
const ISO_STRING_LENGTH = new Date(0).toISOString().length;
/** The first and last instants of that form. */
const FORM_ENDS = ['0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'];
/** Fields the contract derives when absent: required here, so the fast path never derives. */
const PIPELINE_FIELDS = ['event_id', 'received_at', 'timestamp'];
/** The only fields whose contract schema is a transform (unrepresentable: `{}` in zod's JSON Schema). */
const INSTANT_FIELDS = ['timestamp', 'received_at'];

function fail(message: string): never {
  throw new Error(`scripts/fast-validator.ts: ${message}; update the generator before regenerating`);
}

/** A copy without `format` where a `pattern` says the same (zod writes both); a format alone is refused. */
function withoutFormats(schema: unknown, path: string): unknown {
  if (Array.isArray(schema)) return schema.map((item, i) => withoutFormats(item, `${path}/${i}`));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'format') {
      if (typeof (schema as Schema).pattern !== 'string') fail(`${path} has format "${String(value)}" without a pattern`);
      continue;
    }
    out[key] = withoutFormats(value, `${path}/${key}`);
  }
  return out;
}

/** The JSON Schema of the records the fast path takes, derived from the contract (see the module comment). */
export function canonicalRecordSchema(): Schema {
  const contract = z.toJSONSchema(RawLogRecord, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Schema;
  const properties = { ...(contract.properties as Record<string, Schema>) };
  if (contract.type !== 'object' || contract.additionalProperties !== undefined) fail('the contract is no longer a closed-over object schema');
  // Narrowing 1: a record listing dropped attributes is left to the contract (it appends to the list).
  if (properties.dropped_attributes === undefined) fail('the contract has no dropped_attributes');
  delete properties.dropped_attributes;
  for (const field of [...PIPELINE_FIELDS, 'source_ip', 'level']) if (properties[field] === undefined) fail(`the contract has no ${field}`);

  // Narrowing 2: levels that are their own normal form (the contract's preprocess maps them to themselves).
  const levels = (properties.level as Schema).enum;
  if (!Array.isArray(levels) || levels.join() !== LOG_LEVELS.join()) fail('the level schema is not the LOG_LEVELS enum');
  properties.level = { ...(properties.level as Schema), enum: levels.filter((name) => levelOf(name) === name) };

  // Narrowing 3: the IPv4 alternative of the address union.
  const ipOptions = (properties.source_ip as Schema).anyOf;
  const ipv4 = Array.isArray(ipOptions) ? (ipOptions as Schema[]).filter((option) => option.format === 'ipv4') : [];
  if (ipv4.length !== 1) fail('source_ip has no single ipv4 alternative');
  properties.source_ip = ipv4[0] as Schema;

  // Narrowing 4: instants already in the form the contract writes them in.
  for (const field of INSTANT_FIELDS) {
    if (Object.keys(properties[field] as Schema).length !== 0) fail(`${field} is no longer a transform; derive its schema from zod's`);
    properties[field] = { type: 'string', minLength: ISO_STRING_LENGTH, maxLength: ISO_STRING_LENGTH, pattern: ISO_DATETIME.source };
  }
  // Every instant of that form is in the contract's range (the range is contiguous: both ends suffice), and
  // the contract's pattern has no flags the JSON Schema pattern would lose.
  for (const end of FORM_ENDS) if (end.length !== ISO_STRING_LENGTH || instantOf(end) !== end) fail(`the contract does not accept ${end} unchanged`);
  if (ISO_DATETIME.flags !== '') fail('ISO_DATETIME has flags a JSON Schema pattern cannot state');

  const required = [...new Set([...((contract.required as string[] | undefined) ?? []), ...PIPELINE_FIELDS, 'source_ip'])];
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'The canonical subset of RawLogRecord (scripts/fast-validator.ts); derived, never edited by hand.',
    type: 'object',
    required,
    properties: withoutFormats(properties, '#/properties'),
    additionalProperties: false,
  };
}

// ajv's standalone module is CommonJS: under native ESM its default export is module.exports itself.
const standaloneCode = ((standaloneCodeModule as unknown as { default?: unknown }).default ?? standaloneCodeModule) as (ajv: Ajv, validate: unknown) => string;

/** The generated module's text (deterministic: the committed file must equal it). */
export function canonicalRecordValidatorSource(): string {
  // Draft 7, not 2020-12: nothing here needs unevaluated* or dynamic refs, whose bookkeeping the generated
  // code would otherwise do (and allocate for) on every call.
  const ajv = new Ajv({
    strict: true,
    allErrors: false,
    messages: false,
    // Lengths in UTF-16 units (the narrowing above); patterns without the `u` flag, as zod's regexes run.
    unicode: false,
    unicodeRegExp: false,
    code: { source: true, esm: true, lines: true },
    // `unicode: false` is deprecated but still honoured (ajv's limitLength reads it); its warning is expected.
    logger: { log: console.log, error: console.error, warn: (message: unknown) => String(message).startsWith('DEPRECATED: option unicode') || console.warn(message) },
  });
  const code = standaloneCode(ajv, ajv.compile(canonicalRecordSchema()));
  if (/\brequire\(|\bimport\b/.test(code)) fail('the generated validator imports a runtime helper; ajv would become a runtime dependency');
  return [
    '// GENERATED by scripts/fast-validator.ts (npm run schema:validator) from the zod contract RawLogRecord. Do not edit.',
    '// @ts-nocheck',
    '// biome-ignore-all lint: generated code',
    code,
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VALIDATOR_FILE, canonicalRecordValidatorSource());
  console.log(`wrote ${VALIDATOR_FILE}`);
}
