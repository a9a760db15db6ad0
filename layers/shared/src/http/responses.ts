import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { AppError, PayloadTooLargeError, ServiceUnavailableError, ValidationError } from '../errors.ts';
import { logger } from '../observability.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * @example
 * return json(201, { hostname: 'web-1' });
 */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The one place errors become HTTP responses: client mistakes say what is wrong, the rest say nothing. */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof ValidationError) {
    return json(error.statusCode, { error: { message: error.message, problems: error.problems } });
  }
  if (error instanceof PayloadTooLargeError) {
    return json(413, { error: { message: error.message, limit: error.limit } });
  }
  if (error instanceof ServiceUnavailableError) {
    logger.warn('dependency unavailable', { error });
    return json(
      503,
      { error: { message: 'Service Unavailable: retry later' } },
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  if (error instanceof AppError && error.statusCode < 500) {
    return json(error.statusCode, { error: { message: error.message } });
  }
  logger.error('unhandled error', { error });
  return json(500, { error: { message: 'Internal Server Error' } });
}

/** middy middleware that maps any thrown error through `errorResponse`. */
export function httpErrors(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: async (request) => {
      request.response = errorResponse(request.error);
    },
  };
}
