/**
 * Bounded loopback HTTP load with autocannon (closed loop, N keep-alive connections: the right tool for a
 * throughput ceiling, where the open-loop generator of load/ is the right one for latency at a given rate),
 * and the bare Node HTTP server that sets the ceiling: same machine, same client, no work per request.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';

export interface HttpLoadResult {
  requestsPerSecond: number;
  /** 2xx responses per second. */
  okPerSecond: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

export interface HttpLoadOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  durationSeconds: number;
  /** Worker threads firing requests; 1 keeps the client off the server's thread on a small machine. */
  workers?: number;
}

/**
 * @example
 * const result = await httpLoad({ url: 'http://127.0.0.1:8080/api/logs', body, connections: 32, durationSeconds: 5 });
 */
export async function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    body: options.body,
    headers: { 'content-type': 'application/json', ...options.headers },
    connections: options.connections,
    duration: options.durationSeconds,
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    timeout: 10,
  });
  return {
    requestsPerSecond: result.requests.total / result.duration,
    okPerSecond: result['2xx'] / result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
  };
}

export interface BareServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A Node HTTP server that reads the body and answers 202 with a small JSON body: the most any handler
 * behind Node's `http` module can do on this machine.
 *
 * @example
 * const bare = await startBareServer();
 * await httpLoad({ url: `${bare.url}/api/logs`, ... });
 * await bare.close();
 */
export async function startBareServer(): Promise<BareServer> {
  const reply = JSON.stringify({ accepted: 1, eventIds: ['00000000-0000-4000-8000-000000000000'], rejected: [] });
  const server = createServer((request, response) => {
    request.on('data', () => undefined);
    request.on('end', () => {
      response.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      response.end(reply);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
