/**
 * What every local service module shares: the error and result types, and process, port and file helpers
 * (run a command, wait for a condition, stop a pid, probe a port, read a log's tail).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The repository; everything the services create lives under `.local/` in it (gitignored). */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const LOCAL = join(ROOT, '.local');

/** A service could not be started, checked or stopped; the message says what is missing and how to fix it. */
export class ServicesError extends Error {
  /** Processes started before the failure (still running; `stopStarted` or `down` stops them). */
  readonly started: readonly StartedProcess[];

  constructor(message: string, options: { cause?: unknown; started?: readonly StartedProcess[] } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ServicesError';
    this.started = options.started ?? [];
  }
}

export type ServiceName = 'kafka' | 'redis' | 'postgres';

/** Progress lines (`console.log` on the command line). */
export type LineLog = (line: string) => void;

/** A process that one `servicesUp()` call started, so that exactly it can be stopped later. */
export interface StartedProcess {
  readonly service: ServiceName;
  readonly pid: number;
  readonly address: string;
}

/** What a probe of a service's address found: a usable server, none, or one that refuses us. */
export type Probe =
  | { readonly state: 'up' }
  | { readonly state: 'down'; readonly reason: string }
  | { readonly state: 'unusable'; readonly reason: string; readonly code?: string };

export interface ExitWatch {
  exited: string | undefined;
}

/** Records how `child` ended (exit code, signal or spawn error) once it does. */
export function watchExit(child: ChildProcess): ExitWatch {
  const watch: ExitWatch = { exited: undefined };
  child.once('exit', (code, signal) => {
    watch.exited = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  child.once('error', (error) => {
    watch.exited = error.message;
  });
  return watch;
}

/** Sends each signal in turn, waiting for the process to go; the first gets `graceMs`, the others 5 s. */
export async function stopProcess(pid: number, signals: readonly NodeJS.Signals[], graceMs: number): Promise<string> {
  for (const [index, signal] of signals.entries()) {
    try {
      process.kill(pid, signal);
    } catch {
      return 'already gone';
    }
    if (await waitUntil(async () => !isRunning(pid), index === 0 ? graceMs : 5000, 100)) return signal;
  }
  throw new ServicesError(`pid ${pid} survived ${signals.join(', ')}`);
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie answers kill(0) but is gone for our purposes.
  const status = readText(`/proc/${pid}/status`);
  if (status === undefined) return !existsSync('/proc/self/status');
  return !/^State:\s+Z/m.test(status);
}

/** Calls `check` every `intervalMs` until it says true (→ true) or `timeoutMs` has passed (→ false). */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Whether something accepts TCP connections at `host:port`. */
export function tcpOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const finish = (open: boolean) => {
      socket.destroy();
      done(open);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

export async function requireTool(command: string, args: readonly string[], message: string): Promise<void> {
  if ((await run(command, args)).error !== undefined) throw new ServicesError(message);
}

export interface RunResult {
  readonly status: number | null;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
  readonly error?: Error;
}

/**
 * Runs a command to completion without blocking the event loop: services start in parallel, and a
 * spawnSync of mvn would stall the other services' probes until their connect timeouts fire.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; uid?: number; gid?: number } = {},
): Promise<RunResult> {
  return new Promise((done) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: string) => {
      output += chunk;
    };
    child.stdout?.setEncoding('utf8').on('data', collect);
    child.stderr?.setEncoding('utf8').on('data', collect);
    child.once('error', (error) => done({ status: null, output, error }));
    child.once('close', (status) => done({ status, output }));
  });
}

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir !== '' && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

/** Listen on the loopback address itself: Node may resolve `localhost` to ::1 while Java binds 127.0.0.1. */
export function bindAddress(host: string): string {
  return host === 'localhost' ? '127.0.0.1' : host;
}

export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of a log (reads at most its last 16 KiB). */
export function tail(file: string, lines = 40): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `(no ${rel(file)})`;
  }
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 16 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n');
  } finally {
    closeSync(fd);
  }
}

/** `file` relative to the repository, for messages. */
export function rel(file: string): string {
  return relative(ROOT, file) || file;
}

export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/** An error's message with the useful inner causes appended. */
export function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // @platformatic/kafka wraps the useful part (ECONNREFUSED, a timeout…) in AggregateErrors and causes.
  const inner =
    error instanceof AggregateError ? error.errors.find((item: unknown) => item instanceof Error) : error.cause;
  const message = error.message.replace(/\.$/, '');
  return inner instanceof Error && inner !== error ? `${message}: ${explain(inner)}` : message;
}
