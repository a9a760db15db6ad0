/**
 * The HTTP handlers turn every error into a response (`httpErrors()`), inside Powertools' `captureLambdaHandler`,
 * so the tracer never sees an exception: a 422 for a client's bad log is not a fault of the function. This
 * middleware, registered after `captureLambdaHandler`, marks the handler's subsegment from the answered status
 * instead, as X-Ray reads the flags: 4xx `error`, 5xx `fault`.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { tracer } from './tracer.ts';

/**
 * @example
 * middy(middy(router).use(httpErrors())).use(captureLambdaHandler(tracer, { captureResponse: false })).use(statusOnSegment());
 */
export function statusOnSegment(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    after: (request) => {
      const status = request.response?.statusCode;
      if (status === undefined || status < 400 || !tracer.isTracingEnabled()) return;
      const segment = tracer.getSegment();
      if (segment === undefined) return;
      if (status >= 500) segment.addFaultFlag();
      else segment.addErrorFlag();
    },
  };
}
