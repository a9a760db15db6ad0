/**
 * The processes this project starts: each service describes its own (pid file, command-line marker, port),
 * and the code here finds, checks and stops them, and serialises `up`/`down` across processes with a lock.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isRunning,
  LOCAL,
  type LineLog,
  readText,
  rel,
  type ServiceName,
  ServicesError,
  seconds,
  stopProcess,
  tcpOpen,
} from './process.ts';

/** How to recognise, and stop, the process the project starts for one service. */
export interface ProjectProcess {
  readonly service: ServiceName;
  /** What messages call the process: `broker`, `redis-server`, `postgres`. */
  readonly label: string;
  /** A command-line fragment that identifies it, checked before a pid is signalled. */
  readonly marker: string;
  /** Its pid file; the first line is the pid. */
  readonly pidFile: string;
  /** False when the server writes and removes the pid file itself (PostgreSQL): a stale one is left to it. */
  readonly ownsPidFile: boolean;
  /** Signals that stop it, in order; the first gets `graceMs`. */
  readonly stopSignals: readonly NodeJS.Signals[];
  readonly graceMs: number;
  /** The port the running process `pid` listens on, when it can be told. */
  port(pid: number): number | undefined;
}

/** The pid in the pid file, if that process is alive and is what we started; a stale file goes. */
export function projectPid(owned: ProjectProcess): number | undefined {
  const pid = Number.parseInt(readText(owned.pidFile)?.split('\n')[0]?.trim() ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const commandLine = readText(`/proc/${pid}/cmdline`)?.replaceAll('\0', ' ');
  if (isRunning(pid) && (commandLine === undefined || commandLine.includes(owned.marker))) return pid;
  if (owned.ownsPidFile) rmSync(owned.pidFile, { force: true });
  return undefined;
}

/** The project's process, if it runs and listens on `port` (or its port cannot be told). */
export function projectPidAt(owned: ProjectProcess, port: number): number | undefined {
  const pid = projectPid(owned);
  if (pid === undefined) return undefined;
  const actual = owned.port(pid);
  return actual === undefined || actual === port ? pid : undefined;
}

/**
 * One data dir and one pid file per service: a second project process for another address would fight the
 * first (Kafka locks its data dir, PostgreSQL too, and the pid file would lose track of one of them).
 */
export function refuseProjectElsewhere(owned: ProjectProcess, address: string, variable: string): void {
  const pid = projectPid(owned);
  if (pid === undefined) return;
  const actual = owned.port(pid);
  if (actual === undefined || address.endsWith(`:${actual}`)) return;
  throw new ServicesError(
    `${owned.service}: the project's ${owned.label} (pid ${pid}) listens on port ${actual}, not on ${address} ` +
      `(${variable}); stop it first (npm run services -- down) or point ${variable} at it`,
  );
}

/**
 * Never start a second server on a port something already holds: if it did not answer our probe, the
 * probe's reason (refused password, wrong protocol…) is the thing to fix, not a missing server.
 */
export async function refuseTakenPort(service: ServiceName, host: string, port: number, reason: string): Promise<void> {
  if (await tcpOpen(host, port)) {
    throw new ServicesError(`${service}: ${host}:${port} is open but did not answer as expected (${reason}); not starting another`);
  }
}

/** Stops the project's process `pid` of a service with its own signals, and forgets its pid file. */
export async function stopProjectProcess(owned: ProjectProcess, pid: number, log: LineLog): Promise<void> {
  const began = performance.now();
  const how = await stopProcess(pid, owned.stopSignals, owned.graceMs);
  if (owned.ownsPidFile) rmSync(owned.pidFile, { force: true });
  log(`${owned.service}: stopped ${owned.label} pid ${pid} (${how}) in ${seconds(began)}`);
}

const LOCK = join(LOCAL, 'services.lock');

/**
 * Serialises `up`/`down` across processes (a developer's `up` and jest's global setup at the same time
 * would otherwise both start a broker on one data dir). A lock whose holder died is taken over; a live
 * holder is waited for up to `timeoutMs` plus a minute.
 */
export async function withLock<T>(log: LineLog, timeoutMs: number, action: () => Promise<T>): Promise<T> {
  mkdirSync(LOCAL, { recursive: true });
  const deadline = Date.now() + timeoutMs + 60_000;
  let told = false;
  for (;;) {
    try {
      writeFileSync(LOCK, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(readText(LOCK) ?? '', 10);
    if (!Number.isInteger(holder) || !isRunning(holder)) {
      rmSync(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new ServicesError(`services: ${rel(LOCK)} is held by pid ${holder}; remove it if that is not an \`up\``);
    }
    if (!told) log(`services: waiting for pid ${holder} (another up/down) to finish`);
    told = true;
    await sleep(250);
  }
  try {
    return await action();
  } finally {
    rmSync(LOCK, { force: true });
  }
}
