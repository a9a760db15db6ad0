/**
 * One idempotent command for the real services the pipeline and its integration tests need, without Docker:
 * a single-node Apache Kafka broker (KRaft: broker and controller in one JVM) run from Maven Central jars,
 * Redis, PostgreSQL, and the pipeline's Kafka topics.
 *
 *   node scripts/services.ts up       start what is not running, reuse what is, create the topics
 *   node scripts/services.ts status   print each service up/down; exit 0 only when all are up
 *   node scripts/services.ts down     stop what this project started (pid files under .local/), nothing else
 *
 * A service that already answers at its configured address is used as it is, whoever started it: that is how
 * the machine's own Redis and PostgreSQL are shared, and why a second `up` takes about a second. Everything
 * this script creates lives under `.local/` (gitignored): jars, broker data and log, pid files.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Admin, findErrorBy } from '@platformatic/kafka';
import { Redis, ReplyError } from 'ioredis';
import pg from 'pg';
import { z } from 'zod';
import { ConfigError, readConfig, topicsEnv } from '../layers/shared/src/config.ts';
import { ensureDatabase } from '../layers/shared/src/db/database.ts';

// ---------------------------------------------------------------------------------------------------------
// Configuration: read once, here, from the environment; everything below uses `servicesConfig`.
// ---------------------------------------------------------------------------------------------------------

const partitions = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const servicesEnv = topicsEnv.extend({
  KAFKA_BROKERS: z
    .string()
    .regex(/^\s*[^\s:,]+:\d+\s*(,\s*[^\s:,]+:\d+\s*)*$/, 'must be a comma-separated host:port list')
    .default('127.0.0.1:9092'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/postgres'),
  RAW_TOPIC_PARTITIONS: partitions(6),
  COMPLETE_TOPIC_PARTITIONS: partitions(3),
  PARTIAL_TOPIC_PARTITIONS: partitions(3),
  DLQ_TOPIC_PARTITIONS: partitions(1),
  /** How long `up` waits for a service it started to answer (the broker's first start is the slow one). */
  SERVICES_TIMEOUT_MS: z.coerce.number().int().positive().default(90_000),
});

const env = loadEnv();

function loadEnv(): z.infer<typeof servicesEnv> {
  try {
    return readConfig(servicesEnv);
  } catch (error) {
    // On the command line a bad variable deserves one line, not a stack trace from module loading.
    if (import.meta.main && error instanceof ConfigError) {
      console.error(`services: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

const brokers = env.KAFKA_BROKERS.split(',').map((broker) => broker.trim());
const [kafkaHost = '127.0.0.1', kafkaPort = '9092'] = (brokers[0] ?? '').split(':');
const redisUrl = new URL(env.REDIS_URL);
const postgresUrl = new URL(env.DATABASE_URL);

/** Where each service is expected, as read from the environment at load. */
export const servicesConfig = Object.freeze({
  kafka: Object.freeze({
    brokers: Object.freeze(brokers),
    host: kafkaHost,
    port: Number(kafkaPort),
    // Single node: the controller listens next to the broker (9092 → 9093).
    controllerPort: Number(kafkaPort) + 1,
  }),
  redis: Object.freeze({ url: env.REDIS_URL, host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }),
  postgres: Object.freeze({
    url: env.DATABASE_URL,
    host: postgresUrl.hostname,
    port: Number(postgresUrl.port || 5432),
    user: decodeURIComponent(postgresUrl.username) || 'postgres',
    database: decodeURIComponent(postgresUrl.pathname.slice(1)) || 'postgres',
  }),
  timeoutMs: env.SERVICES_TIMEOUT_MS,
});

/** A Kafka topic the project creates (never auto-created by the broker). */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
}

export type PipelineTopic = 'raw' | 'complete' | 'partial' | 'dlq';

/** The pipeline's topics, names and partition counts overridable by env (RAW_TOPIC, RAW_TOPIC_PARTITIONS…). */
export const PIPELINE_TOPICS: Readonly<Record<PipelineTopic, TopicSpec>> = Object.freeze({
  raw: { name: env.RAW_TOPIC, partitions: env.RAW_TOPIC_PARTITIONS },
  complete: { name: env.COMPLETE_TOPIC, partitions: env.COMPLETE_TOPIC_PARTITIONS },
  partial: { name: env.PARTIAL_TOPIC, partitions: env.PARTIAL_TOPIC_PARTITIONS },
  dlq: { name: env.DLQ_TOPIC, partitions: env.DLQ_TOPIC_PARTITIONS },
});

/** {@link PIPELINE_TOPICS} as a list, in a stable order (raw, complete, partial, dlq). */
export const PIPELINE_TOPIC_LIST: readonly TopicSpec[] = Object.freeze(Object.values(PIPELINE_TOPICS));

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const LOCAL = join(ROOT, '.local');

const paths = {
  lock: join(LOCAL, 'services.lock'),
  kafka: {
    dir: join(LOCAL, 'kafka'),
    libs: join(LOCAL, 'kafka', 'libs'),
    // Written after a complete, checked copy; holds the pom's hash so a changed pom re-fetches.
    libsStamp: join(LOCAL, 'kafka', 'libs', '.complete'),
    data: join(LOCAL, 'kafka', 'data'),
    log: join(LOCAL, 'kafka', 'broker.log'),
    pid: join(LOCAL, 'kafka', 'broker.pid'),
    properties: join(LOCAL, 'kafka', 'server.properties'),
    pom: join(ROOT, 'services', 'kafka', 'pom.xml'),
    log4j: join(ROOT, 'services', 'kafka', 'log4j2.properties'),
  },
  redis: {
    dir: join(LOCAL, 'redis'),
    pid: join(LOCAL, 'redis', 'redis.pid'),
    log: join(LOCAL, 'redis', 'redis.log'),
  },
  postgres: {
    dir: join(LOCAL, 'postgres'),
    data: join(LOCAL, 'postgres', 'data'),
    log: join(LOCAL, 'postgres', 'postgres.log'),
    // PostgreSQL writes and removes its own pid file; its first line is the postmaster's pid.
    pid: join(LOCAL, 'postgres', 'data', 'postmaster.pid'),
  },
} as const;

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export type ServiceName = 'kafka' | 'redis' | 'postgres';
export type Log = (line: string) => void;

/** A process that one `servicesUp()` call started, so that exactly it can be stopped later. */
export interface StartedProcess {
  readonly service: ServiceName;
  readonly pid: number;
  readonly address: string;
}

/** What `servicesUp()` did: the processes it started (empty when it reused everything) and the topics. */
export interface ServicesHandle {
  readonly started: readonly StartedProcess[];
  readonly topics: readonly TopicResult[];
}

export interface TopicResult extends TopicSpec {
  readonly status: 'created' | 'exists';
  /** Partition count the broker reports; differs from `partitions` when the topic existed with another count. */
  readonly actualPartitions: number;
}

export interface ServiceState {
  readonly service: ServiceName;
  readonly up: boolean;
  readonly address: string;
  /** `project`: a process started by `up` (pid file under .local/); `external`: anything else answering. */
  readonly owner: 'project' | 'external' | 'none';
  readonly pid?: number;
  readonly detail?: string;
}

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

/**
 * Makes Kafka, Redis and PostgreSQL answer at their configured addresses and creates the pipeline topics.
 * Reuses whatever already answers; starts (and returns) only what was missing. Safe to call concurrently
 * from several processes: a lock file under .local/ serialises them.
 *
 * @example
 * const handle = await servicesUp();
 * // … run against servicesConfig.kafka.brokers, REDIS_URL, DATABASE_URL …
 * await stopStarted(handle); // stops only what this call started
 */
export async function servicesUp(options: { log?: Log } = {}): Promise<ServicesHandle> {
  const log = options.log ?? console.log;
  return withLock(log, async () => {
    // Independent services start in parallel: the broker's JVM dominates, the others hide behind it.
    const outcomes = await Promise.allSettled([kafkaUp(log), redisUp(log), postgresUp(log)]);
    const started = outcomes.flatMap((outcome) =>
      outcome.status === 'fulfilled' && outcome.value !== undefined ? [outcome.value] : [],
    );
    const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    if (failures.length > 0) {
      const messages = failures.map((failure: unknown) => (failure instanceof Error ? failure.message : String(failure)));
      throw new ServicesError(messages.join('\n'), { cause: failures[0], started });
    }

    let topics: TopicResult[];
    try {
      topics = await createTopics(servicesConfig.kafka.brokers, PIPELINE_TOPIC_LIST);
    } catch (error) {
      throw new ServicesError(`topics: could not create the pipeline topics: ${explain(error)}`, {
        cause: error,
        started,
      });
    }
    log(`topics: ${topics.map((topic) => `${topic.name}(${topic.actualPartitions}) ${topic.status}`).join(', ')}`);
    for (const topic of topics.filter((entry) => entry.actualPartitions !== entry.partitions)) {
      log(`topics: warning: ${topic.name} has ${topic.actualPartitions} partitions, configured ${topic.partitions}`);
    }
    return { started, topics };
  });
}

/**
 * Stops exactly the processes a `servicesUp()` call started (checked against their command line, so a
 * recycled pid is never signalled). Services that were reused are left alone.
 *
 * @example
 * const handle = await servicesUp();
 * await stopStarted(handle);
 */
export async function stopStarted(handle: Pick<ServicesHandle, 'started'>, options: { log?: Log } = {}): Promise<void> {
  const log = options.log ?? console.log;
  await withLock(log, async () => {
    for (const entry of [...handle.started].reverse()) {
      if (projectPid(entry.service) !== entry.pid) {
        log(`${entry.service}: pid ${entry.pid} is no longer running; nothing to stop`);
        continue;
      }
      await stopService(entry.service, entry.pid, log);
    }
  });
}

/**
 * Stops every service this project started (found through the pid files under .local/), never a service
 * it merely reused such as the machine's own Redis or PostgreSQL.
 *
 * @example
 * await servicesDown(); // same as `npm run services -- down`
 */
export async function servicesDown(options: { log?: Log } = {}): Promise<void> {
  const log = options.log ?? console.log;
  await withLock(log, async () => {
    for (const service of ['kafka', 'redis', 'postgres'] as const) {
      const pid = projectPid(service);
      if (pid === undefined) {
        log(`${service}: nothing to stop (no ${processLabel[service]} started by this project is running)`);
        continue;
      }
      await stopService(service, pid, log);
    }
  });
}

/**
 * Whether each service answers at its configured address, and whether this project started it.
 *
 * @example
 * const allUp = (await servicesStatus()).every((state) => state.up);
 */
export async function servicesStatus(): Promise<ServiceState[]> {
  const { kafka, redis, postgres } = servicesConfig;
  const [kafkaProbe, redisProbe, postgresProbe] = await Promise.all([
    probeKafka(kafka.brokers, 3000),
    probeRedis(redis.url),
    probePostgres(postgres.url),
  ]);
  const state = (service: ServiceName, address: string, probe: Probe): ServiceState => {
    const pid = projectPidAt(service, Number(address.slice(address.lastIndexOf(':') + 1)));
    const up = probe.state === 'up';
    const owner = up ? (pid === undefined ? 'external' : 'project') : pid === undefined ? 'none' : 'project';
    const detail = probe.state === 'up' ? undefined : probe.reason;
    return { service, up, address, owner, ...(pid === undefined ? {} : { pid }), ...(detail ? { detail } : {}) };
  };
  return [
    state('kafka', `${kafka.host}:${kafka.port}`, kafkaProbe),
    state('redis', `${redis.host}:${redis.port}`, redisProbe),
    state('postgres', `${postgres.host}:${postgres.port}`, postgresProbe),
  ];
}

/**
 * Creates the topics that do not exist yet (one request each, so an existing topic never fails the others),
 * then waits until every partition has a leader, so a producer can use them at once. Tests reuse it for
 * their own throwaway topics.
 *
 * @example
 * await createTopics(servicesConfig.kafka.brokers, [{ name: `test-${randomUUID()}`, partitions: 2 }]);
 */
export async function createTopics(
  brokerList: readonly string[],
  topics: readonly TopicSpec[],
): Promise<TopicResult[]> {
  const admin = new Admin({
    clientId: 'services-topics',
    bootstrapBrokers: [...brokerList],
    retries: 3,
    retryDelay: 250,
    timeout: 10_000,
  });
  try {
    const existing = new Set(await admin.listTopics());
    const status = new Map<string, TopicResult['status']>();
    for (const topic of topics) {
      if (existing.has(topic.name)) {
        status.set(topic.name, 'exists');
        continue;
      }
      try {
        // Replication factor left to the broker default (1 on the local single node).
        await admin.createTopics({ topics: [{ topic: topic.name, partitions: topic.partitions }] });
        status.set(topic.name, 'created');
      } catch (error) {
        // Another process created it between our listing and our request.
        if (findErrorBy(error as Error, 'apiId', 'TOPIC_ALREADY_EXISTS') === null) throw error;
        status.set(topic.name, 'exists');
      }
    }

    const names = topics.map((topic) => topic.name);
    let counts = new Map<string, number>();
    const led = await waitUntil(async () => {
      const metadata = await admin.metadata({ topics: names, forceUpdate: true }).catch(() => undefined);
      if (metadata === undefined) return false;
      counts = new Map([...metadata.topics].map(([name, topic]) => [name, topic.partitionsCount]));
      return names.every((name) => {
        const partitionList = metadata.topics.get(name)?.partitions ?? [];
        return partitionList.length > 0 && partitionList.every((partition) => partition.leader >= 0);
      });
    }, 15_000);
    if (!led) throw new ServicesError(`topics ${names.join(', ')} have no partition leaders after 15 s`);

    return topics.map((topic) => ({
      ...topic,
      status: status.get(topic.name) ?? 'exists',
      actualPartitions: counts.get(topic.name) ?? 0,
    }));
  } finally {
    await admin.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------------------------------------

/** Command-line fragments that identify each process we start, checked before signalling a pid. */
const processMarker: Record<ServiceName, string> = {
  kafka: 'kafka.Kafka',
  redis: 'redis-server',
  postgres: paths.postgres.data,
};
const processLabel: Record<ServiceName, string> = { kafka: 'broker', redis: 'redis-server', postgres: 'postgres' };
const pidFile: Record<ServiceName, string> = {
  kafka: paths.kafka.pid,
  redis: paths.redis.pid,
  postgres: paths.postgres.pid,
};

async function kafkaUp(log: Log): Promise<StartedProcess | undefined> {
  const { brokers: brokerList, host, port, controllerPort } = servicesConfig.kafka;
  const address = `${host}:${port}`;
  const ours = projectPidAt('kafka', port);
  const probe = await probeKafka(brokerList, 2000);
  if (probe.state === 'up') {
    log(`kafka: using ${address} (already running${ours === undefined ? '' : `: project broker pid ${ours}`})`);
    return undefined;
  }
  refuseProjectElsewhere('kafka', address, 'KAFKA_BROKERS');
  if (ours !== undefined) {
    // A broker from an earlier `up` that is still starting (or one that never became ready): wait for it.
    log(`kafka: project broker pid ${ours} is running but not answering yet; waiting for it`);
    const began = performance.now();
    await waitForBroker(ours, undefined, projectBroker()); // on timeout it is left running: this call did not start it
    log(`kafka: broker pid ${ours} ready on ${address} after ${seconds(began)} (log ${rel(paths.kafka.log)})`);
    return undefined;
  }
  if (!isLocalHost(host)) {
    throw new ServicesError(`kafka: nothing answers at ${address} (${probe.reason}); it is not local, so not started`);
  }
  for (const busy of [port, controllerPort]) {
    if (await tcpOpen(host, busy)) {
      throw new ServicesError(
        `kafka: ${host}:${busy} is taken by a process that does not answer as a Kafka broker ` +
          `(${probe.reason}); free the port or point KAFKA_BROKERS elsewhere`,
      );
    }
  }

  const began = performance.now();
  const { pid } = await startKafkaBroker({ ...projectBroker(), pidFile: paths.kafka.pid, log });
  log(`kafka: started broker pid ${pid} on ${address} in ${seconds(began)} (log ${rel(paths.kafka.log)})`);
  return { service: 'kafka', pid, address };
}

/** Where one local broker listens and keeps its files: the project's own (`up`) or a test's (OwnBroker). */
export interface KafkaBrokerOptions {
  /** Address clients use (advertised); the broker binds its loopback form. */
  readonly host: string;
  readonly port: number;
  /** KRaft controller listener of the single node. */
  readonly controllerPort: number;
  /** Port advertised to clients, when they reach the broker through a proxy; default `port`. */
  readonly advertisedPort?: number;
  /** Log dir; formatted on first start, reused (data kept) when it already holds meta.properties. */
  readonly dataDir: string;
  /** The broker's stdout and stderr, appended. */
  readonly logFile: string;
  /** Written on every start from these options. */
  readonly propertiesFile: string;
  /** JVM heap (-Xms = -Xmx), MiB; default 512. */
  readonly heapMb?: number;
  /** How long to wait for it to answer; default SERVICES_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /**
   * Own process group, so the broker outlives the process that started it (`npm run services -- up`).
   * Default true; a test's broker says false so that Ctrl-C on the test also stops it.
   */
  readonly detached?: boolean;
  /** Written with the pid right after the spawn (before the wait), removed if the start fails. */
  readonly pidFile?: string;
  readonly log?: Log;
}

/** A broker that {@link startKafkaBroker} started and that answers metadata requests. */
export interface KafkaBrokerProcess {
  readonly pid: number;
  /** The process itself (unref'd: it does not keep the event loop alive); its `exit` says when it is gone. */
  readonly child: ChildProcess;
}

/** The project's broker, as configured by KAFKA_BROKERS (files under .local/kafka). */
function projectBroker(): KafkaBrokerOptions {
  const { host, port, controllerPort } = servicesConfig.kafka;
  return {
    host,
    port,
    controllerPort,
    dataDir: paths.kafka.data,
    logFile: paths.kafka.log,
    propertiesFile: paths.kafka.properties,
    timeoutMs: servicesConfig.timeoutMs,
  };
}

/**
 * Starts one single-node KRaft broker (broker and controller in one JVM) from the Maven-fetched jars and
 * resolves once it answers an Admin metadata request. Formats `dataDir` if it was never formatted; a
 * formatted one is started as it is, so a restart on the same options keeps its topics and records.
 * On failure the half-started process is stopped and the error carries the last lines of its log.
 * It neither checks the ports nor takes the services lock: callers that share a port do (see `kafkaUp`).
 *
 * @example
 * const broker = await startKafkaBroker({
 *   host: '127.0.0.1', port: 19092, controllerPort: 19093,
 *   dataDir: '/tmp/b/data', logFile: '/tmp/b/broker.log', propertiesFile: '/tmp/b/server.properties',
 *   heapMb: 384, detached: false,
 * });
 * broker.child.once('exit', () => console.log('gone'));
 */
export async function startKafkaBroker(options: KafkaBrokerOptions): Promise<KafkaBrokerProcess> {
  const log = options.log ?? (() => undefined);
  await requireJava();
  await ensureKafkaLibs(log);
  mkdirSync(dirname(options.propertiesFile), { recursive: true });
  mkdirSync(dirname(options.logFile), { recursive: true });
  writeFileSync(options.propertiesFile, brokerProperties(options));
  await ensureFormatted(options, log);

  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'java',
      [...brokerJvmOptions(options.heapMb ?? 512), '-cp', classpath(), 'kafka.Kafka', options.propertiesFile],
      { cwd: dirname(options.propertiesFile), detached: options.detached ?? true, stdio: ['ignore', logFd, logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new ServicesError('kafka: could not start java (no pid)');
  if (options.pidFile !== undefined) writeFileSync(options.pidFile, `${pid}\n`);
  const exit = watchExit(child);
  child.unref();

  try {
    await waitForBroker(pid, exit, options);
  } catch (error) {
    // Leave no half-started broker behind (this call started it): the next start begins from a clean state.
    await stopProcess(pid, ['SIGTERM', 'SIGKILL'], 10_000).catch(() => undefined);
    if (options.pidFile !== undefined) rmSync(options.pidFile, { force: true });
    throw error instanceof ServicesError ? new ServicesError(`${error.message}\n(stopped broker pid ${pid})`) : error;
  }
  return { pid, child };
}

/**
 * JVM options of the broker. The heap is fixed: without -Xmx the JVM would size it from the machine's memory.
 * G1 settings as in Kafka's own bin/kafka-run-class.sh.
 */
function brokerJvmOptions(heapMb: number): string[] {
  return [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${paths.kafka.log4j}`,
  ];
}

function classpath(): string {
  return `${paths.kafka.libs}/*`;
}

/** Single node, KRaft: broker and controller in one process, replication factor 1 everywhere. */
function brokerProperties(options: KafkaBrokerOptions): string {
  const { host, port, controllerPort } = options;
  const bind = bindAddress(host);
  const properties: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A fixed voter list: the storage format then needs no --standalone (the two styles do not mix).
    'controller.quorum.voters': `1@${bind}:${controllerPort}`,
    listeners: `PLAINTEXT://${bind}:${port},CONTROLLER://${bind}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${host}:${options.advertisedPort ?? port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': options.dataDir,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Topics come from the project (createTopics), never from a typo in a producer.
    'auto.create.topics.enable': false,
    // No 3 s wait before the first consumer-group rebalance: tests start consuming at once.
    'group.initial.rebalance.delay.ms': 0,
    // 16 MiB instead of 128 MiB: compaction of the few internal topics needs no more.
    'log.cleaner.dedupe.buffer.size': 16 * 1024 * 1024,
  };
  const lines = Object.entries(properties).map(([key, value]) => `${key}=${value}`);
  return `# Generated by scripts/services.ts on every broker start: edit the script, not this file.\n${lines.join('\n')}\n`;
}

/**
 * Copies the broker's runtime classpath into .local/kafka/libs with Maven, only when the folder is missing,
 * incomplete or was fetched from another pom. The first run on a machine downloads about 45 MB to ~/.m2.
 */
async function ensureKafkaLibs(log: Log): Promise<void> {
  const stamp = createHash('sha256').update(readFileSync(paths.kafka.pom)).digest('hex');
  if (readText(paths.kafka.libsStamp)?.trim() === stamp) return;

  await requireTool('mvn', ['-v'], 'mvn not found: fetching the local Kafka broker jars needs Maven 3.6.3+ (apt-get install maven)');
  const began = performance.now();
  // Start empty so jars of an older pom never sit next to the new ones on the classpath.
  rmSync(paths.kafka.libs, { recursive: true, force: true });
  const result = await run('mvn', ['-q', '-B', '-f', paths.kafka.pom, 'dependency:copy-dependencies'], { cwd: ROOT });
  if (result.status !== 0) {
    throw new ServicesError(`kafka: mvn could not fetch the broker jars (it needs Maven Central on first run):\n${result.output}`);
  }
  checkLibs();
  writeFileSync(paths.kafka.libsStamp, `${stamp}\n`);
  const jars = readdirSync(paths.kafka.libs).filter((file) => file.endsWith('.jar'));
  log(`kafka: fetched ${jars.length} broker jars into ${rel(paths.kafka.libs)} in ${seconds(began)}`);
}

/** One SLF4J 1.x binding (log4j2) and nothing that would fight it; otherwise the broker logs nothing or fails. */
function checkLibs(): void {
  const jars = readdirSync(paths.kafka.libs).filter((file) => file.endsWith('.jar'));
  const problems: string[] = [];
  if (!jars.some((jar) => jar.startsWith('kafka_2.13-'))) problems.push('no kafka_2.13 jar');
  if (!jars.some((jar) => jar.startsWith('log4j-slf4j-impl-'))) problems.push('no log4j-slf4j-impl jar');
  const clashing = jars.filter((jar) => /^(slf4j-api-2\.|logback-|log4j-slf4j2-impl-|slf4j-reload4j-|reload4j-|log4j-1\.)/.test(jar));
  if (clashing.length > 0) problems.push(`conflicting logging jars: ${clashing.join(', ')}`);
  const log4jVersions = new Set(
    jars.flatMap((jar) => /^log4j-(?:api|core|slf4j-impl)-(.+)\.jar$/.exec(jar)?.slice(1, 2) ?? []),
  );
  if (log4jVersions.size > 1) problems.push(`several log4j versions: ${[...log4jVersions].join(', ')}`);
  if (problems.length > 0) {
    throw new ServicesError(`kafka: the jars in ${rel(paths.kafka.libs)} are not usable: ${problems.join('; ')}`);
  }
}

/** Formats the data dir once: formatting a used dir fails, and so does starting an unformatted one. */
async function ensureFormatted(options: KafkaBrokerOptions, log: Log): Promise<void> {
  const meta = join(options.dataDir, 'meta.properties');
  const formatted = readText(meta);
  if (formatted !== undefined) {
    const clusterId = /^cluster\.id=(.+)$/m.exec(formatted)?.[1];
    log(`kafka: data dir ${rel(options.dataDir)} already formatted (cluster ${clusterId ?? 'unknown'})`);
    return;
  }
  // No meta.properties means nothing usable is there (an interrupted format at most): start afresh.
  rmSync(options.dataDir, { recursive: true, force: true });
  mkdirSync(options.dataDir, { recursive: true });
  const clusterId = newClusterId();
  const began = performance.now();
  const result = await run(
    'java',
    [
      `-Dlog4j2.configurationFile=${paths.kafka.log4j}`,
      '-cp',
      classpath(),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      options.propertiesFile,
    ],
    { cwd: dirname(options.propertiesFile) },
  );
  if (result.status !== 0) {
    throw new ServicesError(`kafka: formatting ${rel(options.dataDir)} failed:\n${result.output}`);
  }
  log(`kafka: formatted ${rel(options.dataDir)} (cluster ${clusterId}) in ${seconds(began)}`);
}

/** A Kafka cluster id: 16 random bytes in unpadded base64url, as Kafka's Uuid prints them. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka's own generator skips ids starting with '-': they read as options on a command line.
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Ready means an Admin metadata call is answered with the broker in it. The port opens well before that:
 * requests wait unanswered until the broker is unfenced, so an answered metadata call is the real signal.
 */
async function waitForBroker(pid: number, exit: ExitWatch | undefined, options: KafkaBrokerOptions): Promise<void> {
  const { host, port, logFile } = options;
  const brokerList = [`${host}:${port}`];
  const timeoutMs = options.timeoutMs ?? servicesConfig.timeoutMs;
  const ready = await waitUntil(async () => {
    if (exit?.exited !== undefined || (exit === undefined && !isRunning(pid))) {
      throw new ServicesError(
        `kafka: broker pid ${pid} exited while starting (${exit?.exited ?? 'gone'}); last lines of ` +
          `${rel(logFile)}:\n${tail(logFile)}`,
      );
    }
    if (!(await tcpOpen(host, port))) return false;
    return (await probeKafka(brokerList, 1000)).state === 'up';
  }, timeoutMs);
  if (!ready) {
    throw new ServicesError(
      `kafka: broker pid ${pid} not ready on ${host}:${port} after ${timeoutMs / 1000} s. ` +
        `Last lines of ${rel(logFile)}:\n${tail(logFile)}`,
    );
  }
}

async function probeKafka(brokerList: readonly string[], timeoutMs: number): Promise<Probe> {
  const admin = new Admin({
    clientId: 'services-probe',
    bootstrapBrokers: [...brokerList],
    retries: 0,
    timeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return metadata.brokers.size > 0 ? { state: 'up' } : { state: 'down', reason: 'no broker in the metadata yet' };
  } catch (error) {
    return { state: 'down', reason: explain(error) };
  } finally {
    await admin.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------------------

async function redisUp(log: Log): Promise<StartedProcess | undefined> {
  const { url, host, port } = servicesConfig.redis;
  const address = `${host}:${port}`;
  const ours = projectPidAt('redis', port);
  const probe = await probeRedis(url);
  if (probe.state === 'up') {
    log(`redis: using ${address} (${ours === undefined ? 'already running' : `project redis-server pid ${ours}`})`);
    return undefined;
  }
  if (probe.state === 'unusable') {
    throw new ServicesError(`redis: something answers at ${address} but ${probe.reason}: fix REDIS_URL or that server`);
  }
  refuseProjectElsewhere('redis', address, 'REDIS_URL');
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
    mkdirSync(paths.redis.dir, { recursive: true });
    // Throwaway cache for tests: no snapshots, no AOF; daemonized, so it outlives this process.
    const result = await run(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        bindAddress(host),
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'yes',
        '--dir',
        paths.redis.dir,
        '--pidfile',
        paths.redis.pid,
        '--logfile',
        paths.redis.log,
      ],
    );
    if (result.status !== 0) {
      throw new ServicesError(`redis: redis-server failed to start:\n${result.output}${tail(paths.redis.log)}`);
    }
  }
  const ready = await waitUntil(async () => (await probeRedis(url)).state === 'up', 15_000, 100);
  const pid = projectPid('redis');
  if (!ready || pid === undefined) {
    throw new ServicesError(`redis: not answering on ${address} after 15 s; last lines of ${rel(paths.redis.log)}:\n${tail(paths.redis.log)}`);
  }
  if (ours !== undefined) {
    log(`redis: project redis-server pid ${ours} answers on ${address} after ${seconds(began)}`);
    return undefined;
  }
  log(`redis: started redis-server pid ${pid} on ${address} in ${seconds(began)} (log ${rel(paths.redis.log)})`);
  return { service: 'redis', pid, address };
}

async function probeRedis(url: string): Promise<Probe> {
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

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------

async function postgresUp(log: Log): Promise<StartedProcess | undefined> {
  const { url, host, port, database } = servicesConfig.postgres;
  const address = `${host}:${port}`;
  let ours = projectPidAt('postgres', port);
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
  refuseProjectElsewhere('postgres', address, 'DATABASE_URL');
  if (!isLocalHost(host)) {
    throw new ServicesError(`postgres: nothing answers at ${address} (${probe.reason}); it is not local, so not started`);
  }

  const began = performance.now();
  let child: ChildProcess | undefined;
  if (ours === undefined) {
    await refuseTakenPort('postgres', host, port, probe.reason);
    const binaries = findPostgresBinaries();
    if (binaries === undefined) {
      throw new ServicesError(
        `PostgreSQL binaries not found (initdb, postgres on PATH or in /usr/lib/postgresql/*/bin): nothing accepts ` +
          `connections at ${url}, and starting a local one needs them (apt-get install postgresql), ` +
          'or set DATABASE_URL to a running server',
      );
    }
    const owner = postgresOwner();
    await initPostgres(binaries.initdb, owner, log);
    const logFd = openSync(paths.postgres.log, 'a');
    try {
      child = spawn(
        binaries.postgres,
        [
          '-D',
          paths.postgres.data,
          '-p',
          String(port),
          '-c',
          `listen_addresses=${bindAddress(host)}`,
          // TCP only: no socket file that could collide with the machine's own server in /var/run/postgresql.
          '-c',
          'unix_socket_directories=',
        ],
        {
          cwd: paths.postgres.dir,
          detached: true,
          stdio: ['ignore', logFd, logFd],
          ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
        },
      );
    } finally {
      closeSync(logFd);
    }
    if (child.pid === undefined) throw new ServicesError('postgres: could not start postgres (no pid)');
    ours = child.pid;
  }
  const exit = child === undefined ? undefined : watchExit(child);
  child?.unref();

  const pid = ours;
  try {
    const ready = await waitUntil(async () => {
      if (exit?.exited !== undefined || !isRunning(pid)) {
        throw new ServicesError(
          `postgres: pid ${pid} exited while starting (${exit?.exited ?? 'gone'}); last lines of ${rel(paths.postgres.log)}:\n${tail(paths.postgres.log)}`,
        );
      }
      const state = await probePostgres(url);
      return state.state === 'up' || (state.state === 'unusable' && state.code === MISSING_DATABASE);
    }, servicesConfig.timeoutMs, 200);
    if (!ready) {
      throw new ServicesError(
        `postgres: pid ${pid} not accepting connections on ${address} after ${servicesConfig.timeoutMs / 1000} s; ` +
          `last lines of ${rel(paths.postgres.log)}:\n${tail(paths.postgres.log)}`,
      );
    }
  } catch (error) {
    // Only a server this call started is stopped; one from an earlier `up` is left for `down`.
    if (child !== undefined && isRunning(pid)) await stopProcess(pid, ['SIGINT', 'SIGQUIT', 'SIGKILL'], 10_000).catch(() => undefined);
    throw error;
  }
  await ensureDatabase(url);
  if (child === undefined) {
    log(`postgres: project postgres pid ${pid} accepts connections on ${address} after ${seconds(began)}`);
    return undefined;
  }
  log(`postgres: started postgres pid ${pid} on ${address} in ${seconds(began)} (log ${rel(paths.postgres.log)})`);
  return { service: 'postgres', pid, address };
}

const MISSING_DATABASE = '3D000';

/** Connection-level failures and "starting up" mean no usable server yet; any other SQLSTATE means one refuses us. */
async function probePostgres(url: string): Promise<Probe> {
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
async function initPostgres(initdb: string, owner: Owner | undefined, log: Log): Promise<void> {
  if (existsSync(join(paths.postgres.data, 'PG_VERSION'))) {
    log(`postgres: data dir ${rel(paths.postgres.data)} already initialised`);
    return;
  }
  rmSync(paths.postgres.data, { recursive: true, force: true });
  mkdirSync(paths.postgres.data, { recursive: true, mode: 0o700 });
  if (owner !== undefined) {
    chownSync(paths.postgres.dir, owner.uid, owner.gid);
    chownSync(paths.postgres.data, owner.uid, owner.gid);
  }
  const began = performance.now();
  const result = await run(
    initdb,
    ['-D', paths.postgres.data, '-U', servicesConfig.postgres.user, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { cwd: paths.postgres.dir, ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }) },
  );
  if (result.status !== 0) {
    throw new ServicesError(`postgres: initdb failed:\n${result.output}`);
  }
  log(`postgres: initialised ${rel(paths.postgres.data)} in ${seconds(began)}`);
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

// ---------------------------------------------------------------------------------------------------------
// Processes, ports, files
// ---------------------------------------------------------------------------------------------------------

type Probe =
  | { readonly state: 'up' }
  | { readonly state: 'down'; readonly reason: string }
  | { readonly state: 'unusable'; readonly reason: string; readonly code?: string };

interface ExitWatch {
  exited: string | undefined;
}

function watchExit(child: ChildProcess): ExitWatch {
  const watch: ExitWatch = { exited: undefined };
  child.once('exit', (code, signal) => {
    watch.exited = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  child.once('error', (error) => {
    watch.exited = error.message;
  });
  return watch;
}

/** The pid in the service's pid file, if that process is alive and is what we started; a stale file goes. */
function projectPid(service: ServiceName): number | undefined {
  const file = pidFile[service];
  const pid = Number.parseInt(readText(file)?.split('\n')[0]?.trim() ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const commandLine = readText(`/proc/${pid}/cmdline`)?.replaceAll('\0', ' ');
  if (isRunning(pid) && (commandLine === undefined || commandLine.includes(processMarker[service]))) return pid;
  // PostgreSQL checks its own stale postmaster.pid; ours we remove.
  if (service !== 'postgres') rmSync(file, { force: true });
  return undefined;
}

/** The port the project's running process of `service` listens on, when it can be told. */
function projectPort(service: ServiceName, pid: number): number | undefined {
  const text =
    service === 'kafka'
      ? // written just before the broker starts, under the lock, so it describes the running broker
        /^listeners=.*PLAINTEXT:\/\/[^,]*:(\d+)/m.exec(readText(paths.kafka.properties) ?? '')?.[1]
      : service === 'redis'
        ? // redis-server's process title: "redis-server 127.0.0.1:6390"
          /:(\d+)/.exec(readText(`/proc/${pid}/cmdline`) ?? '')?.[1]
        : // postmaster.pid: pid, data dir, start time, port, …
          readText(paths.postgres.pid)?.split('\n')[3];
  const port = Number.parseInt(text ?? '', 10);
  return Number.isInteger(port) ? port : undefined;
}

/** The project's process of `service`, if it runs and listens on `port` (or its port cannot be told). */
function projectPidAt(service: ServiceName, port: number): number | undefined {
  const pid = projectPid(service);
  if (pid === undefined) return undefined;
  const actual = projectPort(service, pid);
  return actual === undefined || actual === port ? pid : undefined;
}

/**
 * One data dir and one pid file per service: a second project process for another address would fight the
 * first (Kafka locks its data dir, PostgreSQL too, and the pid file would lose track of one of them).
 */
function refuseProjectElsewhere(service: ServiceName, address: string, variable: string): void {
  const pid = projectPid(service);
  if (pid === undefined) return;
  const actual = projectPort(service, pid);
  if (actual === undefined || address.endsWith(`:${actual}`)) return;
  throw new ServicesError(
    `${service}: the project's ${processLabel[service]} (pid ${pid}) listens on port ${actual}, not on ${address} ` +
      `(${variable}); stop it first (npm run services -- down) or point ${variable} at it`,
  );
}

async function stopService(service: ServiceName, pid: number, log: Log): Promise<void> {
  const began = performance.now();
  // PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM would wait for every client to leave).
  const signals: NodeJS.Signals[] = service === 'postgres' ? ['SIGINT', 'SIGQUIT', 'SIGKILL'] : ['SIGTERM', 'SIGKILL'];
  const how = await stopProcess(pid, signals, service === 'kafka' ? 30_000 : 15_000);
  if (service !== 'postgres') rmSync(pidFile[service], { force: true });
  log(`${service}: stopped ${processLabel[service]} pid ${pid} (${how}) in ${seconds(began)}`);
}

/** Sends each signal in turn, waiting for the process to go; the first gets `graceMs`, the others 5 s. */
async function stopProcess(pid: number, signals: readonly NodeJS.Signals[], graceMs: number): Promise<string> {
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

function isRunning(pid: number): boolean {
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

/**
 * Serialises `up`/`down` across processes (a developer's `up` and jest's global setup at the same time
 * would otherwise both start a broker on one data dir). A lock whose holder died is taken over.
 */
async function withLock<T>(log: Log, action: () => Promise<T>): Promise<T> {
  mkdirSync(LOCAL, { recursive: true });
  const deadline = Date.now() + servicesConfig.timeoutMs + 60_000;
  let told = false;
  for (;;) {
    try {
      writeFileSync(paths.lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(readText(paths.lock) ?? '', 10);
    if (!Number.isInteger(holder) || !isRunning(holder)) {
      rmSync(paths.lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new ServicesError(`services: ${rel(paths.lock)} is held by pid ${holder}; remove it if that is not an \`up\``);
    }
    if (!told) log(`services: waiting for pid ${holder} (another up/down) to finish`);
    told = true;
    await sleep(250);
  }
  try {
    return await action();
  } finally {
    rmSync(paths.lock, { force: true });
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

function tcpOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
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

async function requireJava(): Promise<void> {
  const result = await run('java', ['-version']);
  if (result.error !== undefined) {
    throw new ServicesError('java not found: the local Kafka broker needs Java 17+ (apt-get install openjdk-17-jre-headless)');
  }
  const [, first, second] = /version "(\d+)(?:\.(\d+))?/.exec(result.output) ?? [];
  const major = first === '1' ? Number(second) : Number(first);
  if (!(major >= 17)) {
    throw new ServicesError(`java ${major || 'of unknown version'} found: the local Kafka broker needs Java 17+`);
  }
}

async function requireTool(command: string, args: readonly string[], message: string): Promise<void> {
  if ((await run(command, args)).error !== undefined) throw new ServicesError(message);
}

/**
 * Never start a second server on a port something already holds: if it did not answer our probe, the
 * probe's reason (refused password, wrong protocol…) is the thing to fix, not a missing server.
 */
async function refuseTakenPort(service: ServiceName, host: string, port: number, reason: string): Promise<void> {
  if (await tcpOpen(host, port)) {
    throw new ServicesError(`${service}: ${host}:${port} is open but did not answer as expected (${reason}); not starting another`);
  }
}

interface RunResult {
  readonly status: number | null;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
  readonly error?: Error;
}

/**
 * Runs a command to completion without blocking the event loop: services start in parallel, and a
 * spawnSync of mvn would stall the other services' probes until their connect timeouts fire.
 */
function run(
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

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir !== '' && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

/** Listen on the loopback address itself: Node may resolve `localhost` to ::1 while Java binds 127.0.0.1. */
function bindAddress(host: string): string {
  return host === 'localhost' ? '127.0.0.1' : host;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of a log (reads at most its last 16 KiB). */
function tail(file: string, lines = 40): string {
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

function rel(file: string): string {
  return relative(ROOT, file) || file;
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // @platformatic/kafka wraps the useful part (ECONNREFUSED, a timeout…) in AggregateErrors and causes.
  const inner =
    error instanceof AggregateError ? error.errors.find((item: unknown) => item instanceof Error) : error.cause;
  const message = error.message.replace(/\.$/, '');
  return inner instanceof Error && inner !== error ? `${message}: ${explain(inner)}` : message;
}

// ---------------------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------------------

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up':
      await servicesUp();
      return 0;
    case 'down':
      await servicesDown();
      return 0;
    case 'status': {
      const states = await servicesStatus();
      for (const state of states) {
        const owner = state.owner === 'project' ? `project, pid ${state.pid}` : state.owner;
        const detail = state.detail === undefined ? '' : `: ${state.detail}`;
        console.log(
          `${state.service.padEnd(8)} ${(state.up ? 'up' : 'down').padEnd(4)} ${state.address.padEnd(15)} (${owner})${detail}`,
        );
      }
      return states.every((state) => state.up) ? 0 : 1;
    }
    default:
      console.error('usage: node scripts/services.ts up | down | status');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof ServicesError ? error.message : error);
      process.exit(1);
    },
  );
}
