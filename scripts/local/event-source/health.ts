/**
 * Health and metrics of the local enrich runtime: `GET /health` (breakers, in-process cache, hit rates,
 * consumer lag, runner counters) and `GET /metrics` (Prometheus text format, prom-client); with a dashboard
 * (`npm start`: scripts/local/dashboard/), also the page at `GET /` and its assets, the JSON it polls
 * (`GET /api/dashboard`) and `POST /api/enrich/preview` (what enrich would do with one log, right now).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Log } from '#shared/log-port.ts';
import { logger } from '#shared/observability.ts';
import type { TierCounts } from '../../../functions/enrich/src/ports.ts';
import { type DashboardHandlers, PREVIEW_PATH, SNAPSHOT_PATH } from '../dashboard/index.ts';
import type { EnrichRunner } from './runner.ts';

export interface HealthServerOptions {
  runner: EnrichRunner;
  /** Default 8081; 0 picks a free port (tests). */
  port?: number;
  host?: string;
  /** Budget of the lag query made for each GET /health. */
  lagTimeoutMs?: number;
  /** Where failures to answer are logged; default the Powertools logger. */
  log?: Log;
  /** The dashboard's page, data and preview; without it only /health and /metrics are served. */
  dashboard?: DashboardHandlers;
}

/** Largest preview body read (one log; ingest takes 1 MiB for a whole batch). */
const PREVIEW_MAX_BYTES = 1024 * 1024;

export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

function hitRate(counts: TierCounts): number | null {
  const total = counts.hits + counts.misses;
  return total === 0 ? null : Math.round((counts.hits / total) * 10_000) / 10_000;
}

/** The body of GET /health. `status` is `degraded` while a breaker is not closed. */
export async function healthReport(runner: EnrichRunner, lagTimeoutMs = 1_000): Promise<Record<string, unknown>> {
  const lookup = runner.dependencies?.lookup.health();
  let lag: Record<string, number> | { error: string };
  try {
    lag = await Promise.race([
      runner.lag(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('lag query timed out')), lagTimeoutMs).unref()),
    ]);
  } catch (error) {
    lag = { error: error instanceof Error ? error.message : String(error) };
  }
  const degraded = lookup?.breakers.some((breaker) => breaker.state !== 'closed') ?? false;
  return {
    status: degraded ? 'degraded' : 'ok',
    breakers: lookup?.breakers ?? [],
    cache:
      lookup === undefined
        ? null
        : {
            memory: lookup.memory,
            hitRate: { memory: hitRate(lookup.totals.memory), redis: hitRate(lookup.totals.redis), postgres: hitRate(lookup.totals.postgres) },
            totals: lookup.totals,
          },
    consumer: { partitions: runner.assignedPartitions(), lag, ...runner.stats },
  };
}

/**
 * @example
 * const health = await startHealthServer({ runner, port: 8081 });
 * // curl http://127.0.0.1:8081/health ; curl http://127.0.0.1:8081/metrics
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { runner } = options;
  const log = options.log ?? logger;
  const { dashboard } = options;
  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  const failed = (response: ServerResponse, what: string, error: unknown) => {
    // The detail goes to the log, never to the client (house rule for every 5xx body).
    log.error(`${what} failed`, { error });
    if (!response.headersSent) json(response, 500, { message: 'Internal Server Error' });
    else response.end();
  };
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (dashboard !== undefined && path !== '/health' && path !== '/metrics') {
      // The dashboard shows raw log bytes and the preview runs lookups: only for pages of this server. A
      // page of another site cannot read it through a DNS name rebound to 127.0.0.1 (the Host is checked),
      // nor post to the preview (a foreign Origin is refused, and a JSON content type needs a preflight,
      // which is never granted).
      const refused = refusal(request);
      if (refused !== undefined) {
        json(response, 403, { message: refused });
        return;
      }
    }
    if (dashboard !== undefined && path === PREVIEW_PATH) {
      if (request.method !== 'POST') {
        response.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json') {
        json(response, 415, { message: 'send the log as Content-Type: application/json' });
        return;
      }
      readBody(request, PREVIEW_MAX_BYTES).then(
        (body) => {
          if (body === undefined) {
            // Answered before the rest is read; the connection is closed after it (the rest is discarded).
            response.setHeader('connection', 'close');
            json(response, 413, { message: `the body is larger than ${PREVIEW_MAX_BYTES} bytes` });
            return;
          }
          try {
            JSON.parse(body.toString('utf8'));
          } catch (error) {
            json(response, 400, { message: `the body is not JSON: ${error instanceof Error ? error.message : String(error)}` });
            return;
          }
          // The bytes, not the parsed value: enrich decodes bytes (large integers keep every digit).
          dashboard.preview(body).then(
            (answer) => json(response, answer.status, answer.body),
            (error: unknown) => failed(response, 'preview', error),
          );
        },
        (error: unknown) => failed(response, 'preview body', error),
      );
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (dashboard !== undefined && path === SNAPSHOT_PATH) {
      try {
        json(response, 200, dashboard.snapshot());
      } catch (error) {
        failed(response, 'dashboard snapshot', error);
      }
      return;
    }
    if (dashboard !== undefined && path !== '/health' && path !== '/metrics') {
      dashboard.asset(path).then(
        (asset) => {
          if (asset === undefined) json(response, 404, { message: 'Not Found' });
          else response.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', ...PAGE_HEADERS }).end(asset.body);
        },
        (error: unknown) => failed(response, 'dashboard page', error),
      );
      return;
    }
    if (path === '/health') {
      healthReport(runner, options.lagTimeoutMs)
        .then((report) => {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
        })
        .catch((error: unknown) => {
          // The detail goes to the log, never to the client (house rule for every 5xx body).
          log.error('health report failed', { error });
          response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', message: 'Internal Server Error' }));
        });
      return;
    }
    if (path === '/metrics') {
      // Refresh the lag gauge, then render; a slow broker must not block the scrape.
      Promise.race([runner.lag().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, options.lagTimeoutMs ?? 1_000).unref())])
        .then(() => runner.metrics.registry.metrics())
        .then((text) => {
          response.writeHead(200, { 'content-type': runner.metrics.registry.contentType }).end(text);
        })
        .catch((error: unknown) => {
          log.error('metrics rendering failed', { error });
          response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
        });
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
  });
  const port = options.port ?? 8081;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`enrich: ${host}:${port} is already in use (another runner?); set ENRICH_HEALTH_PORT`, { cause: error }));
      } else {
        reject(error);
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The request body, or undefined as soon as it exceeds `maxBytes` (a declared Content-Length over it is
 * refused before reading). What follows is drained, not kept, so the answer reaches the client: destroying
 * the socket mid-upload made curl see a reset instead of the 413.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      request.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    request.on('error', reject);
  });
}

/** The dashboard's page may load only its own script, style and data. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
} as const;

/** Loopback names this server answers to (with any port). */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why a dashboard request is refused: a Host or Origin that is not this machine's loopback; undefined when it is not. */
function refusal(request: IncomingMessage): string | undefined {
  const hostOf = (value: string) => value.replace(/:\d+$/, '').toLowerCase();
  const host = request.headers.host;
  if (host === undefined || !LOCAL_HOSTS.has(hostOf(host))) return `the dashboard answers on 127.0.0.1 or localhost only, not ${host ?? 'a request without Host'}`;
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return origin === 'null' ? 'an opaque origin may not use the dashboard' : undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `Origin ${origin} is not a URL`;
  }
  return LOCAL_HOSTS.has(hostOf(originHost)) ? undefined : `a page of ${origin} may not use the dashboard`;
}
