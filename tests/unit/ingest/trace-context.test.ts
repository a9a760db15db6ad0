/**
 * Ingest puts the request's W3C trace context on every record it stores: a client's valid `traceparent`
 * continued (same trace, this function's span as parent), else the invocation's X-Ray trace, else a new one.
 */
import { jest } from '@jest/globals';
import { logger } from '#shared/observability.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { paymentLog, RecordingPublisher, sequentialIds, uncountedIngest } from './fakes.ts';

const CLIENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const OUR_SPAN = 'b7ad6b7169203331';
const LAMBDA_XRAY = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';

function setup(invocationTrace?: () => { xray: string | undefined; spanId: string }) {
  const publisher = new RecordingPublisher();
  const acceptLogs = new AcceptLogs({ publisher, topic: 'raw-logs', retryAfterSeconds: 5, newId: sequentialIds(), log: logger, metrics: uncountedIngest });
  const { handler } = createIngestHandler({ acceptLogs, apiKeys: undefined, maxBodyBytes: 1024 * 1024, maxBatch: 1000, invocationTrace });
  const post = async (headers: Record<string, string | undefined>, logs: unknown[] = [paymentLog(), paymentLog({ source_ip: '10.1.2.3' })]) => {
    const response = await handler(restEvent('apigw-rest-post-logs', { body: JSON.stringify(logs), headers }), lambdaContext('ingest'));
    expect(response.statusCode).toBe(202);
    return publisher.messages.map((message) => message.headers);
  };
  return { post };
}

const inLambda = () => ({ xray: LAMBDA_XRAY, spanId: OUR_SPAN });

beforeEach(() => {
  jest.spyOn(logger, 'info').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('ingest: trace context on raw-logs records', () => {
  it("continues the client's traceparent on every record: its trace id and flags, this function's span as parent", async () => {
    const { post } = setup(inLambda);
    const headers = await post({ traceparent: CLIENT });
    expect(headers).toEqual([
      { 'content-type': 'application/json', traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${OUR_SPAN}-01` },
      { 'content-type': 'application/json', traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${OUR_SPAN}-01` },
    ]);
  });

  it('finds the header in any case, and carries the tracestate that came with it', async () => {
    const { post } = setup(inLambda);
    const [first] = await post({ TraceParent: CLIENT, TraceState: 'congo=t61rcWkgMzE' }, [paymentLog()]);
    expect(first).toEqual({
      'content-type': 'application/json',
      traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${OUR_SPAN}-01`,
      tracestate: 'congo=t61rcWkgMzE',
    });
  });

  it("takes the invocation's X-Ray trace when the client sent no traceparent", async () => {
    const { post } = setup(inLambda);
    const [first] = await post({}, [paymentLog()]);
    expect(first?.traceparent).toBe(`00-5759e988bd862e3fe1be46a994272793-${OUR_SPAN}-01`);
  });

  it('ignores a malformed traceparent (and its tracestate): the logs are accepted on the X-Ray trace', async () => {
    const { post } = setup(inLambda);
    const [first] = await post({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'congo=x' }, [paymentLog()]);
    expect(first).toEqual({ 'content-type': 'application/json', traceparent: `00-5759e988bd862e3fe1be46a994272793-${OUR_SPAN}-01` });
  });

  it("reads Lambda's _X_AMZN_TRACE_ID by default, with a fresh span id while tracing is off", async () => {
    process.env._X_AMZN_TRACE_ID = LAMBDA_XRAY;
    try {
      const { post } = setup();
      const [first] = await post({}, [paymentLog()]);
      expect(first?.traceparent).toMatch(/^00-5759e988bd862e3fe1be46a994272793-(?!53995c3f42cd8ad8)[\da-f]{16}-01$/);
    } finally {
      delete process.env._X_AMZN_TRACE_ID;
    }
  });

  it('starts a new trace per request outside Lambda (no header, no X-Ray): still a traceparent on every record', async () => {
    const { post } = setup();
    const headers = await post({});
    const values = headers.map((header) => header?.traceparent);
    expect(values[0]).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-00$/);
    expect(values[1]).toBe(values[0]);
    const [next] = await setup().post({}, [paymentLog()]);
    expect(next?.traceparent?.slice(3, 35)).not.toBe(values[0]?.slice(3, 35));
  });
});
