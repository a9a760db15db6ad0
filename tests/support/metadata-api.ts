/**
 * Metadata API requests as API Gateway REST proxy events, cloned from tests/fixtures/apigw-rest-post-host.json
 * (shared by the unit and the integration tests of the metadata function).
 *
 * @example
 * const response = await handler(apiEvent({ method: 'GET', path: '/api/metadata/hosts', query: { limit: '2' } }), context);
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { restEvent } from './apigw.ts';

/** The admin key the fixture carries (`x-api-key`). */
export const FIXTURE_API_KEY = 'demo-admin-key';

/** The resource the CDK stack declares (`/api/metadata` + `addProxy`). */
const PROXY_RESOURCE = '/api/metadata/{proxy+}';
const PREFIX = '/api/metadata/';

export interface ApiRequest {
  method: string;
  /** Percent-encoded, as a client sends it (`/api/metadata/networks/10.20.0.0%2F16`). */
  path: string;
  query?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Set (or, with undefined, remove) headers. */
  headers?: Record<string, string | undefined>;
}

export function apiEvent({ method, path, query, body, headers }: ApiRequest): APIGatewayProxyEvent {
  const event = restEvent('apigw-rest-post-host', {
    httpMethod: method,
    path,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    ...(headers === undefined ? {} : { headers }),
  });
  // Behind a {proxy+} resource API Gateway keeps `path` percent-encoded and passes the decoded rest as `proxy`.
  event.resource = PROXY_RESOURCE;
  event.requestContext.resourcePath = PROXY_RESOURCE;
  event.pathParameters = path.startsWith(PREFIX) ? { proxy: decodeURIComponent(path.slice(PREFIX.length)) } : null;
  event.queryStringParameters = query ?? null;
  event.multiValueQueryStringParameters =
    query === undefined ? null : Object.fromEntries(Object.entries(query).map(([key, value]) => [key, [value]]));
  return event;
}

/** The parsed JSON body of a response. */
export function bodyOf(response: APIGatewayProxyResult): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

/** `error.problems` of a 4xx validation response, as `field: reason` lines (easy to match and to read). */
export function problemsOf(response: APIGatewayProxyResult): string[] {
  const { error } = bodyOf(response) as { error: { problems?: { field: string; reason: string }[] } };
  return (error.problems ?? []).map((problem) => `${problem.field}: ${problem.reason}`);
}

/** `error.message` of an error response. */
export function messageOf(response: APIGatewayProxyResult): string {
  return (bodyOf(response) as { error: { message: string } }).error.message;
}
