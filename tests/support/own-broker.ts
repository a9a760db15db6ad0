/**
 * A Kafka broker of the test's own: a single-node KRaft broker on spare ports with a fresh temporary data
 * dir, started from the same jars and settings as the project's broker (`startKafkaBroker` in
 * scripts/services/kafka.ts). A test that kills or restarts "the broker" does it to this one, never to the shared
 * broker on 127.0.0.1:9092 that every other test and engineer uses.
 *
 * No Jest globals in here: a fault-injection script run from the command line imports it too. A process
 * `exit` hook SIGKILLs whatever broker is still running, so a crashed test leaves no JVM behind (the data
 * dir of a crashed run stays under the OS temp dir, named `own-broker-*`).
 *
 * @example
 * const broker = await OwnBroker.start({ topics: [{ name: 'raw-logs', partitions: 6 }] });
 * try {
 *   const publisher = new KafkaPublisher({ ...readConfig(kafkaEnv), KAFKA_BROKERS: [broker.bootstrap] }, 'test');
 *   await broker.kill();      // SIGKILL, as a crashed or patched MSK broker
 *   await broker.restart();   // same port, same data: resolves when it answers again
 * } finally {
 *   await broker.stop();      // SIGTERM, then SIGKILL; removes the data dir
 * }
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTopics, pipelineTopicList } from '#shared/kafka/topics.ts';
import { type KafkaBrokerOptions, startKafkaBroker } from '../../scripts/services/index.ts';
import { freePort } from './net.ts';

export interface OwnBrokerOptions {
  /** Broker port; default a free one. The controller always takes a free port of its own. */
  port?: number;
  /**
   * Topics to create once it is up (auto-creation is off, as on the project's broker). Default: the
   * pipeline's four topics with their configured partition counts; `[]` for none.
   */
  topics?: { name: string; partitions: number }[];
  /** JVM heap, MiB (default 384: a test broker holds little). */
  heapMb?: number;
  /**
   * Port the broker advertises to clients instead of its own, when they must reach it through a proxy
   * (`SilentProxy`); `bootstrap` then names that port. Default: its own port.
   */
  advertisedPort?: number;
  /** Progress lines (start, kill, restart, timings); default silent. */
  log?: (line: string) => void;
}

/** Brokers of this process still running, killed on exit so that none outlives a crashed test. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class OwnBroker {
  /** `127.0.0.1:<port>` (the advertised port, if one was given): what KAFKA_BROKERS or a client's bootstrapBrokers takes. */
  readonly bootstrap: string;
  readonly port: number;
  /** Holds the data dir, the broker's log (`broker.log`) and its server.properties. */
  readonly dir: string;
  readonly logFile: string;
  readonly #options: KafkaBrokerOptions;
  readonly #log: (line: string) => void;
  #child: ChildProcess | undefined;

  private constructor(options: KafkaBrokerOptions, dir: string, log: (line: string) => void) {
    this.#options = options;
    this.#log = log;
    this.port = options.port;
    this.bootstrap = `${options.host}:${options.advertisedPort ?? options.port}`;
    this.dir = dir;
    this.logFile = options.logFile;
  }

  /**
   * Starts a broker on spare ports with a fresh data dir, creates the topics, and resolves when it answers
   * and every partition has a leader.
   */
  static async start(options: OwnBrokerOptions = {}): Promise<OwnBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'own-broker-'));
    const port = options.port ?? (await freePort());
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    const brokerOptions: KafkaBrokerOptions = {
      host: '127.0.0.1',
      port,
      controllerPort,
      dataDir: join(dir, 'data'),
      logFile: join(dir, 'broker.log'),
      propertiesFile: join(dir, 'server.properties'),
      heapMb: options.heapMb ?? 384,
      ...(options.advertisedPort === undefined ? {} : { advertisedPort: options.advertisedPort }),
      timeoutMs: 90_000,
      // Same process group as the test: Ctrl-C on it stops the broker too.
      detached: false,
    };
    const broker = new OwnBroker(brokerOptions, dir, options.log ?? (() => undefined));
    try {
      await broker.#spawn('started');
      const topics = options.topics ?? pipelineTopicList().map(({ name, partitions }) => ({ name, partitions }));
      // Through the advertised address: with a proxy in front, that is where metadata sends the admin client.
      if (topics.length > 0) await createTopics([broker.bootstrap], topics);
    } catch (error) {
      await broker.stop();
      throw error;
    }
    return broker;
  }

  /** The broker's pid, or undefined while it is down. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the broker process runs (it may still be starting or already shutting down). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /**
   * Sends `signal` (default SIGKILL: a crash, no clean shutdown) and resolves when the process is gone.
   * Resolves at once when it is not running.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const began = performance.now();
    const gone = exited(child);
    child.kill(signal);
    await gone;
    this.#log(`own broker ${this.bootstrap}: pid ${child.pid} gone after ${signal} in ${elapsed(began)}`);
  }

  /**
   * SIGSTOP: the broker stays up but answers nothing. Its sockets stay open, so clients connect and wait,
   * as they do on a broker whose host went away without closing its connections. `thaw()` resumes it.
   */
  freeze(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error(`own broker ${this.bootstrap} is not running`);
    process.kill(pid, 'SIGSTOP');
    this.#log(`own broker ${this.bootstrap}: pid ${pid} frozen (SIGSTOP)`);
  }

  /** SIGCONT after `freeze()`: it answers again at once (nothing restarts). */
  thaw(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error(`own broker ${this.bootstrap} is not running`);
    process.kill(pid, 'SIGCONT');
    this.#log(`own broker ${this.bootstrap}: pid ${pid} thawed (SIGCONT)`);
  }

  /**
   * Starts the broker again on the same ports and data dir (topics and records survive, as on a rolled MSK
   * broker) and resolves when it answers metadata requests again. A broker still running is first stopped
   * with SIGTERM.
   */
  async restart(): Promise<void> {
    if (this.#child !== undefined) await this.#terminate();
    await this.#spawn('restarted');
  }

  /** SIGTERM (SIGKILL after 15 s), then removes the data dir. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.#terminate();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const gone = exited(child);
    child.kill('SIGTERM');
    // A frozen broker would hold SIGTERM until continued.
    child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      await gone;
    } finally {
      clearTimeout(timer);
    }
  }

  async #spawn(what: string): Promise<void> {
    const began = performance.now();
    const { child } = await startKafkaBroker(this.#options);
    this.#child = child;
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    // startKafkaBroker resolves only once it answers; an exit between its check and our listener is caught here.
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(child);
      this.#child = undefined;
      throw new Error(`own broker ${this.bootstrap} exited right after starting; see ${this.logFile}`);
    }
    this.#log(`own broker ${this.bootstrap}: ${what} pid ${child.pid} in ${elapsed(began)} (log ${this.logFile})`);
  }
}

/**
 * Resolves when `child` has exited (at once if it already has). The child is unref'd so that a live broker
 * never keeps a test process alive; while someone waits for its exit it is ref'd, or a script whose only
 * pending work is that wait would end before it.
 */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.ref();
  return new Promise((resolve) =>
    child.once('exit', () => {
      child.unref();
      resolve();
    }),
  );
}

function elapsed(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
