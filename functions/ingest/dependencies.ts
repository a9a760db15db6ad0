/**
 * Wiring of the ingest function: configuration read from `env` and checked (fail fast), the Kafka producer
 * built here and connecting lazily on the first publish, adapters typed as their ports. Nothing happens at
 * import: `handler.ts` calls `createIngestDependencies(process.env)` once per Lambda instance; the local
 * runtime and tests call it with an environment of their own (a broker of their own) and `close()` it.
 */
import { type EventPublisher, KafkaPublisher } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import { logger, metrics as powertoolsMetrics } from '#shared/observability.ts';
import { type IngestConfig, readIngestConfig } from './config.ts';
import { AcceptLogs } from './src/accept-logs.ts';
import { PowertoolsIngestMetrics } from './src/adapters/powertools-metrics.ts';
import type { IngestHttpDependencies } from './src/http-handler.ts';
import type { IngestMetrics } from './src/ports.ts';

export interface IngestOverrides {
  /** Defaults to a KafkaPublisher from the Kafka environment (KAFKA_BROKERS or MSK_CLUSTER_ARN). */
  publisher?: EventPublisher;
  /** Defaults to the Powertools logger. */
  log?: Log;
  /** Defaults to EMF through Powertools. */
  metrics?: IngestMetrics;
}

export interface IngestDependencies extends IngestHttpDependencies {
  config: IngestConfig;
  /** Closes the Kafka producer (local runtime shutdown, tests); a Lambda instance never needs it. */
  close(): Promise<void>;
}

/**
 * @example
 * const deps = createIngestDependencies({ ...process.env, KAFKA_BROKERS: broker.bootstrap });
 * const { postLogs } = createIngestHandler(deps);
 * await deps.close();
 */
export function createIngestDependencies(env: NodeJS.ProcessEnv, overrides: IngestOverrides = {}): IngestDependencies {
  const config = readIngestConfig(env);
  const publisher = overrides.publisher ?? new KafkaPublisher(config, `${config.KAFKA_CLIENT_ID}-ingest`);
  return {
    config,
    acceptLogs: new AcceptLogs({
      publisher,
      topic: config.RAW_TOPIC,
      retryAfterSeconds: config.INGEST_RETRY_AFTER_SECONDS,
      log: overrides.log ?? logger,
      metrics: overrides.metrics ?? new PowertoolsIngestMetrics(powertoolsMetrics),
    }),
    apiKeys: config.API_KEYS,
    maxBodyBytes: config.INGEST_MAX_BODY_BYTES,
    maxBatch: config.INGEST_MAX_BATCH,
    close: () => publisher.close(),
  };
}
