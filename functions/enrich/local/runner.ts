/**
 * Local stand-in for the Lambda Kafka event source mapping (LocalStack's free tier has none): a consumer group
 * on `raw-logs` that builds the same event AWS would (SelfManagedKafka form: base64 key and value, headers as
 * byte arrays), in batches of up to `batchSize` records or `batchWindowMs` after the first record, and invokes
 * the enrich function.
 *
 * Like the mapping: offsets are committed only after the invocation succeeded; a failed batch is retried
 * with backoff, never skipped, and nothing after it in its partition is processed meanwhile (per-partition
 * order holds; other partitions go on, as the mapping's pollers do);
 * with `{ batchItemFailures }` the records before each partition's first failure are committed and the rest
 * retried. Several runners (processes) with the same group id share the partitions.
 */
import { hostname } from 'node:os';
import { Consumer, type Message, MessagesStreamFallbackModes, MessagesStreamModes, type MessagesStream } from '@platformatic/kafka';
import { kafkaEnv, readConfig, topicsEnv } from '#shared/config.ts';
import { connectionOptions, resolveBrokers } from '#shared/kafka/connection.ts';
import { logger } from '#shared/observability.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../dependencies.ts';
import { PrometheusEnrichMetrics } from '../src/adapters/prometheus-metrics.ts';
import type { EnrichFunction } from '../src/enrich-handler.ts';
import type { KafkaBatchResponse, KafkaEvent, KafkaEventRecord } from '../src/kafka-event.ts';
import type { EventPublisher } from '#shared/kafka/publisher.ts';

export interface EnrichRunnerOptions {
  env?: NodeJS.ProcessEnv;
  /** Source topic; default RAW_TOPIC. */
  topic?: string;
  groupId?: string;
  /** Records per invocation (mapping's BatchSize); default 100. */
  batchSize?: number;
  /** Wait after the first record of a batch (mapping's MaximumBatchingWindowInSeconds); default 500 ms. */
  batchWindowMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Where a new consumer group starts (mapping's StartingPosition); default earliest (TRIM_HORIZON). */
  startFrom?: 'earliest' | 'latest';
  /** Publisher for the enrich dependencies (default: KafkaPublisher from the environment). */
  publisher?: EventPublisher;
  /** A ready enrich function; when absent, the runner builds its own dependencies (with Prometheus metrics). */
  enrich?: EnrichFunction;
  metrics?: PrometheusEnrichMetrics;
}

export interface RunnerStats {
  /** Invocations that succeeded. */
  batches: number;
  /** Records of the invocations that succeeded. */
  records: number;
  /** Invocations that threw or reported item failures (each retry counts). */
  failedInvocations: number;
  lastError: string | undefined;
  /** Records received and not yet committed. */
  pending: number;
}

export interface EnrichRunner {
  stop(): Promise<void>;
  readonly stats: RunnerStats;
  /** The dependencies the runner built (absent when an enrich function was given). */
  readonly dependencies: EnrichDependencies | undefined;
  readonly metrics: PrometheusEnrichMetrics;
  /** Records behind the end of each assigned partition (`<topic>-<partition>` → lag). */
  lag(): Promise<Record<string, number>>;
  /** The partitions the consumer group currently gives this runner (`<topic>-<partition>`). */
  assignedPartitions(): string[];
}

/**
 * @example
 * const runner = await startEnrichRunner({ topic: 'raw-logs', groupId: 'enrich-local' });
 * // ... later
 * await runner.stop();
 */
export async function startEnrichRunner(options: EnrichRunnerOptions = {}): Promise<EnrichRunner> {
  const env = options.env ?? process.env;
  const kafka = readConfig(kafkaEnv, env);
  const topic = options.topic ?? readConfig(topicsEnv, env).RAW_TOPIC;
  const groupId = options.groupId ?? 'enrich-local';
  const batchSize = options.batchSize ?? 100;
  const batchWindowMs = options.batchWindowMs ?? 500;
  const retryInitialMs = options.retryInitialMs ?? 100;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  const metrics = options.metrics ?? new PrometheusEnrichMetrics();
  const dependencies =
    options.enrich === undefined
      ? createEnrichDependencies({ env, metrics, ...(options.publisher === undefined ? {} : { publisher: options.publisher }) })
      : undefined;
  const enrich = options.enrich ?? (dependencies as EnrichDependencies).enrich;
  const bootstrapServers = (await resolveBrokers(kafka)).join(',');

  const consumer = new Consumer({
    ...(await connectionOptions(kafka, `enrich-runner-${hostname()}-${process.pid}`)),
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    rebalanceTimeout: 20_000,
    maxWaitTime: Math.min(batchWindowMs, 500),
    // The group coordinator can be loading right after a broker starts: be patient here, unlike producers.
    retries: 20,
    retryDelay: 250,
  });
  const stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> = await consumer.consume({
    topics: [topic],
    autocommit: false,
    mode: MessagesStreamModes.COMMITTED,
    // Small per-partition fetches interleave the partitions in the stream. With the client's default (1 MiB)
    // a backlog arrives one partition at a time (thousands of records of partition 0, then of 1, …), so
    // the backpressure limit is reached while only one lane has work and the others sit idle.
    maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    fallbackMode: options.startFrom === 'latest' ? MessagesStreamFallbackModes.LATEST : MessagesStreamFallbackModes.EARLIEST,
  });

  const stats: RunnerStats = { batches: 0, records: 0, failedInvocations: 0, lastError: undefined, pending: 0 };
  // One lane per partition, like the mapping's pollers: a lane invokes the function for its own partition's
  // records, one batch at a time (per-partition order holds), while lanes run side by side. Their produce
  // calls meet in the publisher, which merges concurrent sends.
  const lanes = new Map<number, Lane>();
  let running = true;
  // Backpressure: stop fetching while about two batches per assigned partition are waiting. (Counting
  // only the lanes seen so far would throttle the first fetches, which often carry one partition at a time,
  // to the speed of a single lane.)
  const assignedCount = () => (consumer.assignments ?? []).reduce((total, assignment) => total + assignment.partitions.length, 0);
  const pauseAt = () => batchSize * 2 * Math.max(assignedCount(), lanes.size, 1);
  // Offset commits in flight. A lane does not wait for its commit before the next batch: the broker serves
  // a connection's requests in order, so an awaited commit queues behind the consumer's long-poll fetch
  // and capped a lane at a few batches a second. Commits still follow only successful invocations, and the
  // stream merges them per partition (highest offset wins), so at-least-once holds; stop() awaits them.
  const commits = new Set<Promise<void>>();
  const track = (commit: Promise<void>) => {
    commits.add(commit);
    void commit.finally(() => commits.delete(commit));
  };

  const laneOf = (partition: number): Lane => {
    let lane = lanes.get(partition);
    if (lane === undefined) {
      lane = { partition, buffer: [], active: undefined, wake: undefined, wakeOnData: false };
      lanes.set(partition, lane);
    }
    return lane;
  };
  const buffered = () => {
    let total = 0;
    for (const lane of lanes.values()) total += lane.buffer.length;
    return total;
  };

  stream.on('data', (message) => {
    const lane = laneOf(message.partition);
    lane.buffer.push(message);
    stats.pending = buffered();
    if (stats.pending >= pauseAt() && !stream.isPaused()) {
      stream.pause();
      // No more records arrive while paused: a lane waiting out its batching window would only stall.
      for (const waiting of lanes.values()) signal(waiting, true);
    }
    if (lane.active === undefined) lane.active = runLane(lane);
    else if (lane.buffer.length >= batchSize) signal(lane, true);
  });
  stream.on('error', (error) => {
    stats.lastError = String(error);
    logger.error('enrich runner consumer error', { error });
  });

  async function runLane(lane: Lane): Promise<void> {
    try {
      while (running && lane.buffer.length > 0) {
        // Batching window: from the first buffered record, unless the batch is already full.
        if (lane.buffer.length < batchSize && !stream.isPaused()) await sleep(lane, batchWindowMs, true);
        if (!running) break;
        let batch = lane.buffer.splice(0, batchSize);
        stats.pending = buffered();
        if (stream.isPaused() && stats.pending < pauseAt()) stream.resume();
        let delay = retryInitialMs;
        while (running && batch.length > 0) {
          const outcome = await invoke(enrich, toKafkaEvent(batch, bootstrapServers));
          const done = outcome.ok ? batch : committable(batch, outcome.failures);
          if (done.length > 0) track(commit(done));
          if (outcome.ok) {
            stats.batches++;
            stats.records += batch.length;
            break;
          }
          stats.failedInvocations++;
          stats.lastError = outcome.error;
          batch = batch.filter((message) => !done.includes(message));
          logger.warn('enrich batch failed; retrying', { partition: lane.partition, records: batch.length, retryInMs: delay, error: outcome.error });
          await sleep(lane, delay, false);
          delay = Math.min(delay * 2, retryMaxMs);
        }
      }
    } finally {
      lane.active = undefined;
    }
  }

  return {
    stats,
    dependencies,
    metrics,
    async stop() {
      running = false;
      const active = [...lanes.values()].flatMap((lane) => (lane.active === undefined ? [] : [lane.active]));
      for (const lane of lanes.values()) signal(lane, false);
      await Promise.all(active);
      await Promise.all([...commits]);
      await stream.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      await dependencies?.close();
    },
    assignedPartitions() {
      return (consumer.assignments ?? []).flatMap((assignment) => assignment.partitions.map((partition) => `${assignment.topic}-${partition}`));
    },
    async lag() {
      const lags = await consumer.getLag({ topics: [topic] });
      const out: Record<string, number> = {};
      for (const [name, partitions] of lags) {
        partitions.forEach((value, partition) => {
          if (value >= 0n) out[`${name}-${partition}`] = Number(value);
        });
      }
      for (const [key, value] of Object.entries(out)) {
        const [, partition] = /-(\d+)$/.exec(key) ?? [];
        metrics.consumerLag.set({ topic, partition: partition ?? '' }, value);
      }
      return out;
    },
  };
}

const FETCH_BYTES_PER_PARTITION = 64 * 1024;

type RunnerMessage = Message<Buffer, Buffer, Buffer, Buffer>;

interface Lane {
  partition: number;
  buffer: RunnerMessage[];
  /** The lane's loop while it has records; undefined when idle. */
  active: Promise<void> | undefined;
  /** Ends the lane's current sleep early. */
  wake: (() => void) | undefined;
  /** Whether a full batch may end the sleep (the batching window), or only stop() (a retry backoff). */
  wakeOnData: boolean;
}

function signal(lane: Lane, fromData: boolean): void {
  if (fromData && !lane.wakeOnData) return;
  const waiter = lane.wake;
  lane.wake = undefined;
  waiter?.();
}

function sleep(lane: Lane, ms: number, interruptibleByData: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    lane.wakeOnData = interruptibleByData;
    const timer = setTimeout(() => {
      lane.wake = undefined;
      resolve();
    }, ms);
    lane.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

type Outcome = { ok: true } | { ok: false; error: string; failures: KafkaBatchResponse['batchItemFailures'] | undefined };

async function invoke(enrich: EnrichFunction, event: KafkaEvent): Promise<Outcome> {
  try {
    const result = await enrich(event);
    const failures = result?.batchItemFailures ?? [];
    if (failures.length === 0) return { ok: true };
    return { ok: false, error: `${failures.length} item failure(s) reported`, failures };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), failures: undefined };
  }
}

/** With item failures: the records before each partition's first reported failure. A throw commits nothing. */
function committable(
  batch: Message<Buffer, Buffer, Buffer, Buffer>[],
  failures: KafkaBatchResponse['batchItemFailures'] | undefined,
): Message<Buffer, Buffer, Buffer, Buffer>[] {
  if (failures === undefined) return [];
  const firstFailed = new Map<string, number>();
  for (const { itemIdentifier } of failures) {
    const current = firstFailed.get(itemIdentifier.partition);
    if (current === undefined || itemIdentifier.offset < current) firstFailed.set(itemIdentifier.partition, itemIdentifier.offset);
  }
  return batch.filter((message) => {
    const first = firstFailed.get(`${message.topic}-${message.partition}`);
    return first === undefined || Number(message.offset) < first;
  });
}

/** Commits the last offset of each partition in `messages` (a message's commit stores offset + 1). */
async function commit(messages: Message<Buffer, Buffer, Buffer, Buffer>[]): Promise<void> {
  const last = new Map<string, Message<Buffer, Buffer, Buffer, Buffer>>();
  for (const message of messages) last.set(`${message.topic}-${message.partition}`, message);
  await Promise.all(
    [...last.values()].map(async (message) => {
      try {
        await message.commit();
      } catch (error) {
        // Usually a rebalance: the partition's new owner starts from the last commit (at-least-once).
        logger.warn('could not commit offsets', { partition: `${message.topic}-${message.partition}`, offset: String(message.offset), error });
      }
    }),
  );
}

/** The event the Lambda Kafka event source mapping would deliver for these messages. */
export function toKafkaEvent(messages: readonly Message<Buffer, Buffer, Buffer, Buffer>[], bootstrapServers: string): KafkaEvent {
  const records: Record<string, KafkaEventRecord[]> = {};
  for (const message of messages) {
    const key = `${message.topic}-${message.partition}`;
    let list = records[key];
    if (list === undefined) {
      list = [];
      records[key] = list;
    }
    const headers: Record<string, number[]>[] = [];
    for (const [name, value] of message.headers) headers.push({ [name.toString('utf8')]: [...value] });
    const record: KafkaEventRecord = {
      topic: message.topic,
      partition: message.partition,
      offset: Number(message.offset),
      timestamp: Number(message.timestamp),
      timestampType: 'CREATE_TIME',
      value: message.value === undefined || message.value === null ? null : message.value.toString('base64'),
      headers,
    };
    if (message.key !== undefined && message.key !== null && message.key.length > 0) record.key = message.key.toString('base64');
    list.push(record);
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers, records };
}
