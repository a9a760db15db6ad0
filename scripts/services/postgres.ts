/**
 * PostgreSQL for the local services: the machine's own when it answers at DATABASE_URL (creating the
 * database it names if missing), else a server of the project's, initdb'd once under .local/postgres,
 * TCP on loopback only, trust auth.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ensureDatabase } from '#shared/db/database.ts';
import type { ServicesConfig } from './env.ts';
import {
  bindAddress,
  explain,
  findOnPath,
  isExecutable,
  isLocalHost,
  isRunning,
  LOCAL,
  type LineLog,
  type Probe,
  readText,
  rel,
  run,
  ServicesError,
  type StartedProcess,
  seconds,
  stopProcess,
  tail,
  waitUntil,
  watchExit,
} from './process.ts';
import { type ProjectProcess, projectPidAt, refuseProjectElsewhere, refuseTakenPort } from './project.ts';

const DIR = join(LOCAL, 'postgres');
const DATA = join(DIR, 'data');
const LOG = join(DIR, 'postgres.log');
const MISSING_DATABASE = '3D000';

/** The project's postmaster. PostgreSQL writes and removes its own pid file (first line: the pid). */
export const postgresProcess: ProjectProcess = {
  service: 'postgres',
  label: 'postgres',
  marker: DATA,
  pidFile: join(DATA, 'postmaster.pid'),
  ownsPidFile: false,
  // SIGINT is its "fast" shutdown (SIGTERM would wait for every client to leave).
  stopSignals: ['SIGINT', 'SIGQUIT', 'SIGKILL'],
  graceMs: 15_000,
  port() {
    // postmaster.pid: pid, data dir, start time, port, …
    const port = Number.parseInt(readText(postgresProcess.pidFile)?.split('\n')[3] ?? '', 10);
    return Number.isInteger(port) ? port : undefined;
  },
};

/** Makes PostgreSQL accept connections at `config.postgres`: reuses one that does, else starts the project's. */
export async function postgresUp(config: ServicesConfig, log: LineLog): Promise<StartedProcess | undefined> {
  const { url, host, port, database, user } = config.postgres;
  const address = `${host}:${port}`;
  let ours = projectPidAt(postgresProcess, port);
  const probe = await probePostgres(url);
  if (probe.state === 'up') {
    log(`postgres: using ${address} (${ours === undefined ? 'already running' : `project postgres pid ${ours}`})`);
    return undefined;
  }
  if (probe.state === 'unusable' && probe.code === MISSING_DATABASE && ours === undefined) {
    // A running server without the database DATABASE_URL names: creating it is what `up` is for.
    await ensureDatabase(url);
    log(`postgres: using ${address} (already running); created database ${database}`);
    return undefined;
  }
  if (probe.state === 'unusable' && !(ours !== undefined && probe.code === MISSING_DATABASE)) {
    throw new ServicesError(`postgres: something answers at ${address} but ${probe.reason}: fix DATABASE_URL or that server`);
  }
  refuseProjectElsewhere(postgresProcess, address, 'DATABASE_URL');
  if (!isLocalHost(host)) {
    throw new ServicesError(`postgres: nothing answers at ${address} (${probe.reason}); it is not local, so not started`);
  }

  const began = performance.now();
  let child: ChildProcess | undefined;
  if (ours === undefined) {
    await refuseTakenPort('postgres', host, port, probe.reason);
    const started = await startPostgres(url, host, port, user, log);
    child = started.child;
    ours = started.pid;
  }
  const exit = child === undefined ? undefined : watchExit(child);
  child?.unref();

  const pid = ours;
  const timeoutMs = config.timeoutMs;
  try {
    const ready = await waitUntil(async () => {
      if (exit?.exited !== undefined || !isRunning(pid)) {
        throw new ServicesError(
          `postgres: pid ${pid} exited while starting (${exit?.exited ?? 'gone'}); last lines of ${rel(LOG)}:\n${tail(LOG)}`,
        );
      }
      const state = await probePostgres(url);
      return state.state === 'up' || (state.state === 'unusable' && state.code === MISSING_DATABASE);
    }, timeoutMs, 200);
    if (!ready) {
      throw new ServicesError(
        `postgres: pid ${pid} not accepting connections on ${address} after ${timeoutMs / 1000} s; ` +
          `last lines of ${rel(LOG)}:\n${tail(LOG)}`,
      );
    }
  } catch (error) {
    // Only a server this call started is stopped; one from an earlier `up` is left for `down`.
    if (child !== undefined && isRunning(pid)) await stopProcess(pid, postgresProcess.stopSignals, 10_000).catch(() => undefined);
    throw error;
  }
  await ensureDatabase(url);
  if (child === undefined) {
    log(`postgres: project postgres pid ${pid} accepts connections on ${address} after ${seconds(began)}`);
    return undefined;
  }
  log(`postgres: started postgres pid ${pid} on ${address} in ${seconds(began)} (log ${rel(LOG)})`);
  return { service: 'postgres', pid, address };
}

/** initdb if needed, then spawns the postmaster (detached: it outlives `up`); resolves once it has a pid. */
async function startPostgres(
  url: string,
  host: string,
  port: number,
  user: string,
  log: LineLog,
): Promise<{ child: ChildProcess; pid: number }> {
  const binaries = findPostgresBinaries();
  if (binaries === undefined) {
    throw new ServicesError(
      `PostgreSQL binaries not found (initdb, postgres on PATH or in /usr/lib/postgresql/*/bin): nothing accepts ` +
        `connections at ${url}, and starting a local one needs them (apt-get install postgresql), ` +
        'or set DATABASE_URL to a running server',
    );
  }
  const owner = postgresOwner();
  await initPostgres(binaries.initdb, user, owner, log);
  const logFd = openSync(LOG, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      binaries.postgres,
      [
        ...['-D', DATA, '-p', String(port), '-c', `listen_addresses=${bindAddress(host)}`],
        // TCP only: no socket file that could collide with the machine's own server in /var/run/postgresql.
        ...['-c', 'unix_socket_directories='],
      ],
      {
        cwd: DIR,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
      },
    );
  } finally {
    closeSync(logFd);
  }
  if (child.pid === undefined) throw new ServicesError('postgres: could not start postgres (no pid)');
  return { child, pid: child.pid };
}

/** Connection-level failures and "starting up" mean no usable server yet; any other SQLSTATE means one refuses us. */
export async function probePostgres(url: string): Promise<Probe> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined); // reported through the rejected promise below
  try {
    await client.connect();
    await client.query('select 1');
    return { state: 'up' };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
    if (sqlState === undefined || sqlState === '57P03') return { state: 'down', reason: explain(error) };
    return { state: 'unusable', reason: `${explain(error)} (SQLSTATE ${sqlState})`, code: sqlState };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** initdb once, with trust auth for local TCP connections (this server listens on loopback only). */
async function initPostgres(initdb: string, user: string, owner: Owner | undefined, log: LineLog): Promise<void> {
  if (existsSync(join(DATA, 'PG_VERSION'))) {
    log(`postgres: data dir ${rel(DATA)} already initialised`);
    return;
  }
  rmSync(DATA, { recursive: true, force: true });
  mkdirSync(DATA, { recursive: true, mode: 0o700 });
  if (owner !== undefined) {
    chownSync(DIR, owner.uid, owner.gid);
    chownSync(DATA, owner.uid, owner.gid);
  }
  const began = performance.now();
  const result = await run(
    initdb,
    ['-D', DATA, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { cwd: DIR, ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }) },
  );
  if (result.status !== 0) {
    throw new ServicesError(`postgres: initdb failed:\n${result.output}`);
  }
  log(`postgres: initialised ${rel(DATA)} in ${seconds(began)}`);
}

function findPostgresBinaries(): { initdb: string; postgres: string } | undefined {
  const dirs: string[] = [];
  const onPath = findOnPath('initdb');
  if (onPath !== undefined) dirs.push(dirname(realpathSync(onPath)));
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((version) => /^\d+$/.test(version));
    versions.sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((version) => join('/usr/lib/postgresql', version, 'bin')));
  } catch {
    // no Debian-style install
  }
  // initdb and postgres must come from the same version: take both from one directory.
  for (const dir of dirs) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (isExecutable(initdb) && isExecutable(postgres)) return { initdb, postgres };
  }
  return undefined;
}

interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` system user. */
function postgresOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = (readText('/etc/passwd') ?? '').split('\n').find((line) => line.startsWith('postgres:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new ServicesError(
      'postgres: running as root, PostgreSQL refuses to run as root, and there is no `postgres` user to run it as ' +
        '(apt-get install postgresql creates one)',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}
