/**
 * Redis for the local services: the machine's own when it answers at REDIS_URL, else a throwaway
 * redis-server of the project's (no persistence, daemonized, files under .local/redis).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis, ReplyError } from 'ioredis';
import type { ServicesConfig } from './env.ts';
import {
  bindAddress,
  explain,
  isLocalHost,
  LOCAL,
  type LineLog,
  type Probe,
  readText,
  rel,
  requireTool,
  run,
  ServicesError,
  type StartedProcess,
  seconds,
  tail,
  waitUntil,
} from './process.ts';
import { type ProjectProcess, projectPid, projectPidAt, refuseProjectElsewhere, refuseTakenPort } from './project.ts';

const paths = {
  dir: join(LOCAL, 'redis'),
  pid: join(LOCAL, 'redis', 'redis.pid'),
  log: join(LOCAL, 'redis', 'redis.log'),
} as const;

/** The project's redis-server process. */
export const redisProcess: ProjectProcess = {
  service: 'redis',
  label: 'redis-server',
  marker: 'redis-server',
  pidFile: paths.pid,
  ownsPidFile: true,
  stopSignals: ['SIGTERM', 'SIGKILL'],
  graceMs: 15_000,
  port(pid) {
    // redis-server's process title: "redis-server 127.0.0.1:6390"
    const port = Number.parseInt(/:(\d+)/.exec(readText(`/proc/${pid}/cmdline`) ?? '')?.[1] ?? '', 10);
    return Number.isInteger(port) ? port : undefined;
  },
};

/** Makes Redis answer at `config.redis`: reuses one that does, else starts the project's (local only). */
export async function redisUp(config: ServicesConfig, log: LineLog): Promise<StartedProcess | undefined> {
  const { url, host, port } = config.redis;
  const address = `${host}:${port}`;
  const ours = projectPidAt(redisProcess, port);
  const probe = await probeRedis(url);
  if (probe.state === 'up') {
    log(`redis: using ${address} (${ours === undefined ? 'already running' : `project redis-server pid ${ours}`})`);
    return undefined;
  }
  if (probe.state === 'unusable') {
    throw new ServicesError(`redis: something answers at ${address} but ${probe.reason}: fix REDIS_URL or that server`);
  }
  refuseProjectElsewhere(redisProcess, address, 'REDIS_URL');
  if (!isLocalHost(host)) {
    throw new ServicesError(`redis: nothing answers at ${address} (${probe.reason}); it is not local, so not started`);
  }
  if (ours === undefined) {
    await refuseTakenPort('redis', host, port, probe.reason);
    await requireTool(
      'redis-server',
      ['--version'],
      `redis-server not found: nothing answers at ${url}, and starting a local Redis needs redis-server ` +
        '(apt-get install redis-server), or set REDIS_URL to a running one',
    );
  }

  const began = performance.now();
  if (ours === undefined) {
    mkdirSync(paths.dir, { recursive: true });
    // Throwaway cache for tests: no snapshots, no AOF; daemonized, so it outlives this process.
    const result = await run('redis-server', [
      ...['--port', String(port), '--bind', bindAddress(host)],
      ...['--save', '', '--appendonly', 'no', '--daemonize', 'yes'],
      ...['--dir', paths.dir, '--pidfile', paths.pid, '--logfile', paths.log],
    ]);
    if (result.status !== 0) {
      throw new ServicesError(`redis: redis-server failed to start:\n${result.output}${tail(paths.log)}`);
    }
  }
  const ready = await waitUntil(async () => (await probeRedis(url)).state === 'up', 15_000, 100);
  const pid = projectPid(redisProcess);
  if (!ready || pid === undefined) {
    throw new ServicesError(`redis: not answering on ${address} after 15 s; last lines of ${rel(paths.log)}:\n${tail(paths.log)}`);
  }
  if (ours !== undefined) {
    log(`redis: project redis-server pid ${ours} answers on ${address} after ${seconds(began)}`);
    return undefined;
  }
  log(`redis: started redis-server pid ${pid} on ${address} in ${seconds(began)} (log ${rel(paths.log)})`);
  return { service: 'redis', pid, address };
}

/** Whether a Redis at `url` answers PING; `unusable` when one answers but refuses us (NOAUTH, WRONGPASS…). */
export async function probeRedis(url: string): Promise<Probe> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined); // reported through the rejected promise below
  try {
    await client.connect();
    const answer = await client.ping();
    return answer === 'PONG' ? { state: 'up' } : { state: 'unusable', reason: `PING answered ${answer}` };
  } catch (error) {
    // A reply (NOAUTH, WRONGPASS…) means a server is there but refuses us; anything else means none is.
    return error instanceof ReplyError
      ? { state: 'unusable', reason: explain(error) }
      : { state: 'down', reason: explain(error) };
  } finally {
    client.disconnect();
  }
}
