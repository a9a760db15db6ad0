/**
 * The fault suite's own copy of the pipeline: every service a fault stops belongs to the suite, never the
 * machine's shared ones. A broker of its own on spare ports, a redis-server of its own, and two TCP proxies
 * in front of the shared PostgreSQL (one for the healthy instances, one for the "sick" instance), with a
 * database of its own. The pipeline runs as a child process (`scripts/start.ts`: ingest, metadata and an
 * enrich runner) and extra enrich runners run as child processes too (`scripts/local/event-source/main.ts`), so
 * a SIGKILL is a real one and every process reads its configuration at start exactly as `npm start` does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { OwnBroker } from '../../../tests/support/own-broker.ts';
import { freePort } from '../../../tests/support/net.ts';
import { OwnRedis, TcpProxy } from '../../../tests/support/own-services.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const FAULT_TOPICS = {
  raw: 'raw-logs',
  complete: 'enriched-logs-complete',
  partial: 'enriched-logs-partial',
  deadLetter: 'raw-logs-dlq',
} as const;

/** What GET /health of an enrich runner says about breakers and partitions (the parts the suite reads). */
export interface RunnerHealth {
  breakers: { name: string; state: string }[];
  partitions: string[];
  /** Invocations that threw or reported failures since the runner started (each retry counts). */
  failedInvocations: number;
}

/** A child process of the suite, with its output in a log file (printed when something goes wrong). */
export class Child {
  readonly name: string;
  readonly logFile: string;
  readonly #process: ChildProcess;
  readonly exited: Promise<void>;

  constructor(name: string, script: string, env: NodeJS.ProcessEnv, logDir: string) {
    this.name = name;
    this.logFile = join(logDir, `${name}.log`);
    const fd = openSync(this.logFile, 'a');
    try {
      this.#process = spawn(process.execPath, [join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => this.#process.once('exit', () => resolve()));
  }

  get running(): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null;
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs` if it is still running. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.#process.kill(signal);
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no output)';
    }
  }
}

export interface LabOptions {
  log: (line: string) => void;
  /** Enrich batch window of every runner (ms): shorter makes faults show sooner. */
  batchWindowMs: number;
}

/**
 * @example
 * const lab = await Lab.start({ log: console.log, batchWindowMs: 100 });
 * const runner = await lab.startRunner('extra');
 * await lab.stop();
 */
export class Lab {
  readonly broker: OwnBroker;
  readonly redis: OwnRedis;
  /** The healthy instances' way to PostgreSQL. */
  readonly postgres: TcpProxy;
  /** The way to PostgreSQL of a runner started with `{ sickPostgres: true }`. */
  readonly sickPostgres: TcpProxy;
  readonly database: string;
  readonly groupId: string;
  readonly dir: string;
  readonly ingestUrl: string;
  readonly healthUrl: string;
  readonly #options: LabOptions;
  readonly #children = new Set<Child>();
  #pipeline: Child | undefined;

  private constructor(parts: {
    broker: OwnBroker;
    redis: OwnRedis;
    postgres: TcpProxy;
    sickPostgres: TcpProxy;
    dir: string;
    ingestPort: number;
    healthPort: number;
    options: LabOptions;
  }) {
    this.broker = parts.broker;
    this.redis = parts.redis;
    this.postgres = parts.postgres;
    this.sickPostgres = parts.sickPostgres;
    this.dir = parts.dir;
    this.database = 'log_enrichment_faults';
    this.groupId = `enrich-faults-${randomUUID().slice(0, 8)}`;
    this.ingestUrl = `http://127.0.0.1:${parts.ingestPort}`;
    this.healthUrl = `http://127.0.0.1:${parts.healthPort}`;
    this.#options = parts.options;
  }

  static async start(options: LabOptions): Promise<Lab> {
    const { log } = options;
    const dir = mkdtempSync(join(tmpdir(), 'faults-'));
    log(`lab: logs in ${dir}`);
    const started: { stop(): Promise<unknown> }[] = [];
    try {
      const broker = await OwnBroker.start();
      started.push(broker);
      log(`lab: own Kafka broker on ${broker.bootstrap}`);
      const redis = await OwnRedis.start();
      started.push({ stop: () => redis.destroy() });
      log(`lab: own redis-server on ${redis.url}`);
      const target = { host: '127.0.0.1', port: sharedPostgresPort() };
      const postgres = await TcpProxy.start(target);
      started.push({ stop: () => postgres.cut() });
      const sickPostgres = await TcpProxy.start(target);
      started.push({ stop: () => sickPostgres.cut() });
      log(`lab: PostgreSQL through proxies on ${postgres.port} (healthy) and ${sickPostgres.port} (sick instance)`);
      const lab = new Lab({
        broker,
        redis,
        postgres,
        sickPostgres,
        dir,
        ingestPort: await freePort(),
        healthPort: await freePort(),
        options,
      });
      await lab.#startPipeline();
      return lab;
    } catch (error) {
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      throw error;
    }
  }

  databaseUrl(proxy: TcpProxy): string {
    return `postgres://postgres@127.0.0.1:${proxy.port}/${this.database}`;
  }

  /** The environment of every child: the lab's services, quiet logs, the lab's consumer group. */
  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KAFKA_BROKERS: this.broker.bootstrap,
      REDIS_URL: this.redis.url,
      DATABASE_URL: this.databaseUrl(this.postgres),
      ENRICH_GROUP_ID: this.groupId,
      ENRICH_BATCH_WINDOW_MS: String(this.#options.batchWindowMs),
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...overrides,
    };
  }

  /**
   * Starts another enrich runner in the lab's consumer group; resolves once it has partitions (or, with
   * `wait: false`, as soon as the process is spawned).
   */
  async startRunner(name: string, options: { sickPostgres?: boolean; wait?: boolean } = {}): Promise<{ child: Child; healthUrl: string }> {
    const port = await freePort();
    const env = this.env({
      ENRICH_HEALTH_PORT: String(port),
      ...(options.sickPostgres === true ? { DATABASE_URL: this.databaseUrl(this.sickPostgres) } : {}),
    });
    const child = this.#spawn(name, 'scripts/local/event-source/main.ts', env);
    const healthUrl = `http://127.0.0.1:${port}`;
    if (options.wait === false) return { child, healthUrl };
    const ready = await waitFor(async () => {
      if (!child.running) throw new Error(`${name} exited while starting:\n${child.tail()}`);
      const health = await runnerHealth(healthUrl);
      return health !== undefined && health.partitions.length > 0;
    }, 60_000);
    if (!ready) {
      await child.kill('SIGKILL');
      throw new Error(`${name} got no partitions within 60 s:\n${child.tail()}`);
    }
    return { child, healthUrl };
  }

  /** Stops everything the lab started; the child logs are kept when `keepLogs` (a failed run). */
  async stop(keepLogs = false): Promise<void> {
    for (const child of [...this.#children].reverse()) await child.kill('SIGTERM').catch(() => undefined);
    await this.postgres.cut().catch(() => undefined);
    await this.sickPostgres.cut().catch(() => undefined);
    await this.redis.destroy().catch(() => undefined);
    await this.broker.stop().catch(() => undefined);
    if (keepLogs) this.#options.log(`lab: child process logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** The pipeline child's last lines of output, for a failure message. */
  pipelineTail(): string {
    return this.#pipeline?.tail() ?? '(not started)';
  }

  async #startPipeline(): Promise<void> {
    const ingestPort = new URL(this.ingestUrl).port;
    const healthPort = new URL(this.healthUrl).port;
    const env = this.env({ INGEST_PORT: ingestPort, ENRICH_PORT: healthPort, METADATA_PORT: String(await freePort()) });
    const child = this.#spawn('pipeline', 'scripts/start.ts', env);
    this.#pipeline = child;
    const ready = await waitFor(async () => {
      if (!child.running) throw new Error(`the pipeline exited while starting:\n${child.tail()}`);
      const health = await runnerHealth(this.healthUrl);
      return health !== undefined && health.partitions.length > 0 && (await answers(`${this.ingestUrl}/api/health`));
    }, 120_000);
    if (!ready) throw new Error(`the pipeline did not become ready within 120 s:\n${child.tail()}`);
    this.#options.log(`lab: pipeline up (ingest ${this.ingestUrl}, enrich health ${this.healthUrl}/health)`);
  }

  #spawn(name: string, script: string, env: NodeJS.ProcessEnv): Child {
    const child = new Child(name, script, env, this.dir);
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }
}

/** GET /health of an enrich runner, or undefined when it does not answer. */
export async function runnerHealth(url: string): Promise<RunnerHealth | undefined> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as {
      breakers?: { name: string; state: string }[];
      consumer?: { partitions?: string[]; failedInvocations?: number };
    };
    return { breakers: body.breakers ?? [], partitions: body.consumer?.partitions ?? [], failedInvocations: body.consumer?.failedInvocations ?? 0 };
  } catch {
    return undefined;
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it is true or `timeoutMs` passed; a throw ends the wait with that error. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** The shared PostgreSQL the proxies forward to: PGPORT or 5432 on loopback. */
function sharedPostgresPort(): number {
  const port = Number(process.env.FAULTS_POSTGRES_PORT ?? 5432);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`FAULTS_POSTGRES_PORT must be a port number, got ${port}`);
  return port;
}
