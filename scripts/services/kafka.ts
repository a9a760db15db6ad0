/**
 * The local Kafka broker: a single-node KRaft broker (broker and controller in one JVM) run from the
 * Maven-fetched jars (kafka-libs.ts), its data, log and pid file under .local/kafka. Tests start brokers of
 * their own on other ports with the same {@link startKafkaBroker}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Admin } from '@platformatic/kafka';
import { readConfig } from '#shared/config.ts';
import { type ServicesConfig, servicesEnv } from './env.ts';
import { brokerJvmOptions, classpath, ensureKafkaLibs, log4jOption, requireJava } from './kafka-libs.ts';
import {
  bindAddress,
  type ExitWatch,
  explain,
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
  tcpOpen,
  waitUntil,
  watchExit,
} from './process.ts';
import { type ProjectProcess, projectPidAt, refuseProjectElsewhere } from './project.ts';

const DIR = join(LOCAL, 'kafka');
const paths = {
  data: join(DIR, 'data'),
  log: join(DIR, 'broker.log'),
  pid: join(DIR, 'broker.pid'),
  properties: join(DIR, 'server.properties'),
} as const;

/** The project's broker process (`npm run services -- up`). */
export const kafkaProcess: ProjectProcess = {
  service: 'kafka',
  label: 'broker',
  marker: 'kafka.Kafka',
  pidFile: paths.pid,
  ownsPidFile: true,
  stopSignals: ['SIGTERM', 'SIGKILL'],
  graceMs: 30_000,
  // Written just before the broker starts, under the lock, so it describes the running broker.
  port: () => portOf(/^listeners=.*PLAINTEXT:\/\/[^,]*:(\d+)/m.exec(readText(paths.properties) ?? '')?.[1]),
};

function portOf(text: string | undefined): number | undefined {
  const port = Number.parseInt(text ?? '', 10);
  return Number.isInteger(port) ? port : undefined;
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
  /** How long to wait for it to answer; default SERVICES_TIMEOUT_MS (90 s unless set), read when it starts. */
  readonly timeoutMs?: number;
  /**
   * Own process group, so the broker outlives the process that started it (`npm run services -- up`).
   * Default true; a test's broker says false so that Ctrl-C on the test also stops it.
   */
  readonly detached?: boolean;
  /** Written with the pid right after the spawn (before the wait), removed if the start fails. */
  readonly pidFile?: string;
  readonly log?: LineLog;
}

/** A broker that {@link startKafkaBroker} started and that answers metadata requests. */
export interface KafkaBrokerProcess {
  readonly pid: number;
  /** The process itself (unref'd: it does not keep the event loop alive); its `exit` says when it is gone. */
  readonly child: ChildProcess;
}

/** Makes a broker answer at `config.kafka`: reuses one that does, else starts the project's (local only). */
export async function kafkaUp(config: ServicesConfig, log: LineLog): Promise<StartedProcess | undefined> {
  const { brokers, host, port, controllerPort } = config.kafka;
  const address = `${host}:${port}`;
  const ours = projectPidAt(kafkaProcess, port);
  const probe = await probeKafka(brokers, 2000);
  if (probe.state === 'up') {
    log(`kafka: using ${address} (already running${ours === undefined ? '' : `: project broker pid ${ours}`})`);
    return undefined;
  }
  refuseProjectElsewhere(kafkaProcess, address, 'KAFKA_BROKERS');
  if (ours !== undefined) {
    // A broker from an earlier `up` that is still starting (or one that never became ready): wait for it.
    log(`kafka: project broker pid ${ours} is running but not answering yet; waiting for it`);
    const began = performance.now();
    await waitForBroker(ours, undefined, projectBroker(config)); // on timeout it is left running: this call did not start it
    log(`kafka: broker pid ${ours} ready on ${address} after ${seconds(began)} (log ${rel(paths.log)})`);
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
  const { pid } = await startKafkaBroker({ ...projectBroker(config), pidFile: paths.pid, log });
  log(`kafka: started broker pid ${pid} on ${address} in ${seconds(began)} (log ${rel(paths.log)})`);
  return { service: 'kafka', pid, address };
}

/** The project's broker, as configured by KAFKA_BROKERS (files under .local/kafka). */
function projectBroker(config: ServicesConfig): KafkaBrokerOptions {
  const { host, port, controllerPort } = config.kafka;
  return {
    host,
    port,
    controllerPort,
    dataDir: paths.data,
    logFile: paths.log,
    propertiesFile: paths.properties,
    timeoutMs: config.timeoutMs,
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
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs(); // an invalid SERVICES_TIMEOUT_MS fails before the spawn
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
      [...brokerJvmOptions(options.heapMb ?? 512), '-cp', classpath, 'kafka.Kafka', options.propertiesFile],
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
    await waitForBroker(pid, exit, { ...options, timeoutMs });
  } catch (error) {
    // Leave no half-started broker behind (this call started it): the next start begins from a clean state.
    await stopProcess(pid, ['SIGTERM', 'SIGKILL'], 10_000).catch(() => undefined);
    if (options.pidFile !== undefined) rmSync(options.pidFile, { force: true });
    throw error instanceof ServicesError ? new ServicesError(`${error.message}\n(stopped broker pid ${pid})`) : error;
  }
  return { pid, child };
}

const timeoutEnv = servicesEnv.pick({ SERVICES_TIMEOUT_MS: true });

/** SERVICES_TIMEOUT_MS as process.env has it now (90 s unless set). */
function defaultTimeoutMs(): number {
  return readConfig(timeoutEnv, process.env).SERVICES_TIMEOUT_MS;
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
  return `# Generated by scripts/services/kafka.ts on every broker start: edit the script, not this file.\n${lines.join('\n')}\n`;
}

/** Formats the data dir once: formatting a used dir fails, and so does starting an unformatted one. */
async function ensureFormatted(options: KafkaBrokerOptions, log: LineLog): Promise<void> {
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
    [log4jOption, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', options.propertiesFile],
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
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs();
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

/** Whether a broker of `brokerList` answers a metadata request within `timeoutMs`. */
export async function probeKafka(brokerList: readonly string[], timeoutMs: number): Promise<Probe> {
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
