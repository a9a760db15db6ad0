/**
 * The ingest HTTP adapter: routes, middleware and the two route functions, built from injected
 * dependencies so unit tests can pass fakes and integration tests a publisher aimed at a dead broker.
 * `handler.ts` builds the deployed instance from `dependencies.ts`.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import httpRouterHandler, { type Route } from '@middy/http-router';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { bodyBytes, header, mediaType, requireApiKey } from '#shared/http/request.ts';
import { errorResponse, json } from '#shared/http/responses.ts';
import { unmatchedRoute } from '#shared/http/unmatched-route.ts';
import { logger, metrics } from '#shared/observability.ts';
import { statusOnSegment } from '#shared/tracing/http-status.ts';
import { currentSegmentId, invocationXRayHeader, tracer } from '#shared/tracing/tracer.ts';
import { continueTrace, newSpanId, TRACEPARENT, TRACESTATE } from '#shared/tracing/traceparent.ts';
import type { AcceptLogs } from './accept-logs.ts';
import { bodyFormat, parseLogBody } from './parse-body.ts';

/** What this function serves; the local runtime matches requests against it as API Gateway would. */
export const ROUTES = [
  { method: 'POST', path: '/api/logs' },
  { method: 'GET', path: '/api/health' },
] as const;

export interface IngestHttpDependencies {
  acceptLogs: Pick<AcceptLogs, 'execute'>;
  /** Accepted `x-api-key` values; undefined turns the check off (in AWS, API Gateway checks keys). */
  apiKeys: readonly string[] | undefined;
  maxBodyBytes: number;
  maxBatch: number;
  /**
   * The invocation's X-Ray trace header and the span id this function passes on as the records' parent.
   * Defaults to Lambda's (`_X_AMZN_TRACE_ID`, the handler's X-Ray subsegment, else a random span id).
   */
  invocationTrace?: () => { xray: string | undefined; spanId: string };
}

const lambdaTrace = () => ({ xray: invocationXRayHeader(), spanId: currentSegmentId() ?? newSpanId() });

type HttpFunction = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/**
 * @example
 * const { handler } = createIngestHandler({ acceptLogs, apiKeys: undefined, maxBodyBytes: 1_048_576, maxBatch: 1000 });
 * const response = await handler(event, context);
 */
export function createIngestHandler(deps: IngestHttpDependencies) {
  /** POST /api/logs: one log, a JSON array or NDJSON; 202 once Kafka acknowledged the valid ones. */
  const postLogs: HttpFunction = async (event) => {
    requireApiKey(event, deps.apiKeys);
    const format = bodyFormat(mediaType(event));
    const candidates = parseLogBody(format, bodyBytes(event, deps.maxBodyBytes), deps.maxBatch);
    // One request is one span: all its records carry the same traceparent (the client's trace continued).
    const { xray, spanId } = (deps.invocationTrace ?? lambdaTrace)();
    const trace = continueTrace({ traceparent: header(event, TRACEPARENT), tracestate: header(event, TRACESTATE), xray }, spanId);
    return json(202, await deps.acceptLogs.execute(candidates, trace));
  };

  /** GET /api/health: the function answers; deliberately no Kafka call (a load balancer may poll it often). */
  const health: HttpFunction = async () => json(200, { status: 'ok' });

  /**
   * The metrics of POST /api/logs are flushed when it ends, answered or failed (what Powertools' `logMetrics`
   * middleware would do around it, without a middy stack of its own per request); health emits none and would
   * log "no metrics" per call.
   */
  const postLogsFlushingMetrics: HttpFunction = async (event) => {
    try {
      return await postLogs(event);
    } finally {
      metrics.publishStoredMetrics();
    }
  };

  const routes: Route<APIGatewayProxyEvent, APIGatewayProxyResult>[] = [
    { method: 'POST', path: '/api/logs', handler: postLogsFlushingMetrics },
    { method: 'GET', path: '/api/health', handler: health },
  ];
  // 405 with `allow` for a known path under another method, 404 otherwise; one trailing slash as the router takes it.
  const router = httpRouterHandler<APIGatewayProxyEvent, APIGatewayProxyResult>({ routes, notFoundResponse: unmatchedRoute(routes) });

  // Errors become responses inside the handler (never thrown past it), so the one middy stack around it sees
  // only answers: the tracer records no exception for a client's 422, and statusOnSegment (an `after`, which
  // middy skips when the handler throws) marks the handler's X-Ray subsegment from the status. One stack, not
  // a middy nested in a middy: each layer is a promise chain and a request object per request.
  const answering = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    try {
      return await router(event, context);
    } catch (error) {
      return errorResponse(error);
    }
  };
  const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(answering)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(statusOnSegment());

  return { postLogs, health, handler };
}
