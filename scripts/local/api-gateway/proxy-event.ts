/**
 * The REST API (v1) proxy event API Gateway builds for a request: `resource` and `pathParameters` from the
 * function's routes, the percent-encoded `path`, decoded query and path parameters, single- and multi-value
 * headers and query strings (single-value keeps the last), `X-Forwarded-*` as API Gateway adds them, and a
 * base64 body for binary media types. No I/O.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { matchRoute, type RouteSpec } from './routes.ts';

/** The parts of an HTTP request the event is built from (kept apart from `IncomingMessage` for unit tests). */
export interface LocalRequest {
  method: string;
  /** Request target as sent: percent-encoded path plus optional query string. */
  url: string;
  /** Header names and values alternating, as Node's `rawHeaders` (original case, duplicates kept). */
  rawHeaders: readonly string[];
  body: Buffer;
  sourceIp: string;
  /** The local port, for `X-Forwarded-Port`. */
  port: number;
}

/**
 * Builds the REST API proxy event for a request.
 *
 * @example
 * const event = toProxyEvent({ method: 'GET', url: '/api/hosts/web-1?x=1', rawHeaders: [], body: Buffer.alloc(0),
 *   sourceIp: '127.0.0.1', port: 8082 }, { routes: [{ method: 'GET', path: '/api/hosts/{hostname}' }], stage: 'local' });
 * event.pathParameters; // { hostname: 'web-1' }
 */
export function toProxyEvent(
  request: LocalRequest,
  options: { routes: readonly RouteSpec[]; stage: string; now?: Date; requestId?: string },
): APIGatewayProxyEvent {
  const method = request.method.toUpperCase();
  const queryAt = request.url.indexOf('?');
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : request.url.slice(queryAt + 1);
  const now = options.now ?? new Date();
  const requestId = options.requestId ?? randomUUID();

  // Header names keep the case of their first occurrence; `names` maps lower case to it (one pass, no rescans).
  const multiValueHeaders: Record<string, string[]> = {};
  const names = new Map<string, string>();
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    const existing = names.get(lower);
    if (existing === undefined) {
      names.set(lower, name);
      multiValueHeaders[name] = [value];
    } else {
      (multiValueHeaders[existing] as string[]).push(value);
    }
  }
  // API Gateway tells the integration who called and how, appending to what a proxy in front already said.
  appendHeader(multiValueHeaders, names, 'X-Forwarded-For', request.sourceIp, true);
  appendHeader(multiValueHeaders, names, 'X-Forwarded-Port', String(request.port), false);
  appendHeader(multiValueHeaders, names, 'X-Forwarded-Proto', 'http', false);
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(multiValueHeaders)) headers[name] = values.at(-1) as string;
  const lookup = (lower: string): string | undefined => {
    const name = names.get(lower);
    return name === undefined ? undefined : headers[name];
  };

  const multiValueQuery: Record<string, string[]> = {};
  if (query !== '') for (const [key, value] of new URLSearchParams(query)) pushTo(multiValueQuery, key, value);
  const hasQuery = Object.keys(multiValueQuery).length > 0;

  const match = matchRoute(options.routes, method, path);
  const contentType = lookup('content-type');
  const text = request.body.length === 0 || isTextual(contentType, request.body);
  const apiKey = lookup('x-api-key');

  return {
    resource: match?.route.path ?? path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery
      ? Object.fromEntries(Object.entries(multiValueQuery).map(([key, values]) => [key, values.at(-1)]))
      : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: match === undefined || Object.keys(match.params).length === 0 ? null : match.params,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: undefined,
      domainName: lookup('host') ?? `127.0.0.1:${request.port}`,
      domainPrefix: 'local',
      extendedRequestId: requestId,
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: apiKey ?? null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: null,
        userAgent: lookup('user-agent') ?? null,
        userArn: null,
      },
      path: `/${options.stage}${path}`,
      protocol: 'HTTP/1.1',
      requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: match?.route.path ?? path,
      stage: options.stage,
    },
    body: request.body.length === 0 ? null : request.body.toString(text ? 'utf8' : 'base64'),
    isBase64Encoded: !text,
  };
}

const TEXT_TYPES = new Set([
  'application/json',
  'application/x-ndjson',
  'application/xml',
  'application/x-www-form-urlencoded',
  'application/javascript',
  'application/graphql',
]);

/** Text bodies pass as strings; anything else is base64 (API Gateway with binary media types `*\/*`). */
function isTextual(contentType: string | undefined, body: Buffer): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined || type === '') {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(body);
      return true;
    } catch {
      return false;
    }
  }
  return type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

function pushTo(map: Record<string, string[]>, key: string, value: string): void {
  const list = map[key];
  if (list === undefined) map[key] = [value];
  else list.push(value);
}

function appendHeader(headers: Record<string, string[]>, names: Map<string, string>, name: string, value: string, append: boolean): void {
  const existing = names.get(name.toLowerCase());
  if (existing === undefined) {
    names.set(name.toLowerCase(), name);
    headers[name] = [value];
    return;
  }
  if (append) headers[existing] = [`${(headers[existing] ?? []).join(', ')}, ${value}`];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's CLF-style `requestTime`: `09/Apr/2015:12:34:56 +0000` (the last one kept: requests come many a second). */
let lastTime: { second: number; text: string } | undefined;
function requestTime(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (lastTime?.second === second) return lastTime.text;
  const pad = (value: number) => String(value).padStart(2, '0');
  const text = `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
  lastTime = { second, text };
  return text;
}
