/** The published JSON Schema of enriched events, compiled once (ajv, draft 2020-12, with formats). */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const schema = JSON.parse(readFileSync(new URL('../../../layers/shared/schemas/enriched-log.v1.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// ajv-formats is CommonJS: under native ESM its default export is module.exports itself.
const addFormats = addFormatsModule as unknown as (instance: Ajv2020) => Ajv2020;
addFormats(ajv);

export const validateEnrichedLog = ajv.compile(schema);

/** Throws with ajv's messages when `value` does not match the schema. */
export function expectValidEnrichedLog(value: unknown): void {
  if (!validateEnrichedLog(value)) throw new Error(`invalid enriched log: ${ajv.errorsText(validateEnrichedLog.errors)}`);
}
