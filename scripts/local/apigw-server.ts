/**
 * A local stand-in for API Gateway (REST API, Lambda proxy integration): a Node `http` server on the
 * loopback address that turns each request into the `APIGatewayProxyEvent` a deployed function would get,
 * invokes the handler in-process with a Lambda `Context`, and writes its `APIGatewayProxyResult` back.
 * The same handler module runs here and in AWS; only this file differs.
 *
 * What it copies from API Gateway: `resource` and `pathParameters` from the function's routes (most
 * specific route first, `{proxy+}` last), the percent-encoded `path`, decoded query and path parameters,
 * single- and multi-value headers and query strings (single-value keeps the last), a base64 body for
 * binary media types, the 10 MB request limit (413), the 29 s integration timeout (504), and a 502 for
 * a malformed proxy result. What it does not: API keys and usage plans (the functions check `API_KEYS`
 * themselves when it is set), authorizers, stage variables, CORS.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { logger } from '#shared/observability.ts';

/** API Gateway's hard limit on a request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** API Gateway's default (and, for REST APIs, usual maximum) integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

/** A route as API Gateway declares it: `/api/hosts/{hostname}`, `/files/{proxy+}`; method `ANY` matches all. */
export interface RouteSpec {
  readonly method: string;
  readonly path: string;
}

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface ServeOptions {
  /** Function name, used in the Lambda context and in logs. */
  name: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Loopback only: the local runtime checks no credentials, so it must not be reachable from elsewhere. */
  host?: '127.0.0.1' | '::1';
  handler: ProxyHandler;
  /** The function's routes; without them every request gets `resource` = its path and no path parameters. */
  routes?: readonly RouteSpec[];
  stage?: string;
  maxBodyBytes?: number;
  timeoutMs?: number;
}

export interface ServedHandler {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and drops idle keep-alive ones. */
  close(): Promise<void>;
}

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
 * Serves a Lambda proxy handler over HTTP on the loopback address.
 *
 * @example
 * const served = await serveHandler({ name: 'ingest', port: 8080, handler, routes });
 * await fetch(`${served.url}/api/health`);
 * await served.close();
 */
export async function serveHandler(options: ServeOptions): Promise<ServedHandler> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') throw new Error(`refusing to listen on ${String(host)}: loopback only`);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_REQUEST_BYTES;

  const server = createServer((request, response) => {
    readBody(request, maxBodyBytes).then(
      (body) => {
        if (body === undefined) {
          send(response, 413, { message: `Request body is larger than ${maxBodyBytes} bytes`, limit: maxBodyBytes });
          return;
        }
        return handle(options, request, body, response);
      },
      (error: unknown) => {
        logger.warn('local API: could not read the request', { function: options.name, error });
        if (!response.headersSent) send(response, 400, { message: 'Bad Request' });
      },
    ).catch((error: unknown) => {
      // Last line of defence: whatever happens, the server keeps serving.
      logger.error('local API: request failed', { function: options.name, error });
      if (!response.headersSent) send(response, 500, { message: 'Internal server error' });
      else response.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      // The one failure a person can fix at once: say which function, which port, and what to do.
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`${options.name}: ${host}:${options.port} is already in use (another npm start?); stop it or choose another port`, { cause: error }));
      } else {
        reject(error);
      }
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host === '::1' ? '[::1]' : host}:${port}`;

  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

async function handle(options: ServeOptions, request: IncomingMessage, body: Buffer, response: ServerResponse) {
  const began = performance.now();
  const port = request.socket.localPort ?? 0;
  const event = toProxyEvent(
    {
      method: request.method ?? 'GET',
      url: request.url ?? '/',
      rawHeaders: request.rawHeaders,
      body,
      sourceIp: normaliseIp(request.socket.remoteAddress),
      port,
    },
    { routes: options.routes ?? [], stage: options.stage ?? 'local' },
  );
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const context = createLambdaContext(options.name, timeoutMs);
  const requestId = event.requestContext.requestId;

  const outcome = await invoke(options.handler, event, context, timeoutMs);
  let statusCode: number;
  if (outcome.kind === 'error') {
    // A bug in a handler is the handler's 500, never a crash of the local runtime.
    logger.error('local API: handler threw', { function: options.name, requestId, error: outcome.error });
    statusCode = send(response, 500, { message: 'Internal server error' }, requestId);
  } else if (outcome.kind === 'timeout') {
    logger.error('local API: handler timed out', { function: options.name, requestId, timeoutMs });
    statusCode = send(response, 504, { message: 'Endpoint request timed out' }, requestId);
  } else {
    const result = checkResult(outcome.result);
    if (typeof result === 'string') {
      logger.error('local API: malformed Lambda proxy response', { function: options.name, requestId, problem: result });
      statusCode = send(response, 502, { message: 'Internal server error' }, requestId);
    } else {
      statusCode = writeResult(response, result, requestId);
    }
  }
  logger.debug('local API: request', {
    function: options.name,
    method: event.httpMethod,
    path: event.path,
    statusCode,
    ms: Math.round(performance.now() - began),
  });
}

type Outcome = { kind: 'result'; result: unknown } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

async function invoke(handler: ProxyHandler, event: APIGatewayProxyEvent, context: Context, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
  });
  const run = (async (): Promise<Outcome> => {
    try {
      return { kind: 'result', result: await handler(event, context) };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the whole body; `undefined` when it exceeds `maxBytes` (the rest is drained, then 413 is sent). */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(request.headers['content-length'] ?? 0) > maxBytes;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge = true;
      // Keep reading what the client sends (so it can read the 413), but stop storing it.
      if (!tooLarge) chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });
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

  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    const existing = Object.keys(multiValueHeaders).find((key) => key.toLowerCase() === name.toLowerCase());
    pushTo(multiValueHeaders, existing ?? name, value);
  }
  // API Gateway tells the integration who called and how, appending to what a proxy in front already said.
  appendHeader(multiValueHeaders, 'X-Forwarded-For', request.sourceIp, true);
  appendHeader(multiValueHeaders, 'X-Forwarded-Port', String(request.port), false);
  appendHeader(multiValueHeaders, 'X-Forwarded-Proto', 'http', false);
  const headers = Object.fromEntries(
    Object.entries(multiValueHeaders).map(([name, values]) => [name, values.at(-1) as string]),
  );

  const params = new URLSearchParams(query);
  const multiValueQuery: Record<string, string[]> = {};
  for (const [key, value] of params) pushTo(multiValueQuery, key, value);
  const hasQuery = Object.keys(multiValueQuery).length > 0;

  const match = matchRoute(options.routes, method, path);
  const contentType = lookup(headers, 'content-type');
  const text = request.body.length === 0 || isTextual(contentType, request.body);
  const apiKey = lookup(headers, 'x-api-key');

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
      domainName: lookup(headers, 'host') ?? `127.0.0.1:${request.port}`,
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
        userAgent: lookup(headers, 'user-agent') ?? null,
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

/**
 * The route API Gateway would pick: literal segments beat `{param}`, which beats `{proxy+}`. A path that
 * matches only under another method still gets its route (the function answers 405, not API Gateway).
 */
export function matchRoute(
  routes: readonly RouteSpec[],
  method: string,
  path: string,
): { route: RouteSpec; params: Record<string, string> } | undefined {
  const candidates = routes
    .map((route) => ({ route, params: matchPath(route.path, path) }))
    .filter((entry): entry is { route: RouteSpec; params: Record<string, string> } => entry.params !== undefined)
    .sort((a, b) => specificity(b.route.path) - specificity(a.route.path));
  const forMethod = candidates.find(({ route }) => route.method === method || route.method === 'ANY');
  return forMethod ?? candidates[0];
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const wanted = trimSlash(template).split('/');
  const actual = trimSlash(path).split('/');
  const params: Record<string, string> = {};
  for (const [index, segment] of wanted.entries()) {
    const greedy = /^\{(\w+)\+\}$/.exec(segment);
    if (greedy !== null) {
      const rest = actual.slice(index);
      if (rest.length === 0 || rest.join('') === '') return undefined;
      params[greedy[1] as string] = decode(rest.join('/'));
      return params;
    }
    const value = actual[index];
    if (value === undefined) return undefined;
    const param = /^\{(\w+)\}$/.exec(segment);
    if (param !== null) {
      if (value === '') return undefined;
      params[param[1] as string] = decode(value);
    } else if (segment !== value) {
      return undefined;
    }
  }
  return wanted.length === actual.length ? params : undefined;
}

function specificity(template: string): number {
  // Literal segments count most, then parameters; a greedy segment adds nothing.
  return trimSlash(template)
    .split('/')
    .reduce((score, segment) => score + (/^\{\w+\+\}$/.test(segment) ? 0 : /^\{\w+\}$/.test(segment) ? 1 : 100), 0);
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a stray '%' is passed on as sent
  }
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

/** Checks a handler's answer the way API Gateway does; a string says what is wrong with it. */
function checkResult(result: unknown): APIGatewayProxyResult | string {
  if (result === null || typeof result !== 'object') return `expected an object, got ${typeof result}`;
  const candidate = result as Partial<APIGatewayProxyResult>;
  if (!Number.isInteger(candidate.statusCode) || (candidate.statusCode as number) < 100 || (candidate.statusCode as number) > 599) {
    return `statusCode must be an HTTP status, got ${String(candidate.statusCode)}`;
  }
  if (candidate.body !== undefined && typeof candidate.body !== 'string') return 'body must be a string';
  return candidate as APIGatewayProxyResult;
}

/** Writes a proxy result; returns its status code. */
export function writeResult(response: ServerResponse, result: APIGatewayProxyResult, requestId: string): number {
  const multi = result.multiValueHeaders ?? {};
  const multiNames = new Set(Object.keys(multi).map((name) => name.toLowerCase()));
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (!multiNames.has(name.toLowerCase())) response.setHeader(name, String(value));
  }
  for (const [name, values] of Object.entries(multi)) response.setHeader(name, values.map(String));
  response.setHeader('x-amzn-RequestId', requestId);
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  response.setHeader('content-length', body.length);
  response.statusCode = result.statusCode;
  response.end(body);
  return result.statusCode;
}

function send(response: ServerResponse, statusCode: number, body: object, requestId?: string): number {
  const text = JSON.stringify(body);
  response.statusCode = statusCode;
  response.setHeader('content-type', 'application/json');
  response.setHeader('content-length', Buffer.byteLength(text));
  if (requestId !== undefined) response.setHeader('x-amzn-RequestId', requestId);
  response.end(text);
  return statusCode;
}

/**
 * A Lambda context for an in-process invoke.
 *
 * @example
 * await handler(event, createLambdaContext('ingest'));
 */
export function createLambdaContext(functionName: string, timeoutMs = INTEGRATION_TIMEOUT_MS): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error('context.done/fail/succeed are not supported: return (or throw) from the handler');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

function pushTo(map: Record<string, string[]>, key: string, value: string): void {
  const list = map[key];
  if (list === undefined) map[key] = [value];
  else list.push(value);
}

function appendHeader(headers: Record<string, string[]>, name: string, value: string, append: boolean): void {
  const existing = Object.keys(headers).find((key) => key.toLowerCase() === name.toLowerCase());
  if (existing === undefined) {
    headers[name] = [value];
    return;
  }
  if (append) headers[existing] = [`${(headers[existing] ?? []).join(', ')}, ${value}`];
}

function lookup(headers: Record<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.entries(headers).find(([key]) => key.toLowerCase() === wanted)?.[1];
}

function normaliseIp(address: string | undefined): string {
  if (address === undefined) return '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's CLF-style `requestTime`: `09/Apr/2015:12:34:56 +0000`. */
function requestTime(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
