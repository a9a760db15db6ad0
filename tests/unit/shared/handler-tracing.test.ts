/**
 * Powertools Tracer on the three handlers. With tracing on (faked: the tracer's segment calls are spied, no
 * X-Ray SDK or daemon involved) each invocation gets a handler subsegment, closed at the end, its response never
 * recorded; the HTTP handlers mark it from the answered status (4xx error, 5xx fault) and ingest uses its id as
 * the parent of the records' traceparent. With tracing off, as in every test and `npm start` (no
 * AWS_EXECUTION_ENV), the tracer is never asked for a segment and prints nothing.
 */
import { jest } from '@jest/globals';
import type { Segment, Subsegment } from 'aws-xray-sdk-core';
import { logger, metrics } from '#shared/observability.ts';
import { tracer } from '#shared/tracing/tracer.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { createEnrichHandler } from '../../../functions/enrich/src/enrich-handler.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { apiEvent } from '../../support/metadata-api.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { BATCH_TOPICS, buildLookup, FakePublisher, FakeRemoteCache, FakeSource, RecordingMetrics, kafkaEvent, kafkaRecord, rawLog } from '../enrich/fakes.ts';
import { paymentLog, RecordingPublisher, uncountedIngest } from '../ingest/fakes.ts';
import { MemoryRepository, RecordingInvalidator, unobserved } from '../metadata/fakes.ts';
import { silentLog } from '#shared/log-port.ts';

const HANDLER_SPAN = 'a1b2c3d4e5f60718';

/** What the faked X-Ray context recorded: the subsegments opened under the facade, and their flags. */
interface FakeSubsegment {
  name: string;
  id: string;
  flags: string[];
  closed: boolean;
}

function fakeTracing() {
  const opened: FakeSubsegment[] = [];
  const facade = {
    id: '53995c3f42cd8ad8',
    addNewSubsegment(name: string) {
      const sub: FakeSubsegment & Record<string, unknown> = {
        name,
        id: HANDLER_SPAN,
        flags: [],
        closed: false,
        addErrorFlag: () => sub.flags.push('error'),
        addFaultFlag: () => sub.flags.push('fault'),
        close: () => {
          sub.closed = true;
        },
      };
      opened.push(sub);
      return sub;
    },
  };
  let current: unknown = facade;
  jest.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
  jest.spyOn(tracer, 'getSegment').mockImplementation(() => current as Segment);
  jest.spyOn(tracer, 'setSegment').mockImplementation((segment: Segment | Subsegment) => {
    current = segment;
  });
  jest.spyOn(tracer, 'annotateColdStart').mockImplementation(() => undefined);
  jest.spyOn(tracer, 'addServiceNameAnnotation').mockImplementation(() => undefined);
  const responses = jest.spyOn(tracer, 'addResponseAsMetadata').mockImplementation(() => undefined);
  const errors = jest.spyOn(tracer, 'addErrorAsMetadata').mockImplementation(() => undefined);
  return { opened, responses, errors, current: () => current };
}

function ingest(publisher = new RecordingPublisher()) {
  const acceptLogs = new AcceptLogs({ publisher, topic: 'raw-logs', retryAfterSeconds: 5, log: logger, metrics: uncountedIngest });
  const { handler } = createIngestHandler({ acceptLogs, apiKeys: undefined, maxBodyBytes: 1024 * 1024, maxBatch: 1000 });
  const post = (logs: unknown[]) => handler(restEvent('apigw-rest-post-logs', { body: JSON.stringify(logs) }), lambdaContext('ingest'));
  return { publisher, post };
}

function metadata() {
  const { handler } = createMetadataApi({ catalog: new MetadataCatalog(new MemoryRepository(), new RecordingInvalidator(), unobserved), apiKeys: {} });
  return (method: string, path: string) => handler(apiEvent({ method, path }), lambdaContext('metadata'));
}

function enrich() {
  const { lookup } = buildLookup(new FakeRemoteCache(), new FakeSource());
  const enrichBatch = new EnrichBatch({ lookup, publisher: new FakePublisher(), metrics: new RecordingMetrics(), topics: BATCH_TOPICS, reportBatchItemFailures: false, log: silentLog });
  return createEnrichHandler({ enrichBatch }).handler;
}

beforeEach(() => {
  process.env._HANDLER = 'index.handler';
  for (const level of ['info', 'warn', 'error'] as const) jest.spyOn(logger, level).mockImplementation(() => undefined);
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
});
afterEach(() => {
  delete process.env._HANDLER;
  delete process.env._X_AMZN_TRACE_ID;
  jest.restoreAllMocks();
});

describe('handlers with tracing on', () => {
  it('ingest: one closed handler subsegment, unflagged on 202, whose id is the parent in the records’ traceparent', async () => {
    const tracing = fakeTracing();
    process.env._X_AMZN_TRACE_ID = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    const { post, publisher } = ingest();
    const response = await post([paymentLog()]);
    expect(response.statusCode).toBe(202);
    expect(tracing.opened).toEqual([expect.objectContaining({ name: '## index.handler', id: HANDLER_SPAN, flags: [], closed: true })]);
    expect(publisher.messages[0]?.headers?.traceparent).toBe(`00-5759e988bd862e3fe1be46a994272793-${HANDLER_SPAN}-01`);
    expect(tracing.responses).not.toHaveBeenCalled();
    // The facade is current again once the invocation is over.
    expect((tracing.current() as { id: string }).id).toBe('53995c3f42cd8ad8');
  });

  it('ingest: a client error flags the subsegment error, an unavailable broker flags it fault', async () => {
    const tracing = fakeTracing();
    expect((await ingest().post([{ level: 'NOISY' }])).statusCode).toBe(422);
    const failing = new RecordingPublisher();
    failing.failing = true;
    expect((await ingest(failing).post([paymentLog()])).statusCode).toBe(503);
    expect(tracing.opened.map((sub) => [sub.flags, sub.closed])).toEqual([
      [['error'], true],
      [['fault'], true],
    ]);
    // The errors became responses inside: none reached the tracer as an exception.
    expect(tracing.errors).not.toHaveBeenCalled();
  });

  it('metadata: subsegment per request, 404 flagged error, responses not recorded', async () => {
    const tracing = fakeTracing();
    const call = metadata();
    expect((await call('GET', '/api/metadata/hosts')).statusCode).toBe(200);
    expect((await call('GET', '/api/metadata/hosts/nobody')).statusCode).toBe(404);
    expect(tracing.opened.map((sub) => [sub.flags, sub.closed])).toEqual([
      [[], true],
      [['error'], true],
    ]);
    expect(tracing.responses).not.toHaveBeenCalled();
  });

  it('enrich: subsegment per batch, result not recorded; an invocation that fails records its error', async () => {
    const tracing = fakeTracing();
    const handler = enrich();
    await handler(kafkaEvent([kafkaRecord(rawLog())]), lambdaContext('enrich'));
    await expect(handler({ eventSource: 'aws:sqs', records: {} }, lambdaContext('enrich'))).rejects.toThrow();
    expect(tracing.opened.map((sub) => sub.closed)).toEqual([true, true]);
    expect(tracing.responses).not.toHaveBeenCalled();
    expect(tracing.errors).toHaveBeenCalledTimes(1);
  });
});

describe('handlers with tracing off (tests, npm start)', () => {
  it('never ask for a segment and print nothing', async () => {
    expect(tracer.isTracingEnabled()).toBe(false);
    const getSegment = jest.spyOn(tracer, 'getSegment');
    const warn = jest.spyOn(console, 'warn');
    const error = jest.spyOn(console, 'error');
    expect((await ingest().post([paymentLog()])).statusCode).toBe(202);
    expect((await metadata()('GET', '/api/metadata/hosts')).statusCode).toBe(200);
    await enrich()(kafkaEvent([kafkaRecord(rawLog())]), lambdaContext('enrich'));
    expect(getSegment).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
  });
});
