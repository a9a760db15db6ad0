/**
 * Wiring of the re-enrich function (./src/reenrich/): enrich's own dependencies (lookups, breakers, publisher,
 * the enrich use case itself: a re-enriched log is enriched exactly as enrich does it), its policy
 * (REENRICH_*, ./config.ts), a reader of raw records by offset and its metrics. Nothing happens at import:
 * reenrich-handler.ts calls it once per Lambda instance; the local runner and tests call it with their own
 * environment and overrides, and `close()` what it built.
 */
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { logger, metrics as powertoolsMetrics } from '#shared/observability.ts';
import { readReenrichConfig, type ReenrichEnv } from './config.ts';
import { BREAKER_NAMES, createEnrichDependencies, type EnrichDependencies, type EnrichOverrides } from './dependencies.ts';
import { KafkaRecordReader } from './src/adapters/kafka-record-reader.ts';
import { PowertoolsReenrichMetrics } from './src/adapters/powertools-metrics.ts';
import { parseKafkaEvent } from './src/enrich-handler.ts';
import type { KafkaBatchResponse } from './src/kafka-event.ts';
import { REENRICH_READ_BACK_GROUP_PREFIX } from './src/reenrich/read-back.ts';
import { ReenrichBatch, type ReenrichMetrics, type RecordReader } from './src/reenrich/reenrich-batch.ts';

export interface ReenrichOverrides extends EnrichOverrides {
  /** Defaults to EMF through Powertools. */
  reenrichMetrics?: ReenrichMetrics;
  /** Defaults to a KafkaRecordReader from the Kafka environment. */
  reader?: RecordReader;
}

/** The raw function: a Kafka event of the partial topic and what the invocation may wait (ms). */
export type ReenrichFunction = (event: unknown, budgetMs?: number) => Promise<KafkaBatchResponse | undefined>;

export interface ReenrichDependencies {
  policy: ReenrichEnv;
  enrich: EnrichDependencies;
  reenrichBatch: ReenrichBatch;
  reenrich: ReenrichFunction;
  /** Ends the waits at once (they hand their records back), then closes what enrich's dependencies built. */
  close(): Promise<void>;
}

/**
 * @throws ConfigError naming every bad variable of `env`.
 * @example
 * const deps = createReenrichDependencies({ ...process.env, REENRICH_BACKOFF_MS: '200' });
 * await deps.reenrich(partialTopicEvent, 30_000);
 * await deps.close();
 */
export function createReenrichDependencies(env: NodeJS.ProcessEnv, overrides: ReenrichOverrides = {}): ReenrichDependencies {
  const policy = readReenrichConfig(env);
  const enrich = createEnrichDependencies(env, overrides);
  const reenrichBatch = new ReenrichBatch({
    enrichBatch: enrich.enrichBatch,
    reader: overrides.reader ?? new KafkaRecordReader(readConfig(kafkaEnv, env), { groupPrefix: REENRICH_READ_BACK_GROUP_PREFIX }),
    // PostgreSQL is the source of truth; Redis only a cache in front of it (with Redis down, lookups go to
    // PostgreSQL and logs come out complete). A half-open breaker takes the attempt as its probe: only an
    // open one makes the batch wait.
    gate: { ready: () => enrich.lookup.breakers().every((breaker) => breaker.name !== BREAKER_NAMES.postgres || breaker.state !== 'open') },
    metrics: overrides.reenrichMetrics ?? new PowertoolsReenrichMetrics(powertoolsMetrics),
    log: overrides.log ?? logger,
    policy: {
      maxAttempts: policy.REENRICH_MAX_ATTEMPTS,
      maxAgeMs: policy.REENRICH_MAX_AGE_MS,
      backoffMs: policy.REENRICH_BACKOFF_MS,
      backoffMaxMs: policy.REENRICH_BACKOFF_MAX_MS,
    },
    maxWaitMs: policy.REENRICH_MAX_WAIT_MS,
    reportBatchItemFailures: enrich.config.ENRICH_REPORT_BATCH_ITEM_FAILURES,
  });
  return {
    policy,
    enrich,
    reenrichBatch,
    reenrich: async (event, budgetMs) => reenrichBatch.handle(parseKafkaEvent(event), budgetMs === undefined ? {} : { budgetMs }),
    async close() {
      reenrichBatch.stop();
      await enrich.close();
    },
  };
}
