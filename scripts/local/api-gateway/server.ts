/**
 * A local stand-in for API Gateway (REST API, Lambda proxy integration): a Node `http` server on the
 * loopback address that turns each request into the `APIGatewayProxyEvent` a deployed function would get
 * (`proxy-event.ts`), invokes the handler in-process with a Lambda `Context` (`context.ts`), and writes its
 * `APIGatewayProxyResult` back. The same handler module runs here and in AWS; only this folder differs.
 *
 * What it copies from API Gateway besides the event: the 10 MB request limit (413; nothing past it is kept,
 * at most 1 MiB more is read and dropped, and to `Expect: 100-continue` with a larger Content-Length the 413
 * comes instead of the 100 Continue), the 29 s integration timeout (504), and a 502 for a malformed proxy
 * result. What it does not: API keys and usage plans (the functions check `API_KEYS` themselves when it is
 * set), authorizers, stage variables, CORS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { logger } from '#shared/observability.ts';
import { createLambdaContext } from './context.ts';
import { INTEGRATION_TIMEOUT_MS, MAX_REQUEST_BYTES } from './limits.ts';
import { toProxyEvent } from './proxy-event.ts';
import type { RouteSpec } from './routes.ts';

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
  /**
   * Stops accepting connections, drops the open ones, and resolves once the handler invocations still running
   * have returned (so a caller may close what they use, a Kafka producer, without failing them half way).
   */
  close(): Promise<void>;
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

  /** Invocations in progress, for `close()`. */
  const running = new Set<Promise<void>>();
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    if (lingering.has(request.socket)) return; // after a 413 on this connection (see lingeringClose)
    readBody(request, maxBodyBytes).then(
      (body) => {
        if (body === undefined) {
          refuseTooLarge(request, response, maxBodyBytes);
          return;
        }
        const handling = handle(options, request, body, response);
        running.add(handling);
        return handling.finally(() => running.delete(handling));
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
  };
  const server = createServer(onRequest);
  // With this listener Node leaves `Expect: 100-continue` to us (without it, it answers 100 Continue before the
  // handler runs): a body over the limit is refused before the client starts sending it.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (lingering.has(request.socket)) return;
    if (declaredTooLarge(request, maxBodyBytes)) {
      refuseTooLarge(request, response, maxBodyBytes);
      return;
    }
    response.writeContinue();
    onRequest(request, response);
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
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      });
      // Each is bounded by the integration timeout; their answers go nowhere now (the sockets are closed).
      await Promise.allSettled([...running]);
    },
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

/** The handler's answer, its error (thrown or rejected), or a timeout: one promise and one timer per request. */
function invoke(handler: ProxyHandler, event: APIGatewayProxyEvent, context: Context, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    const answer = (outcome: Outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    let running: Promise<APIGatewayProxyResult>;
    try {
      running = handler(event, context);
    } catch (error) {
      answer({ kind: 'error', error });
      return;
    }
    Promise.resolve(running).then(
      (result) => answer({ kind: 'result', result }),
      (error: unknown) => answer({ kind: 'error', error }),
    );
  });
}

/**
 * Reads the whole body, or `undefined` as soon as it is over `maxBytes`: a Content-Length above it (nothing is
 * read), or more bytes received than that (what was kept is dropped and this reads no more). The caller
 * answers 413 and closes the connection (`lingeringClose`), so a client cannot make the server read an
 * unbounded body.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (declaredTooLarge(request, maxBytes)) {
      resolve(undefined);
      return;
    }
    let chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      chunks = [];
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function declaredTooLarge(request: IncomingMessage, maxBytes: number): boolean {
  return Number(request.headers['content-length'] ?? 0) > maxBytes;
}

/** After a 413, for how long and for how many more bytes the server drops what the client still sends. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;
/** Connections being closed after a 413: a request the client sends on one anyway is never handled. */
const lingering = new WeakSet<Socket>();

/** The 413 for a body over the limit, with `Connection: close` and a lingering close once it is written. */
function refuseTooLarge(request: IncomingMessage, response: ServerResponse, maxBodyBytes: number): void {
  response.setHeader('connection', 'close');
  response.once('finish', () => lingeringClose(request));
  send(response, 413, { message: `Request body is larger than ${maxBodyBytes} bytes`, limit: maxBodyBytes });
}

/**
 * Closing a socket with unread bytes resets the connection, and a reset can discard the 413 before the client
 * reads it. So: send our FIN (the client reads the answer to its end), drop what still comes without
 * buffering it, and destroy the socket when the client closes, after LINGER_MS, or past LINGER_BYTES (so a
 * client cannot make the server take an unbounded body).
 */
function lingeringClose(request: IncomingMessage): void {
  const socket = request.socket;
  if (socket.destroyed) return;
  // Node's own close of a `Connection: close` response (`destroySoon`, run just before this) destroys the socket
  // as soon as its FIN is out; this takes over.
  socket.removeListener('finish', socket.destroy);
  lingering.add(socket);
  const start = socket.bytesRead;
  const destroy = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(destroy, LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', destroy);
  socket.on('data', () => {
    if (socket.bytesRead - start > LINGER_BYTES) destroy();
  });
  socket.end();
  // The HTTP parser still gets the bytes: a flowing request drops the body it parses (a paused one would keep it).
  request.resume();
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

/**
 * Writes a proxy result; returns its status code. Headers go out with `writeHead` and a text body as a string,
 * so Node sends head and body in one write (a Buffer body is a second chunk: a `writev` per response, which
 * the request profile showed at about four times the cost of the bare server's single write).
 */
export function writeResult(response: ServerResponse, result: APIGatewayProxyResult, requestId: string): number {
  // By lower-case name, as setHeader would keep them: multi-value headers win over single ones of the same name.
  const fields = new Map<string, [string, string | string[]]>();
  for (const [name, value] of Object.entries(result.headers ?? {})) fields.set(name.toLowerCase(), [name, String(value)]);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) fields.set(name.toLowerCase(), [name, values.map(String)]);
  const body: string | Buffer = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
  fields.set('x-amzn-requestid', ['x-amzn-RequestId', requestId]);
  fields.set('content-length', ['content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length)]);
  const raw: string[] = [];
  for (const [name, value] of fields.values()) {
    if (typeof value === 'string') raw.push(name, value);
    else for (const each of value) raw.push(name, each);
  }
  response.writeHead(result.statusCode, raw);
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

function normaliseIp(address: string | undefined): string {
  if (address === undefined) return '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}
