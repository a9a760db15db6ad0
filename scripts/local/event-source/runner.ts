/**
 * Local stand-in for the Lambda Kafka event source mapping (LocalStack's free tier has none): a consumer group
 * on `raw-logs` that builds the same event AWS would (SelfManagedKafka form: base64 key and value, headers as
 * Java signed byte arrays), in batches of up to `batchSize` records or `batchWindowMs` after the first record,
 * and invokes the enrich function. As the mapping's poller, a batch can hold several partitions: it is gathered
 * from the partitions with no batch in flight, so at a low rate the partitions share batches and under a
 * backlog each partition gets batches of its own, side by side (batching.ts, lanes.ts).
 *
 * Like the mapping: offsets are committed only after the invocation succeeded; a failed batch is retried
 * with backoff, never skipped, and nothing after it in its partition is processed meanwhile (per-partition
 * order holds; other partitions go on, as the mapping's pollers do: a failed batch of several partitions is
 * retried partition by partition);
 * with `{ batchItemFailures }` the records before each partition's first failure are committed and the rest
 * retried. Several runners (processes) with the same group id share the partitions.
 *
 * Under rebalance (README "Running more than one enrich runner"): each partition the group assigns gets its own
 * lane, owned until the group takes the partition away. A revoked lane is dropped at once: its buffered records
 * are discarded and the outcome of its in-flight invocation is neither committed nor retried, because the new
 * owner already restarts from the group's committed offset (those in-flight records are the only duplicates).
 * A stop (SIGTERM) drains instead: in-flight invocations finish and are committed before the runner leaves the group.
 *
 * This file is the consumer: group membership, assignments, the stream and its recovery. The lanes (batches,
 * retries, backpressure) are in `lanes.ts`, the offset commits in `commits.ts`.
 */
import { hostname } from 'node:os';
import {
  type ConsumeOptions,
  Consumer,
  type ConsumerGroupJoinPayload,
  ListOffsetTimestamps,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessagesStream,
} from '@platformatic/kafka';
import { kafkaEnv, readConfig, topicsEnv } from '#shared/config.ts';
import { connectionOptions, resolveBrokers } from '#shared/kafka/connection.ts';
import type { EventPublisher } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import { logger } from '#shared/observability.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { PrometheusEnrichMetrics } from '../../../functions/enrich/src/adapters/prometheus-metrics.ts';
import type { EnrichFunction } from '../../../functions/enrich/src/enrich-handler.ts';
import { CommitTracker } from './commits.ts';
import { type Lane, Lanes } from './lanes.ts';
import { diffAssignment, partitionsOf } from './offsets.ts';
import { newRunnerStats, type RunnerStats } from './stats.ts';

export { toKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
export type { RunnerStats } from './stats.ts';

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
  /** The dependencies behind a given `enrich` function, for GET /health (their breakers and caches); never closed by the runner. */
  dependencies?: EnrichDependencies;
  /** The runner's own log (assignments, retries, recovery); default the Powertools logger. */
  log?: Log;
}

export interface EnrichRunner {
  stop(): Promise<void>;
  readonly stats: RunnerStats;
  /** The dependencies the runner built, or those given with its enrich function (absent when none were). */
  readonly dependencies: EnrichDependencies | undefined;
  readonly metrics: PrometheusEnrichMetrics;
  /** Records behind the end of each assigned partition (`<topic>-<partition>` → lag). */
  lag(): Promise<Record<string, number>>;
  /** The partitions this runner owns a lane for, from the group's last assignment (`<topic>-<partition>`). */
  assignedPartitions(): string[];
}

const FETCH_BYTES_PER_PARTITION = 64 * 1024;
const RECOVERY_INITIAL_MS = 500;
const RECOVERY_MAX_MS = 10_000;

/**
 * @example
 * const runner = await startEnrichRunner({ topic: 'raw-logs', groupId: 'enrich-local' });
 * // ... later
 * await runner.stop();
 */
export async function startEnrichRunner(options: EnrichRunnerOptions = {}): Promise<EnrichRunner> {
  const env = options.env ?? process.env;
  const log = options.log ?? logger;
  const kafka = readConfig(kafkaEnv, env);
  const topic = options.topic ?? readConfig(topicsEnv, env).RAW_TOPIC;
  const groupId = options.groupId ?? 'enrich-local';
  const batchSize = options.batchSize ?? 100;
  const batchWindowMs = options.batchWindowMs ?? 500;
  const retryInitialMs = options.retryInitialMs ?? 100;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  const metrics = options.metrics ?? new PrometheusEnrichMetrics();
  // Closed by the runner only when it built them; given ones belong to the caller.
  const built =
    options.enrich === undefined
      ? createEnrichDependencies(env, { metrics, ...(options.publisher === undefined ? {} : { publisher: options.publisher }) })
      : undefined;
  const dependencies = built ?? options.dependencies;
  const enrich = options.enrich ?? (built as EnrichDependencies).enrich;
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

  const stats = newRunnerStats();
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  let running = true;
  /** Between 'consumer:group:rebalance' and the next assignment (see onRebalance). */
  let rebalancing = false;
  // Both exist before the first assignment can arrive, inside consume().
  const commits: CommitTracker = new CommitTracker({
    consumer,
    topic,
    owned: () => lanes.values(),
    stats,
    running: () => running,
    retryInitialMs,
    retryMaxMs,
    log,
  });
  const lanes = new Lanes({
    topic,
    batchSize,
    batchWindowMs,
    retryInitialMs,
    retryMaxMs,
    bootstrapServers,
    enrich,
    stats,
    log,
    requestCommit: () => commits.request(),
    stream: () => stream,
    running: () => running,
    rebalancing: () => rebalancing,
  });

  // The group's assignment, as the client surfaces it. With the classic protocol and the client's default
  // eager assignor (roundrobin), @platformatic/kafka rejoins on the heartbeat's REBALANCE_IN_PROGRESS and, after
  // SyncGroup, sets `consumer.assignments` and emits 'consumer:group:join' with `{ assignments }`
  // (consumer.js #completeClassicSyncGroup) on every rebalance, the first one included. That is the first
  // moment the runner can know a partition was taken away, and also the moment its new owner starts: the
  // client has no hook that holds the rejoin until lanes drain (Java's onPartitionsRevoked), so a revoked lane
  // is dropped, not drained. Registered before consume() so it runs before the stream's own listener, which
  // re-fetches every assigned partition from the committed offset and flushes queued commits.
  const onAssignment = (payload: ConsumerGroupJoinPayload) => {
    rebalancing = false;
    // The classic protocol's payload carries the assignment; the client's own field is the same after SyncGroup.
    const { revoked, added } = diffAssignment(new Set(lanes.partitions()), partitionsOf(payload.assignments ?? consumer.assignments, topic));
    for (const partition of revoked) lanes.revoke(partition);
    const fresh = lanes.add(added);
    if (fresh.length > 0) void locateStarts(fresh, retryInitialMs);
    if (revoked.length > 0 || added.length > 0) {
      log.info('enrich runner assignment changed', { topic, revoked, added, owned: lanes.partitions(), generationId: payload.generationId });
    }
    lanes.resumeIfRoom();
    // Lanes held by the rebalance (see onRebalance) go on with what they still own.
    lanes.restartHeld();
    // Offsets acknowledged while the group was rebalancing were held back (see CommitTracker): commit the ones
    // of partitions still owned, under the new generation.
    commits.request();
  };
  consumer.on('consumer:group:join', onAssignment);
  // The client emits 'consumer:group:rebalance' when a heartbeat answers REBALANCE_IN_PROGRESS, just before it
  // rejoins (consumer.js #getRejoinError). From then until the new assignment no lane starts a batch: any
  // partition may be about to move, and a batch started now would only add duplicates on its new owner. So the
  // duplicates of a move are bounded by what was in flight when the rebalance began (the eager protocol's
  // stop-the-world, as Java's poll() returns nothing mid-rebalance).
  const onRebalance = () => {
    rebalancing = true;
  };
  consumer.on('consumer:group:rebalance', onRebalance);

  // Where a new lane starts: the group's committed offset, read by the runner itself rather than taken from the
  // stream, whose position for the partition a fetch sent before the rebalance may still overwrite (and which
  // keeps an old position when there is no committed offset, see Lanes#forgetFetchPosition). Until then the lane
  // accepts nothing; then exactly that offset (PartitionProgress). Without a committed offset: the start
  // position (`startFrom`). A lookup that fails is retried with backoff while the lane is owned.
  async function locateStarts(fresh: Lane[], delay: number): Promise<void> {
    const owned = () => fresh.filter((lane) => lanes.get(lane.partition) === lane);
    try {
      const committed = (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: owned().map((lane) => lane.partition) }] })).get(topic) ?? [];
      const without = owned().filter((lane) => (committed[lane.partition] ?? -1n) < 0n);
      const fallback =
        without.length === 0
          ? []
          : ((
              await consumer.listOffsets({
                topics: [topic],
                partitions: { [topic]: without.map((lane) => lane.partition) },
                timestamp: options.startFrom === 'latest' ? ListOffsetTimestamps.LATEST : ListOffsetTimestamps.EARLIEST,
              })
            ).get(topic) ?? []);
      for (const lane of owned()) {
        const found = committed[lane.partition];
        const start = found !== undefined && found >= 0n ? found : fallback[lane.partition];
        if (start === undefined || start < 0n) throw new Error(`no start offset for ${topic}-${lane.partition}`);
        lane.progress.startAt(start);
        lanes.refetch(lane);
      }
    } catch (error) {
      if (!running || owned().length === 0) return;
      stats.lastError = String(error);
      log.warn('enrich runner could not read where new partitions start; retrying', { partitions: owned().map((lane) => lane.partition), retryInMs: delay, error });
      setTimeout(() => void locateStarts(owned(), Math.min(delay * 2, retryMaxMs)), delay).unref();
    }
  }

  function attach(next: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    stream = next;
    next.on('data', (message) => lanes.receive(message));
    next.on('error', (error) => {
      stats.lastError = String(error);
      log.error('enrich runner consumer stream failed; restarting it', { error });
    });
    next.once('close', () => {
      if (stream !== next) return;
      stream = undefined;
      if (running) scheduleRecovery();
    });
  }

  // Recovery from a broker outage longer than the client's own retries (20 × 250 ms per request). The stream
  // destroys itself when a fetch, a metadata request or an offsets refresh fails for good (messages-stream.js
  // #fetch, #scheduleRefreshOffsetsAndFetch: `this.destroy(error)`), and a failed rejoin leaves the member out
  // of the group (above). Both are retried with backoff until they work: a new stream (consume() rejoins when
  // needed, and starts every assigned partition at its committed offset) and a new join. Lanes, their buffers
  // and their progress are kept, so what the new stream redelivers is skipped and nothing is skipped over.
  let recovery: NodeJS.Timeout | undefined;
  let recoveryDelay = RECOVERY_INITIAL_MS;
  function scheduleRecovery(): void {
    if (!running || recovery !== undefined) return;
    recovery = setTimeout(() => {
      recovery = undefined;
      void recover();
    }, recoveryDelay);
    recoveryDelay = Math.min(recoveryDelay * 2, RECOVERY_MAX_MS);
  }
  async function recover(): Promise<void> {
    if (!running) return;
    try {
      if (stream === undefined) {
        attach(await consumer.consume(consumeOptions()));
        log.warn('enrich runner consumer stream restarted', { topic });
      } else if (!consumer.isActive()) {
        await consumer.joinGroup({});
        log.warn('enrich runner rejoined the group', { topic, generationId: consumer.generationId });
      }
      recoveryDelay = RECOVERY_INITIAL_MS;
    } catch (error) {
      stats.lastError = String(error);
      log.warn('enrich runner could not recover the consumer yet; retrying', { retryInMs: recoveryDelay, error });
      scheduleRecovery();
    }
  }

  // A fresh object per consume(): the client fills defaults into the one it is given.
  const consumeOptions = (): ConsumeOptions<Buffer, Buffer, Buffer, Buffer> => ({
    topics: [topic],
    autocommit: false,
    mode: MessagesStreamModes.COMMITTED,
    // Small per-partition fetches interleave the partitions in the stream. With the client's default (1 MiB)
    // a backlog arrives one partition at a time (thousands of records of partition 0, then of 1, …), so
    // the backpressure limit is reached while only one lane has work and the others sit idle.
    maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    fallbackMode: options.startFrom === 'latest' ? MessagesStreamFallbackModes.LATEST : MessagesStreamFallbackModes.EARLIEST,
  });
  // The client emits 'error' on itself when a rejoin fails for good (consumer.js #heartbeat: `emitWithDebug(null,
  // 'error', error)`); with no listener Node would throw it and end the process. After it the client schedules
  // no more heartbeats: this member is out of the group until someone joins again, so the runner does.
  consumer.on('error', (error: Error) => {
    stats.lastError = String(error);
    log.error('enrich runner consumer error; rejoining', { error });
    scheduleRecovery();
  });
  try {
    attach(await consumer.consume(consumeOptions()));
  } catch (error) {
    consumer.off('consumer:group:join', onAssignment);
    consumer.off('consumer:group:rebalance', onRebalance);
    await consumer.close(true).catch(() => undefined);
    await built?.close();
    throw error;
  }

  return {
    stats,
    dependencies,
    metrics,
    async stop() {
      // Drain: no new batches start, in-flight invocations finish, what they acknowledged is committed, and
      // only then does the consumer leave the group (its partitions move at once, not after the session timeout).
      running = false;
      clearTimeout(recovery);
      stream?.pause();
      await lanes.drain();
      await commits.finish();
      consumer.off('consumer:group:join', onAssignment);
      consumer.off('consumer:group:rebalance', onRebalance);
      await stream?.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      await built?.close();
    },
    assignedPartitions() {
      return lanes.partitions().sort((a, b) => a - b).map((partition) => `${topic}-${partition}`);
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
