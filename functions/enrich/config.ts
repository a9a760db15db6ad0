/**
 * Enrich configuration, read and checked when `createEnrichDependencies` runs (fail fast: every bad variable
 * is named): the function's own settings (`enrichEnv`) and everything it needs besides Kafka (`enrichConfig`).
 * Kafka is read apart, and only when no publisher is given.
 *
 * Every remote call of the hot path has its own tight budget (tens to hundreds of ms): a batch must never
 * wait for a driver default while a dependency is down; the circuit breakers turn repeated failures into an
 * immediate skip.
 */
import * as z from 'zod';
import { postgresEnv, readConfig, redisEnv, topicsEnv } from '#shared/config.ts';
import { OUTPUT_ENCODINGS } from './src/otlp/types.ts';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/**
 * `true`/`1` or `false`/`0`; unset or empty (`ENRICH_PROVENANCE=`, a blank line of an env file or a template)
 * is the flag's default, never "off": for a flag that defaults to on, empty must not turn it off.
 */
const flag = (fallback: 'true' | 'false' = 'false') =>
  z
    .enum(['true', 'false', '1', '0', ''])
    .default(fallback)
    .transform((value) => (value === '' ? fallback : value))
    .transform((value) => value === 'true' || value === '1');

export const enrichEnv = z.object({
  /** Client-side budget of one PostgreSQL lookup query (`query_timeout`). */
  ENRICH_DB_TIMEOUT_MS: positiveInt(50),
  /**
   * Budget to open a PostgreSQL connection (only paid when the pool has none idle; TLS to RDS Proxy included).
   * The pool also uses it as the server-side `statement_timeout`.
   */
  ENRICH_DB_CONNECT_TIMEOUT_MS: positiveInt(250),
  ENRICH_MEMORY_TTL_MS: positiveInt(60_000),
  ENRICH_MEMORY_NEGATIVE_TTL_MS: positiveInt(10_000),
  /** Entries and approximate bytes of the in-process cache, over all kinds together (hosts, networks, services). */
  ENRICH_MEMORY_MAX_ENTRIES: positiveInt(100_000),
  ENRICH_MEMORY_MAX_BYTES: positiveInt(64 * 1024 * 1024),
  ENRICH_REDIS_TTL_S: positiveInt(300),
  ENRICH_REDIS_NEGATIVE_TTL_S: positiveInt(30),
  /**
   * How long an open breaker waits before letting one probe through (half-open). Also how long a healthy
   * instance ignores further reports after a probe that succeeded; a report stays evidence for twice this.
   */
  ENRICH_BREAKER_RESET_MS: positiveInt(5_000),
  ENRICH_BREAKER_ERROR_PERCENT: positiveInt(50),
  /**
   * Calls in the rolling window before the error rate can open a breaker. Per batch, the Redis breaker sees
   * one cache read and the PostgreSQL breaker one fetch if Redis left keys unanswered; a batch that sees the
   * metadata version move may add up to two reads and one fetch. Write-backs to Redis go around the breaker.
   */
  ENRICH_BREAKER_VOLUME: positiveInt(3),
  ENRICH_BREAKER_WINDOW_MS: positiveInt(10_000),
  /**
   * Redis key prefix of the breakers' shared open reports (tests use their own so they never share one).
   * v2: reports are hashes written by a script (v1 held whole JSON states); a new prefix keeps the two
   * apart while both versions run during a deploy.
   */
  ENRICH_BREAKER_KEY_PREFIX: z.string().min(1).default('enrich:breaker:v2:'),
  /** `true` when the event source mapping has `FunctionResponseTypes: ["ReportBatchItemFailures"]`. */
  ENRICH_REPORT_BATCH_ITEM_FAILURES: flag(),
  /**
   * How the complete and partial outputs are written: `json` (the enriched-log.v1 schema), or one OTLP
   * `ExportLogsServiceRequest` per log, `otlp_proto` or `otlp_json`, as an OpenTelemetry Collector's Kafka
   * receiver reads them (./src/otlp/encode-otlp.ts). Per deployment: every consumer of a topic reads one
   * encoding. Dead letters are always JSON.
   */
  OUTPUT_ENCODING: z.enum(OUTPUT_ENCODINGS).default('json'),
  /**
   * Field provenance: each enriched event says, per field group (host, network, service), which tier answered,
   * how old the value was and whether it was stale (`enrichment.provenance`, enriched-log v2). `false` writes
   * v1 events exactly as before provenance existed, for consumers that validate against v1 only. Either way,
   * the cache entries keep their PostgreSQL read time (turning it on later shows ages at once).
   */
  ENRICH_PROVENANCE: flag('true'),
});
export type EnrichEnv = z.infer<typeof enrichEnv>;

/**
 * The re-enricher's policy (functions/enrich/src/reenrich/): it reads `enriched-logs-partial` and enriches a
 * partial log again once the sources answer. Attempts count enrich's own first pass as 1: with the defaults,
 * a log is tried again after 1 s, 2 s, 4 s … then every 10 min, 24 times in all, which covers an outage of
 * about 2 h 37 min; past its attempts or its age, it is counted and left on the partial topic (`npm run replay`
 * takes it from there).
 */
export const reenrichEnv = z.object({
  /** Attempts in all, enrich's first one included; a log that has had them is left (counted `exhausted`). */
  REENRICH_MAX_ATTEMPTS: positiveInt(25),
  /** A log received longer ago than this is left (counted `exhausted`), whatever its attempts. */
  REENRICH_MAX_AGE_MS: positiveInt(24 * 60 * 60 * 1000),
  /** Wait after attempt n before attempt n + 1: REENRICH_BACKOFF_MS × 2^(n−1), at most REENRICH_BACKOFF_MAX_MS, from that attempt's enriched_at. */
  REENRICH_BACKOFF_MS: positiveInt(1_000),
  REENRICH_BACKOFF_MAX_MS: positiveInt(10 * 60 * 1000),
  /**
   * How long one invocation waits for its logs to be due and its breakers to let calls through (on Lambda,
   * also bounded by the time the invocation has left, less a margin). Logs not due by then are handed back
   * to the event source (a partial batch response, or a failed invocation) and come again.
   */
  REENRICH_MAX_WAIT_MS: positiveInt(60_000),
});
export type ReenrichEnv = z.infer<typeof reenrichEnv>;

// postgresEnv carries a refinement, which zod does not let `.extend()` keep: intersect instead.
export const enrichConfig = topicsEnv.and(redisEnv).and(postgresEnv).and(enrichEnv);
export type EnrichConfig = z.infer<typeof enrichConfig>;

/**
 * @example
 * const config = readEnrichConfig(process.env); // throws ConfigError naming every bad variable
 */
export function readEnrichConfig(env?: NodeJS.ProcessEnv): EnrichConfig {
  return readConfig(enrichConfig, env);
}

/**
 * @example
 * const policy = readReenrichConfig(process.env); // throws ConfigError naming every bad variable
 */
export function readReenrichConfig(env?: NodeJS.ProcessEnv): ReenrichEnv {
  return readConfig(reenrichEnv, env);
}
