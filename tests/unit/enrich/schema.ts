/**
 * The published JSON Schemas of enriched events, compiled once (ajv, draft 2020-12, with formats): v1 (no
 * provenance) and v2 (`enrichment.provenance`). An event is checked against the schema its `schema_version`
 * names, so a v2 event is never passed by v1 nor the other way round.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const read = (name: string) => JSON.parse(readFileSync(new URL(`../../../layers/shared/schemas/${name}`, import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// ajv-formats is CommonJS: under native ESM its default export is module.exports itself.
const addFormats = addFormatsModule as unknown as (instance: Ajv2020) => Ajv2020;
addFormats(ajv);

export const validateEnrichedLogV1 = ajv.compile(read('enriched-log.v1.schema.json'));
export const validateEnrichedLogV2 = ajv.compile(read('enriched-log.v2.schema.json'));

/** Throws with ajv's messages when `value` does not match the schema of its version. */
export function expectValidEnrichedLog(value: unknown): void {
  const version = value !== null && typeof value === 'object' ? (value as { schema_version?: unknown }).schema_version : undefined;
  const validate = version === 2 ? validateEnrichedLogV2 : validateEnrichedLogV1;
  if (!validate(value)) throw new Error(`invalid enriched log (v${String(version)}): ${ajv.errorsText(validate.errors)}`);
}
