/**
 * The ingest function against the real broker: what it answers is what is on `raw-logs`.
 * Every test marks its logs with its own id and reads back only those (the topic is shared).
 */
import { freePort as closedPort } from '../../support/net.ts';
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { readConfig, kafkaEnv } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { logger, metrics } from '#shared/observability.ts';
import { RawLogRecord } from '#shared/schemas/log.ts';
import { createIngestDependencies } from '../../../functions/ingest/dependencies.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { PowertoolsIngestMetrics } from '../../../functions/ingest/src/adapters/powertools-metrics.ts';
import { createIngestHandler, ROUTES as routes } from '../../../functions/ingest/src/http-handler.ts';
import { serveHandler } from '../../../scripts/local/api-gateway/index.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { latestOffsets, readTopicUntil } from '../../support/kafka.ts';

const README_LOG = {
  level: 'ERROR',
  message: 'Payment processing failed',
  service: 'payment-service',
  source_ip: '192.168.1.100',
};

/** A valid log carrying the test's marker, so the test can find its own records on the shared topic. */
const markedLog = (marker: string, overrides: Record<string, unknown> = {}) => ({
  ...README_LOG,
  trace_id: marker,
  ...overrides,
});

// The function as deployed: the same wiring handler.ts does, over the test environment.
const dependencies = createIngestDependencies(process.env);
const { config } = dependencies;
const { handler } = createIngestHandler(dependencies);

const post = (body: string, contentType = 'application/json') =>
  handler(
    restEvent('apigw-rest-post-logs', { body, headers: { 'Content-Type': contentType } }),
    lambdaContext('ingest'),
  );


// The first publish connects the producer; a read-back joins a consumer group (the project's testTimeout
// does not reach the projects: it is a global Jest option).
jest.setTimeout(30_000);

afterAll(async () => {
  await dependencies.close();
});

describe('ingest → raw-logs', () => {
  it('stores a posted log on raw-logs, keyed by its source_ip, under the event id it answered', async () => {
    // Prepare
    const marker = randomUUID();
    const before = await latestOffsets(config.RAW_TOPIC);

    // Act
    const response = await post(JSON.stringify(markedLog(marker)));

    // Assess
    expect(response.statusCode).toBe(202);
    const { eventIds } = JSON.parse(response.body) as { eventIds: string[] };
    const messages = await readTopicUntil({ topic: config.RAW_TOPIC, eventIds, fromOffsets: before });
    expect(messages).toHaveLength(1);
    expect(messages[0]?.key).toBe('192.168.1.100');
    // No traceparent in the request and no X-Ray outside Lambda: the record carries a new trace of its own.
    expect(messages[0]?.headers).toEqual({ 'content-type': 'application/json', traceparent: expect.stringMatching(/^00-[\da-f]{32}-[\da-f]{16}-00$/) });
    const record = RawLogRecord.parse(messages[0]?.json);
    expect(record).toMatchObject({ ...README_LOG, trace_id: marker, event_id: eventIds[0] });
  });

  it('stores the good records of a batch and reports the bad one, which never reaches the topic', async () => {
    // Prepare
    const marker = randomUUID();
    const before = await latestOffsets(config.RAW_TOPIC);
    const batch = [
      markedLog(marker, { source_ip: '10.20.0.7' }),
      markedLog(marker, { level: 'NOISY' }),
      markedLog(marker, { source_ip: '10.20.0.8' }),
    ];

    // Act
    const response = await post(JSON.stringify(batch));

    // Assess
    const body = JSON.parse(response.body) as { accepted: number; eventIds: string[]; rejected: unknown[] };
    expect(response.statusCode).toBe(202);
    expect(body.rejected).toEqual([{ index: 1, field: 'level', reason: expect.stringMatching(/^must be one of/) }]);
    // Read everything carrying the marker, asking for one more than accepted: a stored bad record would show.
    const messages = await readTopicUntil({
      topic: config.RAW_TOPIC,
      fromOffsets: before,
      predicate: (message) => (message.json as { trace_id?: string } | undefined)?.trace_id === marker,
      count: body.accepted + 1,
      timeoutMs: 3000,
    });
    expect(messages.map((message) => (message.json as RawLogRecord).event_id).sort()).toEqual([...body.eventIds].sort());
    expect(messages.map((message) => message.key).sort()).toEqual(['10.20.0.7', '10.20.0.8']);
  });

  it('stores the readable lines of an NDJSON body and reports the malformed one by index', async () => {
    // Prepare
    const marker = randomUUID();
    const before = await latestOffsets(config.RAW_TOPIC);
    const ndjson = [JSON.stringify(markedLog(marker)), '{"level":"INFO",', '', JSON.stringify(markedLog(marker))].join('\n');

    // Act
    const response = await post(ndjson, 'application/x-ndjson');

    // Assess
    const body = JSON.parse(response.body) as { accepted: number; eventIds: string[]; rejected: unknown[] };
    expect(response.statusCode).toBe(202);
    expect(body.rejected).toEqual([{ index: 1, field: '(record)', reason: 'is not valid JSON' }]);
    const messages = await readTopicUntil({ topic: config.RAW_TOPIC, eventIds: body.eventIds, fromOffsets: before });
    expect(messages).toHaveLength(2);
  });

  it('answers 503 with Retry-After, and logs the failure, when Kafka cannot be reached', async () => {
    // Prepare
    const logError = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const deadBroker = new KafkaPublisher(
      readConfig(kafkaEnv, {
        KAFKA_BROKERS: `127.0.0.1:${await closedPort()}`,
        KAFKA_PRODUCE_RETRIES: '2',
        KAFKA_RETRY_DELAY_MS: '50',
        KAFKA_TIMEOUT_MS: '1000',
      }),
      'ingest-dead-broker-test',
    );
    const { handler: unreachable } = createIngestHandler({
      acceptLogs: new AcceptLogs({
        publisher: deadBroker,
        topic: config.RAW_TOPIC,
        retryAfterSeconds: 9,
        log: logger,
        metrics: new PowertoolsIngestMetrics(metrics),
      }),
      apiKeys: undefined,
      maxBodyBytes: 1024 * 1024,
      maxBatch: 1000,
    });

    try {
      // Act
      const response = await unreachable(restEvent('apigw-rest-post-logs'), lambdaContext('ingest'));

      // Assess
      expect(response.statusCode).toBe(503);
      expect(response.headers?.['retry-after']).toBe('9');
      expect(JSON.parse(response.body)).toEqual({ error: { message: 'Service Unavailable: retry later' } });
      expect(logError).toHaveBeenCalledWith('could not store logs on Kafka', expect.objectContaining({ records: 1 }));
    } finally {
      await deadBroker.close();
      jest.restoreAllMocks();
    }
  });
});

describe('local runtime smoke', () => {
  it('accepts the README curl request through the local API Gateway stand-in with 202', async () => {
    // Prepare
    const served = await serveHandler({ name: 'ingest', port: 0, host: '127.0.0.1', handler, routes });
    const before = await latestOffsets(config.RAW_TOPIC);

    try {
      // Act
      const response = await fetch(`${served.url}/api/logs`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(README_LOG),
      });

      // Assess
      const body = (await response.json()) as { accepted: number; eventIds: string[] };
      expect(response.status).toBe(202);
      expect(body.accepted).toBe(1);
      const messages = await readTopicUntil({ topic: config.RAW_TOPIC, eventIds: body.eventIds, fromOffsets: before });
      expect(messages.map((message) => message.key)).toEqual(['192.168.1.100']);
    } finally {
      await served.close();
    }
  });

  it('answers GET /api/health through the stand-in', async () => {
    // Prepare
    const served = await serveHandler({ name: 'ingest', port: 0, host: '127.0.0.1', handler, routes });

    try {
      // Act
      const response = await fetch(`${served.url}/api/health`);

      // Assess
      expect([response.status, await response.json()]).toEqual([200, { status: 'ok' }]);
    } finally {
      await served.close();
    }
  });

  it('answers another method on /api/logs, trailing slash or not, with 405 and allow through the stand-in', async () => {
    // Prepare
    const served = await serveHandler({ name: 'ingest', port: 0, host: '127.0.0.1', handler, routes });

    try {
      // Act
      const answers = await Promise.all(
        ['/api/logs', '/api/logs/'].map(async (path) => {
          const response = await fetch(`${served.url}${path}`);
          await response.body?.cancel();
          return [response.status, response.headers.get('allow')];
        }),
      );

      // Assess
      expect(answers).toEqual([
        [405, 'POST'],
        [405, 'POST'],
      ]);
    } finally {
      await served.close();
    }
  });
});
