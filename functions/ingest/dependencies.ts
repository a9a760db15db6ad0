/**
 * Module-scope wiring, done once per Lambda instance: configuration is read (and checked) at load, the
 * Kafka producer is built here and connects lazily on the first publish.
 */
import type { EventPublisher } from '#shared/kafka/publisher.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { readIngestConfig } from './config.ts';
import { AcceptLogs } from './src/accept-logs.ts';
import type { IngestHttpDependencies } from './src/http-handler.ts';

export const config = readIngestConfig();

const publisher: EventPublisher = new KafkaPublisher(config, `${config.KAFKA_CLIENT_ID}-ingest`);

export const dependencies: IngestHttpDependencies = {
  acceptLogs: new AcceptLogs({
    publisher,
    topic: config.RAW_TOPIC,
    retryAfterSeconds: config.INGEST_RETRY_AFTER_SECONDS,
  }),
  apiKeys: config.API_KEYS,
  maxBodyBytes: config.INGEST_MAX_BODY_BYTES,
  maxBatch: config.INGEST_MAX_BATCH,
};

/** Closes the Kafka producer (local runtime shutdown, tests); a Lambda instance never needs it. */
export async function closeDependencies(): Promise<void> {
  await publisher.close();
}
