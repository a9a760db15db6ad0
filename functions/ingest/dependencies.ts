/**
 * Module-scope wiring, done once per Lambda instance: configuration is read (and checked) at load, the
 * Kafka producer is built here and connects lazily on the first publish. `createIngestDependencies` is the
 * same wiring for any configuration (tests aim it at a broker of their own).
 */
import type { EventPublisher } from '#shared/kafka/publisher.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { type IngestConfig, readIngestConfig } from './config.ts';
import { AcceptLogs } from './src/accept-logs.ts';
import type { IngestHttpDependencies } from './src/http-handler.ts';

/** The handler's dependencies and a way to close the clients behind them. */
export interface IngestWiring {
  readonly dependencies: IngestHttpDependencies;
  /** Closes the Kafka producer (local runtime shutdown, tests); a Lambda instance never needs it. */
  close(): Promise<void>;
}

/**
 * @example
 * const { dependencies, close } = createIngestDependencies(readIngestConfig({ ...process.env, KAFKA_BROKERS: broker.bootstrap }));
 * const { postLogs } = createIngestHandler(dependencies);
 */
export function createIngestDependencies(config: IngestConfig): IngestWiring {
  const publisher: EventPublisher = new KafkaPublisher(config, `${config.KAFKA_CLIENT_ID}-ingest`);
  return {
    dependencies: {
      acceptLogs: new AcceptLogs({
        publisher,
        topic: config.RAW_TOPIC,
        retryAfterSeconds: config.INGEST_RETRY_AFTER_SECONDS,
      }),
      apiKeys: config.API_KEYS,
      maxBodyBytes: config.INGEST_MAX_BODY_BYTES,
      maxBatch: config.INGEST_MAX_BATCH,
    },
    close: () => publisher.close(),
  };
}

export const config = readIngestConfig();

const wiring = createIngestDependencies(config);

export const dependencies: IngestHttpDependencies = wiring.dependencies;

/** Closes the Kafka producer (local runtime shutdown, tests); a Lambda instance never needs it. */
export async function closeDependencies(): Promise<void> {
  await wiring.close();
}
