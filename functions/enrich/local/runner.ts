/**
 * Local stand-in for the Lambda Kafka event source mapping (LocalStack's free tier has none): a consumer group
 * on `raw-logs` that builds the same event AWS would (SelfManagedKafka form: base64 key and value, headers as
 * Java signed byte arrays), in batches of up to `batchSize` records or `batchWindowMs` after the first record,
 * and invokes the enrich function.
 *
 * Like the mapping: offsets are committed only after the invocation succeeded; a failed batch is retried
 * with backoff, never skipped, and nothing after it in its partition is processed meanwhile (per-partition
 * order holds; other partitions go on, as the mapping's pollers do);
 * with `{ batchItemFailures }` the records before each partition's first failure are committed and the rest
 * retried. Several runners (processes) with the same group id share the partitions.
 *
 * Under rebalance (README "Running more than one enrich runner"): each partition the group assigns gets its own
 * lane, owned until the group takes the partition away. A revoked lane is dropped at once: its buffered records
 * are discarded and the outcome of its in-flight invocation is neither committed nor retried, because the new
 * owner already restarts from the group's committed offset (those in-flight records are the only duplicates).
 * A stop (SIGTERM) drains instead: in-flight invocations finish and are committed before the runner leaves the group.
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
import { logger } from '#shared/observability.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../dependencies.ts';
import { PrometheusEnrichMetrics } from '../src/adapters/prometheus-metrics.ts';
import type { EnrichFunction } from '../src/enrich-handler.ts';
import type { KafkaBatchResponse, KafkaEvent } from '../src/kafka-event.ts';
import type { EventPublisher } from '#shared/kafka/publisher.ts';
import { type RunnerMessage, toKafkaEvent } from './event.ts';
import { committable, diffAssignment, PartitionProgress, partitionsOf } from './offsets.ts';

export { toKafkaEvent } from './event.ts';

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
  /** Records received and not yet handed to an invocation. */
  pending: number;
  /** Times the group took a partition away from this runner. */
  revokedPartitions: number;
  /** Buffered records dropped at a revocation (the new owner reads them from the committed offset). */
  droppedRecords: number;
  /** Records redelivered by the stream after a rejoin and skipped (already buffered, in flight or processed here). */
  redeliveredRecords: number;
  /** OffsetCommit requests that failed (retried with backoff). */
  failedCommits: number;
  /**
   * Records a retrying lane had no room for (beyond its cap): dropped, never committed, fetched again from the
   * lane's next needed offset once the lane has room.
   */
  overflowRecords: number;
  /** Records skipped because they did not come from the position a lane needed (a late or rewound fetch). */
  outOfSyncRecords: number;
}

export interface EnrichRunner {
  stop(): Promise<void>;
  readonly stats: RunnerStats;
  /** The dependencies the runner built (absent when an enrich function was given). */
  readonly dependencies: EnrichDependencies | undefined;
  readonly metrics: PrometheusEnrichMetrics;
  /** Records behind the end of each assigned partition (`<topic>-<partition>` → lag). */
  lag(): Promise<Record<string, number>>;
  /** The partitions this runner owns a lane for, from the group's last assignment (`<topic>-<partition>`). */
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

  const stats: RunnerStats = {
    batches: 0,
    records: 0,
    failedInvocations: 0,
    lastError: undefined,
    pending: 0,
    revokedPartitions: 0,
    droppedRecords: 0,
    redeliveredRecords: 0,
    failedCommits: 0,
    overflowRecords: 0,
    outOfSyncRecords: 0,
  };
  // One lane per owned partition, like the mapping's pollers: a lane invokes the function for its own
  // partition's records, one batch at a time (per-partition order holds), while lanes run side by side. Their
  // produce calls meet in the publisher, which merges concurrent sends. The map holds exactly the partitions of
  // the group's last assignment: lanes are created and dropped by onAssignment, never by arriving records.
  const lanes = new Map<number, Lane>();
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  let running = true;
  /** Between 'consumer:group:rebalance' and the next assignment (see onRebalance). */
  let rebalancing = false;

  // Backpressure: stop fetching while about two batches per owned partition are waiting, counting only lanes
  // that are not retrying a failed batch. A retrying lane may be stuck for long (a publish the broker refuses
  // every time): if its records counted, it alone would keep the stream paused and starve every other lane,
  // where the mapping's other pollers go on. The client cannot pause one partition (MessagesStream#pause stops
  // every fetch), so a retrying lane is bounded on its own instead: it buffers at most `laneCap` records, drops
  // what arrives beyond them (nothing dropped was acknowledged, so nothing is committed past it) and, once it
  // has room again, moves the stream's fetch position of its partition back to the first record it dropped
  // (see refetch). While it is full the stream keeps reading that partition forward and the lane discards it:
  // one read of the partition, no busy re-fetch of the same records.
  const pauseAt = () => batchSize * 2 * Math.max(lanes.size, 1);
  const laneCap = batchSize * 2;
  const buffered = (countRetrying = true) => {
    let total = 0;
    for (const lane of lanes.values()) if (countRetrying || !lane.retrying) total += lane.buffer.length;
    return total;
  };
  function resumeIfRoom(): void {
    if (running && stream?.isPaused() && buffered(false) < pauseAt()) stream.resume();
  }
  const hasRoom = (lane: Lane) => !lane.retrying || lane.buffer.length < laneCap;
  // Moves the stream's fetch position of a lane's partition to the offset the lane needs, when it waits for
  // one (PartitionProgress#fetchFrom). The stream reads `offsetsToFetch` when it sends each fetch; a response
  // already in flight still lands and overwrites it, and the lane, which accepts only its exact offset, skips
  // those records and calls this again.
  function refetch(lane: Lane): void {
    const from = lane.progress.fetchFrom();
    if (from !== undefined && hasRoom(lane)) stream?.offsetsToFetch.set(`${topic}:${lane.partition}`, from);
  }

  // Commit state (see flushCommits); declared before the first assignment can arrive, inside consume().
  let committing: Promise<void> | undefined;
  let commitAgain = false;
  let commitRetry: NodeJS.Timeout | undefined;
  let commitDelay = retryInitialMs;
  /** Whether the last flush left acknowledged offsets uncommitted (it failed, or the consumer was mid-rejoin). */
  let commitOwed = false;

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
    const { revoked, added } = diffAssignment(new Set(lanes.keys()), partitionsOf(payload.assignments ?? consumer.assignments, topic));
    for (const partition of revoked) revoke(partition);
    const fresh = added.map((partition) => newLane(partition));
    for (const lane of fresh) lanes.set(lane.partition, lane);
    if (fresh.length > 0) void locateStarts(fresh, retryInitialMs);
    if (revoked.length > 0 || added.length > 0) {
      logger.info('enrich runner assignment changed', { topic, revoked, added, owned: [...lanes.keys()], generationId: payload.generationId });
    }
    resumeIfRoom();
    // Lanes held by the rebalance (see onRebalance) go on with what they still own.
    for (const lane of lanes.values()) if (lane.active === undefined && lane.buffer.length > 0) lane.active = runLane(lane);
    // Offsets acknowledged while the group was rebalancing were held back (see flushCommits): commit the ones
    // of partitions still owned, under the new generation.
    requestCommit();
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
  // keeps an old position when there is no committed offset, see forgetFetchPosition). Until then the lane
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
        refetch(lane);
      }
    } catch (error) {
      if (!running || owned().length === 0) return;
      stats.lastError = String(error);
      logger.warn('enrich runner could not read where new partitions start; retrying', { partitions: owned().map((lane) => lane.partition), retryInMs: delay, error });
      setTimeout(() => void locateStarts(owned(), Math.min(delay * 2, retryMaxMs)), delay).unref();
    }
  }

  function revoke(partition: number): void {
    const lane = lanes.get(partition);
    if (lane === undefined) return;
    lanes.delete(partition);
    lane.revoked = true;
    stats.revokedPartitions++;
    stats.droppedRecords += lane.buffer.length;
    lane.buffer.length = 0;
    stats.pending = buffered();
    signal(lane, false);
    forgetFetchPosition(partition);
  }

  // The stream keeps its own fetch position per partition (`offsetsToFetch`, keyed `${topic}:${partition}`,
  // consumer/utils.js partitionKey). After a rejoin it replaces it with the group's committed offset, but only
  // when one exists (messages-stream.js #assignOffsets: `if (offset >= 0n)`); otherwise it keeps the old one,
  // which for a partition this runner fetched, lost before any commit and got back would skip the records it
  // dropped. Forgetting the position makes the next refresh fall back to the start position (`fallbackMode`),
  // as for a partition never seen. A fetch sent before the rebalance can set it again when it lands, so
  // records of unowned partitions forget it too (see the data listener).
  function forgetFetchPosition(partition: number): void {
    stream?.offsetsToFetch.delete(`${topic}:${partition}`);
  }

  const onData = (message: RunnerMessage) => {
    const lane = lanes.get(message.partition);
    if (lane === undefined) {
      // From a fetch sent before the group took this partition away: its new owner reads it from the
      // committed offset. The fetch also moved the stream's position for it (see forgetFetchPosition).
      forgetFetchPosition(message.partition);
      return;
    }
    const verdict = lane.progress.offer(message.offset, hasRoom(lane));
    if (verdict === 'redelivered') {
      stats.redeliveredRecords++;
      return;
    }
    if (verdict === 'dropped') {
      stats.overflowRecords++;
      return;
    }
    if (verdict === 'out-of-sync') {
      stats.outOfSyncRecords++;
      refetch(lane);
      return;
    }
    lane.buffer.push(message);
    stats.pending = buffered();
    if (buffered(false) >= pauseAt() && stream !== undefined && !stream.isPaused()) {
      stream.pause();
      // No more records arrive while paused: a lane waiting out its batching window would only stall.
      for (const waiting of lanes.values()) signal(waiting, true);
    }
    if (lane.active === undefined) {
      if (!rebalancing) lane.active = runLane(lane);
    } else if (lane.buffer.length >= batchSize) signal(lane, true);
  };

  function attach(next: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    stream = next;
    next.on('data', onData);
    next.on('error', (error) => {
      stats.lastError = String(error);
      logger.error('enrich runner consumer stream failed; restarting it', { error });
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
        logger.warn('enrich runner consumer stream restarted', { topic });
      } else if (!consumer.isActive()) {
        await consumer.joinGroup({});
        logger.warn('enrich runner rejoined the group', { topic, generationId: consumer.generationId });
      }
      recoveryDelay = RECOVERY_INITIAL_MS;
    } catch (error) {
      stats.lastError = String(error);
      logger.warn('enrich runner could not recover the consumer yet; retrying', { retryInMs: recoveryDelay, error });
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
    logger.error('enrich runner consumer error; rejoining', { error });
    scheduleRecovery();
  });
  try {
    attach(await consumer.consume(consumeOptions()));
  } catch (error) {
    consumer.off('consumer:group:join', onAssignment);
    consumer.off('consumer:group:rebalance', onRebalance);
    await consumer.close(true).catch(() => undefined);
    await dependencies?.close();
    throw error;
  }

  // Commits. Only acknowledged offsets, only for owned partitions, one OffsetCommit request at a time for all
  // lanes (a lane does not wait for it: an awaited commit per batch capped a lane at a few batches a second).
  // Consumer#commit is used rather than message.commit(): the stream's commit queue flushes whatever it holds
  // when the group rejoins (messages-stream.js #onConsumerGroupJoin → kAutocommit), revoked partitions
  // included, under the new generation; the broker accepts that (classic groups check the generation, not
  // ownership) and it would race the new owner's commits, moving the committed offset backwards.
  // While the consumer is not active (mid-rejoin: the client cancels its heartbeat, consumer.js isActive)
  // nothing is sent; onAssignment flushes afterwards, for the partitions still owned.
  // Residual, across runners (documented in the README): "never while rebalancing" is judged when a request is
  // sent. An OffsetCommit already in flight when a rebalance starts is still applied by the coordinator under
  // the old generation, and it may land after the partition's new owner committed a higher offset, moving the
  // group's offset back to this runner's. The new owner keeps its own (higher) position, so this costs
  // duplicates only, on whoever starts from the group's offset next; no record is skipped.
  function requestCommit(): void {
    if (committing !== undefined) {
      commitAgain = true;
      return;
    }
    committing = flushCommits().finally(() => {
      committing = undefined;
      if (commitAgain) requestCommit();
    });
  }
  async function flushCommits(): Promise<void> {
    commitAgain = false;
    commitOwed = false;
    if (!consumer.isActive()) {
      commitOwed = [...lanes.values()].some((lane) => lane.progress.toCommit() !== undefined);
      return;
    }
    const sent: { lane: Lane; offset: bigint }[] = [];
    const offsets = [];
    for (const lane of lanes.values()) {
      const next = lane.progress.toCommit();
      if (next === undefined) continue;
      sent.push({ lane, offset: next.offset });
      offsets.push({ topic, partition: lane.partition, offset: next.offset, leaderEpoch: next.leaderEpoch });
    }
    if (offsets.length === 0) return;
    try {
      // Residual risk, from the client: on a rejoin error (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID after this
      // member's session expired) Consumer#commit rejoins and sends the same offsets again under the new
      // generation (consumer.js #commit). Nothing is sent mid-rebalance, so only a stall beyond the session
      // timeout gets there.
      await consumer.commit({ offsets });
      for (const { lane, offset } of sent) lane.progress.committed(offset);
      commitDelay = retryInitialMs;
    } catch (error) {
      // The offsets stay acknowledged: retried with backoff (a broker restart, a coordinator moving), and by
      // the next acknowledgement or assignment anyway. The lanes go on meanwhile (at-least-once).
      stats.failedCommits++;
      commitOwed = true;
      logger.warn('could not commit offsets; retrying', { partitions: offsets.map((offset) => `${topic}-${offset.partition}`), retryInMs: commitDelay, error });
      clearTimeout(commitRetry);
      commitRetry = undefined;
      // While stopping, stop() retries the final commit itself (bounded); a timer would never run it.
      if (running) {
        commitRetry = setTimeout(() => {
          commitRetry = undefined;
          if (running) requestCommit();
        }, commitDelay);
        // Never what keeps the process alive.
        commitRetry.unref();
      }
      commitDelay = Math.min(commitDelay * 2, retryMaxMs);
    }
  }

  async function runLane(lane: Lane): Promise<void> {
    try {
      while (running && !lane.revoked && !rebalancing && lane.buffer.length > 0) {
        // Batching window: from the first buffered record, unless the batch is already full.
        if (lane.buffer.length < batchSize && stream?.isPaused() !== true) await sleep(lane, batchWindowMs, true);
        if (!running || lane.revoked || rebalancing) break;
        let batch = lane.buffer.splice(0, batchSize);
        stats.pending = buffered();
        // Room again for what it dropped while it was full (no-op when it dropped nothing).
        refetch(lane);
        resumeIfRoom();
        let delay = retryInitialMs;
        while (batch.length > 0) {
          const outcome = await invoke(enrich, toKafkaEvent(batch, bootstrapServers));
          // Taken away meanwhile: the new owner already reads these records from the committed offset, so
          // this outcome is neither committed nor retried.
          if (lane.revoked) return;
          const done = outcome.ok ? batch : committable(batch, outcome.failures);
          const last = done.at(-1);
          if (last !== undefined) {
            lane.progress.acknowledge(last.offset, last.leaderEpoch);
            requestCommit();
          }
          if (outcome.ok) {
            stats.batches++;
            stats.records += batch.length;
            if (lane.retrying) {
              lane.retrying = false;
              refetch(lane);
            }
            break;
          }
          stats.failedInvocations++;
          stats.lastError = outcome.error;
          batch = batch.slice(done.length);
          if (!lane.retrying) {
            // From now on this lane no longer holds the stream paused (see pauseAt), and keeps at most laneCap
            // records: the rest are dropped and fetched again when it has room.
            lane.retrying = true;
            const dropped = lane.buffer.splice(laneCap);
            const first = dropped[0];
            if (first !== undefined) {
              lane.progress.rewindTo(first.offset);
              stats.overflowRecords += dropped.length;
              stats.pending = buffered();
            }
            resumeIfRoom();
          }
          // A stop ends the retries: the records are not acknowledged, the next owner gets them.
          if (!running) break;
          logger.warn('enrich batch failed; retrying', { partition: lane.partition, records: batch.length, retryInMs: delay, error: outcome.error });
          await sleep(lane, delay, false);
          if (!running || lane.revoked) return;
          if (rebalancing) {
            // Held like a new batch; onAssignment restarts the lane from these records if it keeps the partition.
            lane.buffer.unshift(...batch);
            return;
          }
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
      // Drain: no new batches start, in-flight invocations finish, what they acknowledged is committed, and
      // only then does the consumer leave the group (its partitions move at once, not after the session timeout).
      running = false;
      clearTimeout(recovery);
      stream?.pause();
      const active = [...lanes.values()].flatMap((lane) => (lane.active === undefined ? [] : [lane.active]));
      for (const lane of lanes.values()) signal(lane, false);
      await Promise.all(active);
      clearTimeout(commitRetry);
      commitRetry = undefined;
      while (committing !== undefined) await committing;
      // The final commit, retried a bounded number of times: what is still uncommitted after them runs again
      // on the next owner (at-least-once), and the runner leaves the group without waiting any longer.
      let delay = retryInitialMs;
      for (let attempt = 1; ; attempt++) {
        await flushCommits();
        if (!commitOwed) break;
        if (attempt >= FINAL_COMMIT_ATTEMPTS) {
          logger.warn('enrich runner stopping with offsets it could not commit; the next owner processes them again', { attempts: attempt });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, retryMaxMs);
      }
      clearTimeout(commitRetry);
      consumer.off('consumer:group:join', onAssignment);
      consumer.off('consumer:group:rebalance', onRebalance);
      await stream?.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      await dependencies?.close();
    },
    assignedPartitions() {
      return [...lanes.keys()].sort((a, b) => a - b).map((partition) => `${topic}-${partition}`);
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
/** Attempts at the final commit in stop() (the backoff between them starts at retryInitialMs). */
const FINAL_COMMIT_ATTEMPTS = 5;
const RECOVERY_INITIAL_MS = 500;
const RECOVERY_MAX_MS = 10_000;

interface Lane {
  partition: number;
  /** Received, acknowledged and committed offsets of this ownership of the partition. */
  progress: PartitionProgress;
  buffer: RunnerMessage[];
  /** The lane's loop while it has records; undefined when idle. */
  active: Promise<void> | undefined;
  /** Set when the group took the partition away; the loop ends and its outcome is discarded. */
  revoked: boolean;
  /** From a failed invocation until its batch succeeds: held to laneCap, not counted toward the stream's pause. */
  retrying: boolean;
  /** Ends the lane's current sleep early. */
  wake: (() => void) | undefined;
  /** Whether a full batch may end the sleep (the batching window), or only stop()/revocation (a retry backoff). */
  wakeOnData: boolean;
}

function newLane(partition: number): Lane {
  return { partition, progress: new PartitionProgress(), buffer: [], active: undefined, revoked: false, retrying: false, wake: undefined, wakeOnData: false };
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
