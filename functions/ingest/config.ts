/**
 * Ingest configuration, read and checked when `createIngestDependencies` runs (fail fast: every bad variable is named).
 */
import * as z from 'zod';
import { apiKeysEnv, kafkaEnv, readConfig, topicsEnv } from '#shared/config.ts';

/** A synchronous Lambda invoke carries at most 6 MB, so a larger body limit could never be reached. */
const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

const ingestLimitsEnv = z.object({
  /** Largest request body accepted, in bytes (413 above it). */
  INGEST_MAX_BODY_BYTES: z.coerce.number().int().positive().max(LAMBDA_PAYLOAD_BYTES).default(1024 * 1024),
  /** Most records in one request, array or NDJSON (413 above it). */
  INGEST_MAX_BATCH: z.coerce.number().int().positive().default(1000),
  /** The `Retry-After` given with a 503 when Kafka cannot store the logs. */
  INGEST_RETRY_AFTER_SECONDS: z.coerce.number().int().positive().default(5),
});

// kafkaEnv carries a refinement, which zod does not let `.extend()` keep: intersect instead.
export const ingestEnv = kafkaEnv.and(topicsEnv).and(apiKeysEnv).and(ingestLimitsEnv);
export type IngestConfig = z.infer<typeof ingestEnv>;

/**
 * @example
 * const config = readIngestConfig(); // throws ConfigError naming every bad variable
 */
export function readIngestConfig(env?: NodeJS.ProcessEnv): IngestConfig {
  return readConfig(ingestEnv, env);
}
