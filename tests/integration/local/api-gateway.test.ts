import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { logger } from '#shared/observability.ts';
import { MAX_REQUEST_BYTES, type ProxyHandler, type ServedHandler, serveHandler } from '../../../scripts/local/api-gateway/index.ts';

const ROUTES = [
  { method: 'GET', path: '/api/metadata/hosts/{hostname}' },
  { method: 'POST', path: '/upload' },
];

/** A handler that records what it was called with and answers what the test tells it to. */
function recordingHandler(answer: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>) {
  const calls: { event: APIGatewayProxyEvent; context: Context }[] = [];
  const handler: ProxyHandler = async (event, context) => {
    calls.push({ event, context });
    return answer(event);
  };
  return { calls, handler };
}

const ok = async (): Promise<APIGatewayProxyResult> => ({ statusCode: 200, body: '{}' });

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * POSTs a body of `total` bytes to `/upload` over a raw socket, 64 KiB at a time, each write waiting until the
 * socket took the previous one (nothing piles up on this side). Returns what came back and how many body bytes
 * the connection took before it closed: an upper bound on what the server read. A `halfOpen` client goes on
 * sending after the server's FIN (by default a Node socket stops writing when it gets one).
 */
async function streamBody(url: string, framing: 'chunked' | 'content-length', total: number, halfOpen = false) {
  const { hostname, port } = new URL(url);
  const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: halfOpen });
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  // EPIPE or ECONNRESET while writing: the server closed the connection.
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const length = framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
  socket.write(`POST /upload HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/octet-stream\r\n${length}\r\n\r\n`);
  const frame = framing === 'chunked' ? Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]) : CHUNK;
  let sent = 0;
  while (sent < total && socket.writable) {
    const taken = await new Promise<boolean>((resolve) => socket.write(frame, (error) => resolve(error == null)));
    if (!taken) break;
    sent += CHUNK.length;
  }
  const finished = sent >= total;
  if (finished) socket.end(framing === 'chunked' ? '0\r\n\r\n' : '');
  await closed;
  const text = Buffer.concat(received).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), head: text.split('\r\n\r\n')[0] ?? '', body: text.split('\r\n\r\n')[1] ?? '', sent, finished };
}

/**
 * Sends `head` (and `body`, at once, without waiting for an answer) over a raw socket, and `more` once the
 * answer starts arriving, then reads until the server closes. `reset` says whether the server reset the
 * connection instead of closing it with a FIN.
 */
async function rawExchange(url: string, head: string, body: Buffer = Buffer.alloc(0), more?: Buffer) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    if (received.length === 0 && more !== undefined) socket.write(more);
    received.push(chunk);
  });
  let reset = false;
  socket.on('error', () => {
    reset = true;
  });
  // The server's FIN: answer it with ours, as a client that got its answer does.
  socket.on('end', () => socket.end());
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([Buffer.from(head.replaceAll('{host}', `${hostname}:${port}`)), body]));
  await closed;
  return { text: Buffer.concat(received).toString('latin1'), reset };
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

let served: ServedHandler | undefined;

async function serve(handler: ProxyHandler, extra: { timeoutMs?: number; maxBodyBytes?: number } = {}): Promise<ServedHandler> {
  served = await serveHandler({ name: 'test-fn', port: 0, host: '127.0.0.1', handler, routes: ROUTES, ...extra });
  return served;
}

beforeEach(() => {
  // The server logs handler failures on purpose; keep them out of the test output.
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
});
afterEach(async () => {
  jest.restoreAllMocks();
  await served?.close();
  served = undefined;
});

describe('serveHandler', () => {
  it('listens on the loopback address only', async () => {
    // Act
    const { url } = await serve(ok);

    // Assess
    expect(new URL(url).hostname).toBe('127.0.0.1');
  });

  it('refuses to listen on a non-loopback address', async () => {
    // Act
    const act = serveHandler({ name: 'x', port: 0, host: '0.0.0.0' as '127.0.0.1', handler: ok });

    // Assess
    await expect(act).rejects.toThrow(/loopback only/);
  });

  it('says which function and port when the port is taken', async () => {
    // Prepare
    const first = await serveHandler({ name: 'first', port: 0, host: '127.0.0.1', handler: ok });
    const port = Number(new URL(first.url).port);

    // Act
    const second = serveHandler({ name: 'ingest', port, host: '127.0.0.1', handler: ok });

    // Assess
    await expect(second).rejects.toThrow(`ingest: 127.0.0.1:${port} is already in use`);
    await first.close();
  });

  it('invokes the handler with a REST proxy event: route, path parameters, query, headers, source IP', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler);

    // Act
    await fetch(`${url}/api/metadata/hosts/web%2D1?env=dev&env=prod`, { headers: { 'X-Trace': 'abc' } });

    // Assess
    expect(calls).toHaveLength(1);
    expect(calls[0]?.event).toMatchObject({
      httpMethod: 'GET',
      resource: '/api/metadata/hosts/{hostname}',
      path: '/api/metadata/hosts/web%2D1',
      pathParameters: { hostname: 'web-1' },
      queryStringParameters: { env: 'prod' },
      multiValueQueryStringParameters: { env: ['dev', 'prod'] },
      body: null,
      isBase64Encoded: false,
      requestContext: { stage: 'local', identity: { sourceIp: '127.0.0.1' } },
    });
    expect(calls[0]?.event.headers).toMatchObject({ 'X-Trace': 'abc', host: expect.stringMatching(/^127\.0\.0\.1:/) });
  });

  it('passes a Lambda context carrying the function name and a request id', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler);

    // Act
    await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    const context = calls[0]?.context;
    expect(context?.functionName).toBe('test-fn');
    expect(context?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context?.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('sends a binary body base64-encoded and a JSON body as text', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler);
    const bytes = Buffer.from([0, 159, 146, 150, 255]);

    // Act
    await fetch(`${url}/upload`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: bytes });
    await fetch(`${url}/upload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });

    // Assess
    expect(calls[0]?.event.isBase64Encoded).toBe(true);
    expect(Buffer.from(calls[0]?.event.body ?? '', 'base64')).toEqual(bytes);
    expect([calls[1]?.event.isBase64Encoded, calls[1]?.event.body]).toEqual([false, '{"a":1}']);
  });

  it('writes the status, single- and multi-value headers, and decodes a base64 result body', async () => {
    // Prepare
    const png = Buffer.from([137, 80, 78, 71]);
    const { url } = await serve(async () => ({
      statusCode: 201,
      headers: { 'content-type': 'image/png', 'x-one': 1 },
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
      body: png.toString('base64'),
      isBase64Encoded: true,
    }));

    // Act
    const response = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect(response.status).toBe(201);
    expect(response.headers.get('x-one')).toBe('1');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(png);
  });

  it('writes a text body with its length in bytes, the result headers by name whatever their case, multi-value ones winning', async () => {
    // Prepare
    const { url } = await serve(async () => ({
      statusCode: 202,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Dup': 'single', 'x-amzn-requestid': 'from-handler', 'content-length': '1' },
      multiValueHeaders: { 'x-dup': ['m1', 'm2'] },
      body: 'héllo ✓',
    }));

    // Act
    const response = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect(response.status).toBe(202);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('x-dup')).toBe('m1, m2');
    // The stand-in's own request id and the body's real length, as API Gateway sets them.
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength('héllo ✓')));
    expect(await response.text()).toBe('héllo ✓');
  });

  it('turns a handler that throws before returning a promise into a 500', async () => {
    // Prepare
    const { url } = await serve((() => {
      throw new TypeError('synchronous bug');
    }) as unknown as ProxyHandler);

    // Act
    const response = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect(response.status).toBe(500);
  });

  it('closes only once the invocations still running have returned', async () => {
    // Prepare
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let returned = false;
    const server = await serve(async () => {
      started();
      await new Promise((resolve) => setTimeout(resolve, 200));
      returned = true;
      return { statusCode: 200, body: 'late' };
    });
    const request = fetch(`${server.url}/upload`, { method: 'POST' }).catch(() => undefined);
    await running;

    // Act
    await server.close();
    served = undefined;

    // Assess
    expect(returned).toBe(true);
    await request;
  });

  it('turns a handler that throws into a 500 and keeps serving', async () => {
    // Prepare
    let calls = 0;
    const { url } = await serve(async () => {
      calls += 1;
      if (calls === 1) throw new TypeError('bug in handler');
      return { statusCode: 200, body: 'fine' };
    });

    // Act
    const failed = await fetch(`${url}/upload`, { method: 'POST' });
    const next = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect([failed.status, await failed.json()]).toEqual([500, { message: 'Internal server error' }]);
    expect([next.status, await next.text()]).toEqual([200, 'fine']);
    expect(logger.error).toHaveBeenCalledWith('local API: handler threw', expect.objectContaining({ function: 'test-fn' }));
  });

  it('answers 502 for a malformed proxy result, as API Gateway does', async () => {
    // Prepare
    const { url } = await serve(async () => ({ body: 'no status' }) as unknown as APIGatewayProxyResult);

    // Act
    const response = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect(response.status).toBe(502);
  });

  it('answers 504 when the handler outlives the integration timeout', async () => {
    // Prepare
    const { url } = await serve(() => new Promise<APIGatewayProxyResult>(() => undefined), { timeoutMs: 50 });

    // Act
    const response = await fetch(`${url}/upload`, { method: 'POST' });

    // Assess
    expect([response.status, await response.json()]).toEqual([504, { message: 'Endpoint request timed out' }]);
  });

  it('refuses a body over API Gateway 10 MB limit with 413 and the limit, without invoking the handler', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler);

    // Act
    const response = await fetch(`${url}/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20),
    });

    // Assess
    expect(response.status).toBe(413);
    expect(((await response.json()) as { limit: number }).limit).toBe(MAX_REQUEST_BYTES);
    expect(calls).toHaveLength(0);
  });

  it.each(['chunked', 'content-length'] as const)(
    'answers 413 and closes the connection while a client still streams an oversized body (%s), reading no further',
    async (framing) => {
      // Prepare
      const limit = 64 * 1024;
      const offered = 256 * 1024 * 1024;
      const { calls, handler } = recordingHandler(ok);
      const { url } = await serve(handler, { maxBodyBytes: limit });

      // Act
      const result = await streamBody(url, framing, offered);

      // Assess
      expect(result.status).toBe(413);
      expect(result.head).toMatch(/^connection: close$/im);
      expect(JSON.parse(result.body)).toEqual({ message: `Request body is larger than ${limit} bytes`, limit });
      // The server hung up mid-body: the client never got to send all of it, and what the connection took is
      // bounded by the limit plus the two sockets' kernel buffers, not by what the client offered.
      expect(result.finished).toBe(false);
      expect(result.sent).toBeLessThan(64 * 1024 * 1024);
      expect(calls).toHaveLength(0);
    },
  );

  it.each(['chunked', 'content-length'] as const)(
    'cuts off a client that goes on sending after the 413 and the FIN (%s), still reading no further',
    async (framing) => {
      // Prepare
      const limit = 64 * 1024;
      const offered = 256 * 1024 * 1024;
      const { calls, handler } = recordingHandler(ok);
      const { url } = await serve(handler, { maxBodyBytes: limit });

      // Act
      const result = await streamBody(url, framing, offered, true);

      // Assess
      expect(result.status).toBe(413);
      expect(result.finished).toBe(false);
      expect(result.sent).toBeLessThan(64 * 1024 * 1024);
      expect(calls).toHaveLength(0);
    },
  );

  it('drops, after a short linger, a client that keeps the connection open after the 413', async () => {
    // Prepare: a client that keeps its side open after the server's FIN
    const { url } = await serve(ok, { maxBodyBytes: 1024 });
    const { hostname, port } = new URL(url);
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    const failed = new Promise<void>((resolve) => socket.once('error', () => resolve()));
    socket.write(`POST /upload HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Length: 4096\r\n\r\n`);
    await once(socket, 'end');
    const began = performance.now();

    // Act: a byte every 100 ms; once the server has dropped the connection, a write fails (reset)
    let gone = false;
    void failed.then(() => {
      gone = true;
    });
    while (!gone && performance.now() - began < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (!gone) socket.write('x');
    }
    socket.destroy();

    // Assess: the 413 came, the server kept draining for a while (no reset at once), then gave up
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(gone).toBe(true);
    expect(performance.now() - began).toBeGreaterThan(1000);
  });

  it('handles no request that a client sends after the refused one on the same connection', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler, { maxBodyBytes: 16 });

    // Act: an oversized chunked body, complete, then a second request on the connection the 413 closes
    const { text } = await rawExchange(
      url,
      `POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n${'a'.repeat(32)}\r\n0\r\n\r\n` +
        'GET /upload HTTP/1.1\r\nHost: {host}\r\n\r\n',
    );

    // Assess
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(calls).toHaveLength(0);
  });

  it('answers `Expect: 100-continue` with an oversized Content-Length by a 413 at once, with no 100 Continue', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler, { maxBodyBytes: 1024 });

    // Act
    const { text, reset } = await rawExchange(
      url,
      'POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n',
    );

    // Assess
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).not.toContain('100 Continue');
    expect(reset).toBe(false);
    expect(calls).toHaveLength(0);
  });

  it('still answers 100 Continue and invokes the handler when the declared body is within the limit', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler, { maxBodyBytes: 1024 });

    // Act
    const { text } = await rawExchange(
      url,
      'POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      Buffer.from('small'),
    );

    // Assess
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(calls[0]?.event.body).toBe('small');
  });

  it('closes with a FIN, not a reset, after a 413 while the client is still sending', async () => {
    // Prepare: the client sends part of an oversized body before any answer, and more once the 413 arrives
    const { url } = await serve(ok, { maxBodyBytes: 64 * 1024 });

    // Act
    const { text, reset } = await rawExchange(
      url,
      `POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`,
      Buffer.alloc(256 * 1024, 0x61),
      Buffer.alloc(256 * 1024, 0x62),
    );

    // Assess
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(reset).toBe(false);
  });

  (hasCurl ? it : it.skip)('gives curl (which sends Expect: 100-continue for a large body) its 413 before it uploads', async () => {
    // Prepare
    const { calls, handler } = recordingHandler(ok);
    const { url } = await serve(handler);
    const dir = mkdtempSync(join(tmpdir(), 'apigw-'));
    const file = join(dir, 'big.bin');
    writeFileSync(file, Buffer.alloc(MAX_REQUEST_BYTES + 1024 * 1024, 0x61));

    try {
      // Act
      // Waiting up to 10 s for the 100 (1 s by default): on a busy machine curl would otherwise start anyway.
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}', '--expect100-timeout', '10'];
      const written = await new Promise<string>((resolve) => {
        execFile('curl', [...args, '--data-binary', `@${file}`, `${url}/upload`], (_error, stdout) => resolve(stdout));
      });

      // Assess: the status, and not one body byte sent
      expect(written).toBe('413 0');
      expect(calls).toHaveLength(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
