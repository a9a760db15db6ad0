/**
 * Prefix of the throwaway consumer groups the re-enricher reads raw records back by offset with (an OTLP
 * partial carries no raw log: adapters/kafka-record-reader.ts), `<prefix><uuid>`, one per read-back. On MSK
 * the function's role is granted the group actions on `<prefix>*` (infra/cdk imports this, so the two agree).
 * A file of its own: the CDK app imports it without the function's dependencies.
 */
export const REENRICH_READ_BACK_GROUP_PREFIX = 'reenrich-read-back-';
