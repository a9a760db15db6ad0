import { jest } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { METRIC } from '#shared/metric-names.ts';
import { logger, metrics } from '#shared/observability.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { PowertoolsIngestMetrics } from '../../../functions/ingest/src/adapters/powertools-metrics.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { paymentLog, RecordingPublisher, sequentialIds } from './fakes.ts';

function setup(options: { apiKeys?: string[]; maxBodyBytes?: number; maxBatch?: number } = {}) {
  const publisher = new RecordingPublisher();
  // Powertools' logger and metrics, as the function's wiring passes them: the tests observe both.
  const acceptLogs = new AcceptLogs({
    publisher,
    topic: 'raw-logs',
    retryAfterSeconds: 5,
    newId: sequentialIds(),
    log: logger,
    metrics: new PowertoolsIngestMetrics(metrics),
  });
  const { handler } = createIngestHandler({
    acceptLogs,
    apiKeys: options.apiKeys,
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    maxBatch: options.maxBatch ?? 1000,
  });
  const call = (...args: Parameters<typeof restEvent>) => handler(restEvent(...args), lambdaContext('ingest'));
  return { publisher, call };
}

const body = (response: APIGatewayProxyResult) => JSON.parse(response.body);
const withoutApiKey = { 'x-api-key': undefined };

let addMetric: jest.SpiedFunction<typeof metrics.addMetric>;
let publishStoredMetrics: jest.SpiedFunction<typeof metrics.publishStoredMetrics>;
let logError: jest.SpiedFunction<typeof logger.error>;

beforeEach(() => {
  // Observe metrics and logs without printing EMF and JSON lines into the test output (the logger's level
  // cannot be lowered here: injectLambdaContext restores the configured level on every invocation).
  addMetric = jest.spyOn(metrics, 'addMetric').mockImplementation(() => metrics);
  publishStoredMetrics = jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  logError = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  jest.spyOn(logger, 'info').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('POST /api/logs', () => {
  it('accepts the README curl request with 202, its event id, and stores it on raw-logs', async () => {
    // Prepare
    const { publisher, call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs');

    // Assess
    expect(response.statusCode).toBe(202);
    expect(body(response)).toEqual({ accepted: 1, eventIds: ['00000000-0000-4000-8000-000000000001'], rejected: [] });
    expect(publisher.messages).toHaveLength(1);
  });

  it('accepts a JSON array', async () => {
    // Prepare
    const { publisher, call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { body: JSON.stringify([paymentLog(), paymentLog()]) });

    // Assess
    expect(response.statusCode).toBe(202);
    expect(body(response).accepted).toBe(2);
    expect(publisher.calls).toHaveLength(1);
  });

  it('accepts NDJSON, reporting a malformed line by index and storing the others', async () => {
    // Prepare
    const { publisher, call } = setup();
    const ndjson = `${JSON.stringify(paymentLog())}\n{oops\n\n${JSON.stringify(paymentLog())}\n`;

    // Act
    const response = await call('apigw-rest-post-logs', {
      body: ndjson,
      headers: { 'Content-Type': 'application/x-ndjson; charset=utf-8' },
    });

    // Assess
    expect(response.statusCode).toBe(202);
    expect(body(response)).toMatchObject({
      accepted: 2,
      rejected: [{ index: 1, field: '(record)', reason: 'is not valid JSON' }],
    });
    expect(publisher.messages).toHaveLength(2);
  });

  it('accepts a base64-encoded body as API Gateway sends binary media types', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', {
      body: Buffer.from(JSON.stringify(paymentLog())).toString('base64'),
      isBase64Encoded: true,
    });

    // Assess
    expect(response.statusCode).toBe(202);
  });

  it('answers 400 naming the body when a base64-encoded body is not UTF-8 (a Latin-1 client), and stores nothing', async () => {
    // Prepare
    const { call, publisher } = setup();
    const text = JSON.stringify(paymentLog({ message: 'caf#' }));
    const bytes = Buffer.from(text.replace('#', '\u00e9'), 'latin1');

    // Act
    const response = await call('apigw-rest-post-logs', { body: bytes.toString('base64'), isBase64Encoded: true });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(body(response)).toMatchObject({ error: { problems: [{ field: 'body', reason: `is not valid UTF-8 (byte 0xe9 at offset ${text.indexOf('#')})` }] } });
    expect(publisher.messages).toHaveLength(0);
  });

  it('accepts an application/json body that starts with a BOM', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { body: `\uFEFF${JSON.stringify(paymentLog())}` });

    // Assess
    expect(response.statusCode).toBe(202);
  });

  it('answers 202 with the rejected records listed when only part of a batch is valid', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', {
      body: JSON.stringify([paymentLog(), paymentLog({ source_ip: '999.1.1.1' })]),
    });

    // Assess
    expect(response.statusCode).toBe(202);
    expect(body(response)).toMatchObject({
      accepted: 1,
      rejected: [{ index: 1, field: 'source_ip', reason: 'must be an IPv4 or IPv6 address' }],
    });
  });

  it('answers 422 with every problem when no record is valid', async () => {
    // Prepare
    const { publisher, call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { body: JSON.stringify([{ level: 'INFO' }]) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(body(response).error.problems).toEqual(
      expect.arrayContaining([
        { index: 0, field: 'message', reason: 'is required' },
        { index: 0, field: 'service', reason: 'is required' },
        // Neither an address nor a hostname: the problem names both ways of saying where the log came from.
        { index: 0, field: 'source_ip', reason: expect.stringMatching(/^is required when there is no hostname: .*source_ip.*hostname/) },
      ]),
    );
    expect(publisher.calls).toHaveLength(0);
  });

  it('answers 415 for a content type other than JSON or NDJSON', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { headers: { 'Content-Type': 'text/plain' } });

    // Assess
    expect(response.statusCode).toBe(415);
    expect(body(response).error.message).toBe(
      'content-type must be application/json or application/x-ndjson, got text/plain',
    );
  });

  it('answers 400 for malformed JSON', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { body: '{"level":"ERROR",' });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(body(response).error.problems[0]).toMatchObject({ field: 'body', reason: expect.stringMatching(/^is not valid JSON/) });
  });

  it('answers 400 for an empty body and 422 for an empty array', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const empty = await call('apigw-rest-post-logs', { body: null });
    const emptyArray = await call('apigw-rest-post-logs', { body: '[]' });

    // Assess
    expect([empty.statusCode, body(empty).error.message]).toEqual([400, 'body: is empty; a JSON document is required']);
    expect([emptyArray.statusCode, body(emptyArray).error.message]).toEqual([
      422,
      'body: is an empty array; send at least one log',
    ]);
  });

  it('answers 413 with the limit when the body is larger than the configured size', async () => {
    // Prepare
    const { publisher, call } = setup({ maxBodyBytes: 100 });

    // Act
    const response = await call('apigw-rest-post-logs', { body: JSON.stringify(paymentLog({ message: 'x'.repeat(200) })) });

    // Assess
    expect(response.statusCode).toBe(413);
    expect(body(response).error.limit).toBe(100);
    expect(publisher.calls).toHaveLength(0);
  });

  it('answers 413 with the limit when a batch has more records than allowed', async () => {
    // Prepare
    const { call } = setup({ maxBatch: 2 });

    // Act
    const response = await call('apigw-rest-post-logs', { body: JSON.stringify([paymentLog(), paymentLog(), paymentLog()]) });

    // Assess
    expect(response.statusCode).toBe(413);
    expect(body(response).error).toEqual({ message: 'batch has 3 records; the limit is 2 records', limit: 2 });
  });

  it('answers 401 without x-api-key and 403 with a wrong one when API keys are configured', async () => {
    // Prepare
    const { publisher, call } = setup({ apiKeys: ['demo-ingest-key'] });

    // Act
    const missing = await call('apigw-rest-post-logs', { headers: withoutApiKey });
    const wrong = await call('apigw-rest-post-logs', { headers: { 'X-Api-Key': 'guess' } });
    const right = await call('apigw-rest-post-logs');

    // Assess
    expect([missing.statusCode, wrong.statusCode, right.statusCode]).toEqual([401, 403, 202]);
    expect(publisher.calls).toHaveLength(1);
  });

  it('does not check keys when none are configured', async () => {
    // Prepare
    const { call } = setup({ apiKeys: undefined });

    // Act
    const response = await call('apigw-rest-post-logs', { headers: withoutApiKey });

    // Assess
    expect(response.statusCode).toBe(202);
  });

  it('answers 503 with Retry-After, never 2xx, when the logs cannot be stored', async () => {
    // Prepare
    const { publisher, call } = setup();
    publisher.failing = true;

    // Act
    const response = await call('apigw-rest-post-logs');

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
    expect(body(response)).toEqual({ error: { message: 'Service Unavailable: retry later' } });
    expect(addMetric).toHaveBeenCalledWith(METRIC.ingestPublishFailures, 'Count', 1);
    expect(logError).toHaveBeenCalledWith('could not store logs on Kafka', expect.objectContaining({ records: 1 }));
  });

  it('counts accepted and rejected logs and flushes the metrics once per request', async () => {
    // Prepare
    const { call } = setup();

    // Act
    await call('apigw-rest-post-logs', { body: JSON.stringify([paymentLog(), paymentLog(), { level: 'INFO' }]) });

    // Assess
    expect(addMetric).toHaveBeenCalledWith(METRIC.logsAccepted, 'Count', 2);
    expect(addMetric).toHaveBeenCalledWith(METRIC.logsRejected, 'Count', 1);
    expect(publishStoredMetrics).toHaveBeenCalledTimes(1);
  });

  it('flushes the metrics when the request fails too', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call('apigw-rest-post-logs', { body: JSON.stringify([{}]) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(addMetric).toHaveBeenCalledWith(METRIC.logsRejected, 'Count', 1);
    expect(publishStoredMetrics).toHaveBeenCalledTimes(1);
  });
});

describe('routing', () => {
  it('answers GET /api/health with 200 and emits no metrics', async () => {
    // Prepare
    const { publisher, call } = setup({ apiKeys: ['demo-ingest-key'] });

    // Act
    const response = await call('apigw-rest-get-health', { headers: withoutApiKey });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(body(response)).toEqual({ status: 'ok' });
    expect(publisher.calls).toHaveLength(0);
    expect(publishStoredMetrics).not.toHaveBeenCalled();
  });

  it('answers 405 for another method on /api/logs and 404 for an unknown path', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const wrongMethod = await call('apigw-rest-post-logs', { httpMethod: 'GET' });
    const unknown = await call('apigw-rest-post-logs', { path: '/api/nothing' });

    // Assess
    expect([wrongMethod.statusCode, unknown.statusCode]).toEqual([405, 404]);
    expect(wrongMethod.headers?.allow).toBe('POST');
  });

  it('takes one trailing slash as the router does: POST /api/logs/ is served, GET /api/logs/ is 405 with allow', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const posted = await call('apigw-rest-post-logs', { path: '/api/logs/' });
    const wrongMethod = await call('apigw-rest-post-logs', { httpMethod: 'GET', path: '/api/logs/' });

    // Assess
    expect(posted.statusCode).toBe(202);
    expect([wrongMethod.statusCode, wrongMethod.headers?.allow]).toEqual([405, 'POST']);
  });
});
