/**
 * POST /api/logs with logs that probe the input contract's edges (nesting depth, control characters in lookup
 * keys, `attributes.__proto__`, ECS address lists): a 4xx naming the field, never a 500, and what is stored
 * is what enrich accepts.
 */
import { jest } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { silentLog } from '#shared/log-port.ts';
import { logger, metrics } from '#shared/observability.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { paymentLog, RecordingPublisher, sequentialIds, uncountedIngest } from './fakes.ts';

function setup() {
  const publisher = new RecordingPublisher();
  const acceptLogs = new AcceptLogs({
    publisher,
    topic: 'raw-logs',
    retryAfterSeconds: 5,
    newId: sequentialIds(),
    log: silentLog,
    metrics: uncountedIngest,
  });
  const { handler } = createIngestHandler({ acceptLogs, apiKeys: undefined, maxBodyBytes: 1024 * 1024, maxBatch: 1000 });
  const call = (body: string, contentType = 'application/json') =>
    handler(restEvent('apigw-rest-post-logs', { body, headers: { 'Content-Type': contentType, 'x-api-key': undefined } }), lambdaContext('ingest'));
  const stored = () => publisher.messages.map((message) => ({ key: message.key, value: JSON.parse(String(message.value)) }));
  return { call, stored };
}

const body = (response: APIGatewayProxyResult) => JSON.parse(response.body);
/** A log whose extra field `a` is `levels` arrays deep, as JSON text (JSON.stringify itself cannot write it). */
const deepLog = (levels: number) => `${JSON.stringify(paymentLog()).slice(0, -1)},"a":${'['.repeat(levels)}${']'.repeat(levels)}}`;
const NESTING = { field: 'a', reason: 'is nested deeper than 32 levels' };

beforeEach(() => {
  jest.spyOn(metrics, 'addMetric').mockImplementation(() => metrics);
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  jest.spyOn(logger, 'info').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('POST /api/logs with hostile logs', () => {
  it('answers 422 naming the field for one log nested 6,000 levels deep', async () => {
    // Prepare
    const { call, stored } = setup();
    // Act
    const response = await call(deepLog(6000));
    // Assess
    expect(response.statusCode).toBe(422);
    expect(body(response).error.problems).toEqual([{ index: 0, ...NESTING }]);
    expect(stored()).toHaveLength(0);
  });

  it('stores the good log of a JSON array and reports the deep one, instead of answering 500', async () => {
    // Prepare
    const { call, stored } = setup();
    // Act
    const response = await call(`[${JSON.stringify(paymentLog())},${deepLog(6000)}]`);
    // Assess
    expect(response.statusCode).toBe(202);
    expect(body(response)).toMatchObject({ accepted: 1, rejected: [{ index: 1, ...NESTING }] });
    expect(stored()).toHaveLength(1);
  });

  it('does the same for an NDJSON line', async () => {
    const { call } = setup();
    const response = await call(`${JSON.stringify(paymentLog())}\n${deepLog(6000)}\n`, 'application/x-ndjson');
    expect(response.statusCode).toBe(202);
    expect(body(response)).toMatchObject({ accepted: 1, rejected: [{ index: 1, ...NESTING }] });
  });

  it('refuses a hostname with NUL, which would fail the whole batch’s hosts query in PostgreSQL', async () => {
    const { call, stored } = setup();
    const response = await call(JSON.stringify(paymentLog({ source_ip: undefined, hostname: 'a\u0000b' })));
    expect(response.statusCode).toBe(422);
    expect(body(response).error.problems).toEqual([{ index: 0, field: 'hostname', reason: 'must not contain control characters (U+0000-U+001F, U+007F)' }]);
    expect(stored()).toHaveLength(0);
  });

  it('names attributes.__proto__ in dropped_attributes of the stored record', async () => {
    const { call, stored } = setup();
    const response = await call('{"level":"INFO","message":"m","service":"s","hostname":"h","attributes":{"__proto__":{"x":1},"a":1}}');
    expect(response.statusCode).toBe(202);
    expect(stored()[0]?.value).toMatchObject({ attributes: { a: 1 }, dropped_attributes: ['__proto__'] });
  });

  it('keys the record by the preferred address of an ECS host.ip list and keeps the list', async () => {
    const { call, stored } = setup();
    const response = await call(JSON.stringify({ level: 'INFO', message: 'm', service: 's', host: { ip: ['fe80::1', '10.0.0.5'] } }));
    expect(response.statusCode).toBe(202);
    expect(stored()[0]).toMatchObject({ key: '10.0.0.5', value: { source_ip: '10.0.0.5', attributes: { host: { ip: ['fe80::1', '10.0.0.5'] } } } });
  });
});
