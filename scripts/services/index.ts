/**
 * The real services the pipeline and its integration tests need, without Docker: a single-node Apache Kafka
 * broker (KRaft) run from Maven Central jars, Redis, PostgreSQL, and the pipeline's Kafka topics.
 * `cli.ts` is the command line (`npm run services -- up|down|status`); this is the API behind it.
 *
 * A service that already answers at its configured address is used as it is, whoever started it: that is how
 * the machine's own Redis and PostgreSQL are shared, and why a second `up` takes about a second. Everything
 * this creates lives under `.local/` (gitignored): jars, data, logs, pid files. Each call reads its
 * configuration from `env` (default `process.env`, read at call time); importing reads nothing.
 */
import { createTopics, type TopicResult } from '#shared/kafka/topics.ts';
import { servicesConfig } from './env.ts';
import { kafkaProcess, kafkaUp, probeKafka } from './kafka.ts';
import { postgresProcess, postgresUp, probePostgres } from './postgres.ts';
import { explain, type LineLog, type Probe, type ServiceName, ServicesError, type StartedProcess } from './process.ts';
import { type ProjectProcess, projectPid, projectPidAt, stopProjectProcess, withLock } from './project.ts';
import { probeRedis, redisProcess, redisUp } from './redis.ts';

export { type ServicesConfig, servicesConfig } from './env.ts';
export { type KafkaBrokerOptions, type KafkaBrokerProcess, startKafkaBroker } from './kafka.ts';
export { type LineLog, type ServiceName, ServicesError, type StartedProcess, tcpOpen } from './process.ts';

/** Where to read the configuration, and where progress lines go (default `console.log`). */
export interface ServicesOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: LineLog;
}

/** What `servicesUp()` did: the processes it started (empty when it reused everything) and the topics. */
export interface ServicesHandle {
  readonly started: readonly StartedProcess[];
  readonly topics: readonly TopicResult[];
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

const projectProcesses: readonly ProjectProcess[] = [kafkaProcess, redisProcess, postgresProcess];

/**
 * Makes Kafka, Redis and PostgreSQL answer at their configured addresses and creates the pipeline topics.
 * Reuses whatever already answers; starts (and returns) only what was missing. Safe to call concurrently
 * from several processes: a lock file under .local/ serialises them.
 *
 * @example
 * const handle = await servicesUp({ env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:9092' } });
 * // … run against the brokers, REDIS_URL, DATABASE_URL …
 * await stopStarted(handle); // stops only what this call started
 */
export async function servicesUp(options: ServicesOptions = {}): Promise<ServicesHandle> {
  const log = options.log ?? console.log;
  const config = servicesConfig(options.env);
  return withLock(log, config.timeoutMs, async () => {
    // Independent services start in parallel: the broker's JVM dominates, the others hide behind it.
    const outcomes = await Promise.allSettled([kafkaUp(config, log), redisUp(config, log), postgresUp(config, log)]);
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
      topics = await createTopics(config.kafka.brokers, config.topics);
    } catch (error) {
      throw new ServicesError(`topics: could not create the pipeline topics: ${explain(error)}`, { cause: error, started });
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
export async function stopStarted(handle: Pick<ServicesHandle, 'started'>, options: ServicesOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  await withLock(log, servicesConfig(options.env).timeoutMs, async () => {
    for (const entry of [...handle.started].reverse()) {
      const owned = projectProcesses.find((candidate) => candidate.service === entry.service);
      if (owned === undefined || projectPid(owned) !== entry.pid) {
        log(`${entry.service}: pid ${entry.pid} is no longer running; nothing to stop`);
        continue;
      }
      await stopProjectProcess(owned, entry.pid, log);
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
export async function servicesDown(options: ServicesOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  await withLock(log, servicesConfig(options.env).timeoutMs, async () => {
    for (const owned of projectProcesses) {
      const pid = projectPid(owned);
      if (pid === undefined) {
        log(`${owned.service}: nothing to stop (no ${owned.label} started by this project is running)`);
        continue;
      }
      await stopProjectProcess(owned, pid, log);
    }
  });
}

/**
 * Whether each service answers at its configured address, and whether this project started it.
 *
 * @example
 * const allUp = (await servicesStatus()).every((state) => state.up);
 */
export async function servicesStatus(options: Pick<ServicesOptions, 'env'> = {}): Promise<ServiceState[]> {
  const { kafka, redis, postgres } = servicesConfig(options.env);
  const [kafkaProbe, redisProbe, postgresProbe] = await Promise.all([
    probeKafka(kafka.brokers, 3000),
    probeRedis(redis.url),
    probePostgres(postgres.url),
  ]);
  const state = (owned: ProjectProcess, host: string, port: number, probe: Probe): ServiceState => {
    const pid = projectPidAt(owned, port);
    const up = probe.state === 'up';
    const owner = up ? (pid === undefined ? 'external' : 'project') : pid === undefined ? 'none' : 'project';
    const detail = probe.state === 'up' ? undefined : probe.reason;
    const address = `${host}:${port}`;
    return { service: owned.service, up, address, owner, ...(pid === undefined ? {} : { pid }), ...(detail ? { detail } : {}) };
  };
  return [
    state(kafkaProcess, kafka.host, kafka.port, kafkaProbe),
    state(redisProcess, redis.host, redis.port, redisProbe),
    state(postgresProcess, postgres.host, postgres.port, postgresProbe),
  ];
}
