/**
 * Drives ingest over HTTP on an open-loop schedule (see schedule.ts) with a keep-alive agent, and collects
 * what the client saw: latency per request measured from the request's *scheduled* start (so a stalled
 * client or server shows up as latency instead of vanishing: no coordinated omission), statuses, accepted
 * ids with the time their 202 arrived.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ArrivalPlan, logsInRequest, OpenLoopScheduler, scheduledAtMs } from './schedule.ts';

export interface DriveOptions {
  /** The ingest base URL (`http://127.0.0.1:8080`, or an API Gateway stage URL); `api/logs` is appended. */
  url: string;
  apiKey?: string;
  plan: ArrivalPlan;
  maxInFlight: number;
  /** The body of a request carrying `count` logs (a JSON object when 1, an array otherwise). */
  body: (count: number) => string;
  /** Called as soon as a 202 arrives, with its ids and the client clock (epoch ms). */
  onAccepted: (eventIds: readonly string[], acceptedAtMs: number) => void;
  /** Called once a second with a one-line progress report. */
  onProgress?: (line: string) => void;
  /**
   * Called as each request completes: its status (as in `statuses`), latency from its scheduled start, and
   * the client clock (epoch ms). A fault harness uses it to time an outage and the recovery after it.
   */
  onResponse?: (status: string, latencyMs: number, atMs: number) => void;
  /** Per-request timeout; a timed-out request counts as an error, status `timeout`. */
  requestTimeoutMs?: number;
}

export interface DriveResult {
  elapsedMs: number;
  requestsSent: number;
  /** Logs the schedule held (sent + dropped). */
  logsPlanned: number;
  /** Due requests never sent because `maxInFlight` requests were outstanding (client overload). */
  dropped: number;
  logsOffered: number;
  logsAccepted: number;
  /** Logs a 202 listed as rejected (validation), which the mix should never produce. */
  logsRejected: number;
  /** Milliseconds from scheduled start to response end, one per completed request (any status). */
  latenciesMs: number[];
  /** The same latencies by status: how long a `503` took to come back is the client's view of an outage. */
  latenciesByStatusMs: Map<string, number[]>;
  /** Response count by status code, or `error: <code>` for requests that got no response. */
  statuses: Map<string, number>;
}

interface AcceptedBody {
  accepted?: unknown;
  eventIds?: unknown;
  rejected?: unknown;
}

/**
 * @example
 * const result = await drive({ url: 'http://127.0.0.1:8080', plan, maxInFlight: 256, body, onAccepted });
 */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const target = new URL('api/logs', options.url.endsWith('/') ? options.url : `${options.url}/`);
  const secure = target.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxInFlight })
    : new HttpAgent({ keepAlive: true, maxSockets: options.maxInFlight });
  const send = secure ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey !== undefined) headers['x-api-key'] = options.apiKey;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;

  const scheduler = new OpenLoopScheduler(options.plan, options.maxInFlight);
  const result: DriveResult = {
    elapsedMs: 0,
    requestsSent: 0,
    logsPlanned: options.plan.totalLogs,
    dropped: 0,
    logsOffered: 0,
    logsAccepted: 0,
    logsRejected: 0,
    latenciesMs: [],
    latenciesByStatusMs: new Map(),
    statuses: new Map(),
  };
  const count = (status: string) => result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
  let inFlight = 0;
  let settled: () => void = () => undefined;
  const began = performance.now();
  // Progress: what the last second looked like, so a run that falls behind is visible while it runs.
  let lastProgressAt = began;
  let lastAccepted = 0;
  let lastCompleted = 0;

  const fire = (index: number) => {
    const logs = logsInRequest(options.plan, index);
    const scheduledAt = began + scheduledAtMs(options.plan, index);
    const payload = options.body(logs);
    inFlight += 1;
    result.requestsSent += 1;
    result.logsOffered += logs;
    const finish = (status: string, response?: { code: number; text: string }) => {
      inFlight -= 1;
      const latencyMs = performance.now() - scheduledAt;
      result.latenciesMs.push(latencyMs);
      const byStatus = result.latenciesByStatusMs.get(status);
      if (byStatus === undefined) result.latenciesByStatusMs.set(status, [latencyMs]);
      else byStatus.push(latencyMs);
      count(status);
      options.onResponse?.(status, latencyMs, Date.now());
      if (response?.code === 202) {
        const acceptedAtMs = Date.now();
        const body = parseBody(response.text);
        const ids = Array.isArray(body.eventIds) ? body.eventIds.filter((id) => typeof id === 'string') : [];
        result.logsAccepted += ids.length;
        result.logsRejected += Array.isArray(body.rejected) ? body.rejected.length : 0;
        options.onAccepted(ids, acceptedAtMs);
      }
      if (inFlight === 0) settled();
    };
    const req = send(target, { method: 'POST', agent, headers, timeout: timeoutMs }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => finish(String(res.statusCode ?? 0), { code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error: NodeJS.ErrnoException) => finish(`error: ${error.code ?? error.message}`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'timeout' })));
    req.on('error', (error: NodeJS.ErrnoException) => finish(`error: ${error.code ?? error.message}`));
    req.end(payload);
  };

  while (!scheduler.done) {
    const now = performance.now();
    const { start, dropped } = scheduler.tick(now - began, inFlight);
    result.dropped += dropped;
    for (const index of start) fire(index);
    if (options.onProgress !== undefined && now - lastProgressAt >= 1000) {
      const completed = result.latenciesMs.length;
      const seconds = (now - lastProgressAt) / 1000;
      options.onProgress(
        `t=${((now - began) / 1000).toFixed(0).padStart(3)}s  accepted ${Math.round((result.logsAccepted - lastAccepted) / seconds)} logs/s` +
          `  responses ${Math.round((completed - lastCompleted) / seconds)}/s  in flight ${inFlight}  dropped ${result.dropped}` +
          `  errors ${errorCount(result.statuses)}`,
      );
      lastProgressAt = now;
      lastAccepted = result.logsAccepted;
      lastCompleted = completed;
    }
    // Sleep until the next request is due; timers have ~1 ms granularity, so at high rates several
    // requests start per wake-up, each still timed from its own scheduled instant.
    const wait = scheduler.waitMs(performance.now() - began);
    if (Number.isFinite(wait)) await sleep(Math.max(1, Math.min(wait, 250)));
  }
  if (inFlight > 0) await new Promise<void>((resolve) => (settled = resolve));
  result.elapsedMs = performance.now() - began;
  agent.destroy();
  return result;
}

/** Responses that were not 202, plus requests with no response. */
export function errorCount(statuses: ReadonlyMap<string, number>): number {
  let errors = 0;
  for (const [status, count] of statuses) if (status !== '202') errors += count;
  return errors;
}

function parseBody(text: string): AcceptedBody {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as AcceptedBody) : {};
  } catch {
    return {};
  }
}
