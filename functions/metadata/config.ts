/**
 * Metadata configuration, read and checked when `createMetadataDependencies` runs (fail fast: every bad
 * variable is named).
 */
import type { z } from 'zod';
import { apiKeysEnv, postgresEnv, readConfig, redisEnv } from '#shared/config.ts';

// `and`, not spreading the shapes: postgresEnv's refinement (DATABASE_URL, or the RDS Proxy parts and the
// secret) must run too, or a missing database setting would surface only at the first query.
export const metadataEnv = postgresEnv.and(redisEnv).and(apiKeysEnv);
export type MetadataConfig = z.infer<typeof metadataEnv>;

/**
 * @example
 * const config = readMetadataConfig(process.env); // throws ConfigError naming every bad variable
 */
export function readMetadataConfig(env?: NodeJS.ProcessEnv): MetadataConfig {
  return readConfig(metadataEnv, env);
}
