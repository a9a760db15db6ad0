/**
 * A small, fast load run through the real pipeline (local API Gateway stand-in + ingest handler + Kafka +
 * the local enrich runner with Redis and PostgreSQL), accounted end to end. Asserts only that nothing
 * accepted was lost: timing is the benchmark's business, never a test's.
 *
 * Throwaway topics (unique names) keep the run apart from the other test files and from `npm start`.
 */
import { randomUUID } from 'node:crypto';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { logger, metrics } from '#shared/observability.ts';
import { createThrowawayTopics, deleteTopics } from '../../../bench/lib/kafka-fixtures.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { PowertoolsIngestMetrics } from '../../../functions/ingest/src/adapters/powertools-metrics.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { loadCatalog } from '../../../load/lib/catalog.ts';
import { runLoad } from '../../../load/lib/run.ts';
import { serveHandler } from '../../../scripts/local/api-gateway/index.ts';
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';

const suffix = randomUUID().slice(0, 8);
const topics = {
  raw: `load-test-raw-${suffix}`,
  complete: `load-test-complete-${suffix}`,
  partial: `load-test-partial-${suffix}`,
  deadLetter: `load-test-dlq-${suffix}`,
};

describe('load run', () => {
  const kafka = readConfig(kafkaEnv);
  const cleanups: (() => Promise<void>)[] = [];
  let url = '';

  beforeAll(async () => {
    const connection = await connectionOptions(kafka, 'load-test');
    await createThrowawayTopics(connection, [
      { name: topics.raw, partitions: 3 },
      { name: topics.complete, partitions: 1 },
      { name: topics.partial, partitions: 1 },
      { name: topics.deadLetter, partitions: 1 },
    ]);
    cleanups.push(() => deleteTopics(connection, Object.values(topics)));
    // The runner looks metadata up in the test database; it must exist and be migrated (idempotent).
    const databaseUrl = process.env.DATABASE_URL as string;
    await ensureDatabase(databaseUrl);
    await migrate(databaseUrl);

    const publisher = new KafkaPublisher(kafka, `load-test-${suffix}`);
    cleanups.push(() => publisher.close());
    const { handler } = createIngestHandler({
      acceptLogs: new AcceptLogs({
        publisher,
        topic: topics.raw,
        retryAfterSeconds: 1,
        log: logger,
        metrics: new PowertoolsIngestMetrics(metrics),
      }),
      apiKeys: undefined,
      maxBodyBytes: 1024 * 1024,
      maxBatch: 1000,
    });
    const served = await serveHandler({ name: 'ingest-load-test', port: 0, handler, routes: [{ method: 'POST', path: '/api/logs' }] });
    cleanups.push(() => served.close());
    url = served.url;

    const runner = await startEnrichRunner({
      env: { ...process.env, COMPLETE_TOPIC: topics.complete, PARTIAL_TOPIC: topics.partial, DLQ_TOPIC: topics.deadLetter },
      topic: topics.raw,
      groupId: `load-test-${suffix}`,
      batchWindowMs: 50,
      startFrom: 'earliest',
    });
    cleanups.push(() => runner.stop());
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('accounts for every accepted log on the complete, partial or dead-letter topic', async () => {
    // Prepare
    const connection = await connectionOptions(kafka, 'load-test-accounting');

    // Act: 3 s at 40 logs/s, 2 logs per request (a batched body), open loop
    const report = await runLoad({
      url,
      rate: 40,
      durationSeconds: 3,
      batch: 2,
      maxInFlight: 64,
      drainTimeoutSeconds: 30,
      catalog: await loadCatalog(),
      kafka: { connection, topics: { complete: topics.complete, partial: topics.partial, deadLetter: topics.deadLetter } },
    });

    // Assess
    const accounting = report.accounting;
    expect(report.readerFailure).toBeUndefined();
    expect(report.http.logsAccepted).toBe(120);
    expect(accounting?.accepted).toBe(120);
    expect(accounting?.lostSample).toEqual([]);
    expect(accounting?.lost).toBe(0);
    expect((accounting?.complete ?? 0) + (accounting?.partial ?? 0) + (accounting?.deadLetter ?? 0)).toBe(120);
  });
});
