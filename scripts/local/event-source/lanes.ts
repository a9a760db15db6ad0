/**
 * The runner's lanes: one per owned partition, like the mapping's pollers. A lane invokes the function for its
 * own partition's records, one batch at a time (per-partition order holds), while lanes run side by side. Their
 * produce calls meet in the publisher, which merges concurrent sends. The set holds exactly the partitions of
 * the group's last assignment: the runner adds and revokes lanes on assignment, never because records arrived.
 *
 * A failed batch is retried with backoff, never skipped; with `{ batchItemFailures }` the records before the
 * partition's first failure are acknowledged (and committed) and the rest retried.
 */
import type { MessagesStream } from '@platformatic/kafka';
import type { Log } from '#shared/log-port.ts';
import type { EnrichFunction } from '../../../functions/enrich/src/enrich-handler.ts';
import type { KafkaBatchResponse, KafkaEvent } from '../../../functions/enrich/src/kafka-event.ts';
import { type RunnerMessage, toKafkaEvent } from './event.ts';
import { committable, PartitionProgress } from './offsets.ts';
import type { RunnerStats } from './stats.ts';

export interface Lane {
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

export interface LanesOptions {
  topic: string;
  batchSize: number;
  batchWindowMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  bootstrapServers: string;
  enrich: EnrichFunction;
  stats: RunnerStats;
  log: Log;
  /** Called after a lane acknowledged records (the runner's CommitTracker#request). */
  requestCommit: () => void;
  /** The runner's current stream (none between a stream that failed and its recovery). */
  stream: () => MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  /** False once the runner is stopping. */
  running: () => boolean;
  /** True between 'consumer:group:rebalance' and the next assignment: no lane starts a batch. */
  rebalancing: () => boolean;
}

/**
 * Backpressure: the stream stops fetching while about two batches per owned partition are waiting, counting
 * only lanes that are not retrying a failed batch. A retrying lane may be stuck for long (a publish the broker
 * refuses every time): if its records counted, it alone would keep the stream paused and starve every other
 * lane, where the mapping's other pollers go on. The client cannot pause one partition (MessagesStream#pause
 * stops every fetch), so a retrying lane is bounded on its own instead: it buffers at most `laneCap` records,
 * drops what arrives beyond them (nothing dropped was acknowledged, so nothing is committed past it) and, once
 * it has room again, moves the stream's fetch position of its partition back to the first record it dropped
 * (see refetch). While it is full the stream keeps reading that partition forward and the lane discards it:
 * one read of the partition, no busy re-fetch of the same records.
 *
 * @example
 * const lanes = new Lanes({ topic: 'raw-logs', batchSize: 100, batchWindowMs: 500, retryInitialMs: 100, retryMaxMs: 5_000,
 *   bootstrapServers, enrich, stats, log, requestCommit: () => commits.request(),
 *   stream: () => stream, running: () => running, rebalancing: () => rebalancing });
 * const fresh = lanes.add([0, 1]); // on assignment; then fresh[i].progress.startAt(committedOffset)
 * stream.on('data', (message) => lanes.receive(message));
 */
export class Lanes {
  readonly #options: LanesOptions;
  readonly #lanes = new Map<number, Lane>();
  readonly #laneCap: number;

  constructor(options: LanesOptions) {
    this.#options = options;
    this.#laneCap = options.batchSize * 2;
  }

  get(partition: number): Lane | undefined {
    return this.#lanes.get(partition);
  }

  /** The owned partitions, in the order they were assigned. */
  partitions(): number[] {
    return [...this.#lanes.keys()];
  }

  values(): IterableIterator<Lane> {
    return this.#lanes.values();
  }

  /** New lanes for partitions the group assigned; each accepts nothing until its `progress.startAt`. */
  add(partitions: readonly number[]): Lane[] {
    const fresh = partitions.map((partition) => newLane(partition));
    for (const lane of fresh) this.#lanes.set(lane.partition, lane);
    return fresh;
  }

  /** Drops a partition the group took away: its buffer is discarded, its in-flight outcome will be too. */
  revoke(partition: number): void {
    const lane = this.#lanes.get(partition);
    if (lane === undefined) return;
    this.#lanes.delete(partition);
    lane.revoked = true;
    this.#options.stats.revokedPartitions++;
    this.#options.stats.droppedRecords += lane.buffer.length;
    lane.buffer.length = 0;
    this.#options.stats.pending = this.#buffered();
    signal(lane, false);
    this.#forgetFetchPosition(partition);
  }

  /** A record from the stream: buffered by its lane when new and in sequence (PartitionProgress#offer). */
  receive(message: RunnerMessage): void {
    const { stats, batchSize } = this.#options;
    const lane = this.#lanes.get(message.partition);
    if (lane === undefined) {
      // From a fetch sent before the group took this partition away: its new owner reads it from the
      // committed offset. The fetch also moved the stream's position for it (see #forgetFetchPosition).
      this.#forgetFetchPosition(message.partition);
      return;
    }
    const verdict = lane.progress.offer(message.offset, this.#hasRoom(lane));
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
      this.refetch(lane);
      return;
    }
    lane.buffer.push(message);
    stats.pending = this.#buffered();
    const stream = this.#options.stream();
    if (this.#buffered(false) >= this.#pauseAt() && stream !== undefined && !stream.isPaused()) {
      stream.pause();
      // No more records arrive while paused: a lane waiting out its batching window would only stall.
      for (const waiting of this.#lanes.values()) signal(waiting, true);
    }
    if (lane.active === undefined) {
      if (!this.#options.rebalancing()) lane.active = this.#run(lane);
    } else if (lane.buffer.length >= batchSize) signal(lane, true);
  }

  /** Restarts the lanes a rebalance held (idle with buffered records), once the assignment is known. */
  restartHeld(): void {
    for (const lane of this.#lanes.values()) if (lane.active === undefined && lane.buffer.length > 0) lane.active = this.#run(lane);
  }

  resumeIfRoom(): void {
    const stream = this.#options.stream();
    if (this.#options.running() && stream?.isPaused() && this.#buffered(false) < this.#pauseAt()) stream.resume();
  }

  /**
   * Moves the stream's fetch position of a lane's partition to the offset the lane needs, when it waits for
   * one (PartitionProgress#fetchFrom). The stream reads `offsetsToFetch` when it sends each fetch; a response
   * already in flight still lands and overwrites it, and the lane, which accepts only its exact offset, skips
   * those records and calls this again.
   */
  refetch(lane: Lane): void {
    const from = lane.progress.fetchFrom();
    if (from !== undefined && this.#hasRoom(lane)) this.#options.stream()?.offsetsToFetch.set(`${this.#options.topic}:${lane.partition}`, from);
  }

  /** For a stop: ends every sleep and waits for the batches in flight (they finish and acknowledge). */
  async drain(): Promise<void> {
    const active = [...this.#lanes.values()].flatMap((lane) => (lane.active === undefined ? [] : [lane.active]));
    for (const lane of this.#lanes.values()) signal(lane, false);
    await Promise.all(active);
  }

  #pauseAt(): number {
    return this.#options.batchSize * 2 * Math.max(this.#lanes.size, 1);
  }

  #buffered(countRetrying = true): number {
    let total = 0;
    for (const lane of this.#lanes.values()) if (countRetrying || !lane.retrying) total += lane.buffer.length;
    return total;
  }

  #hasRoom(lane: Lane): boolean {
    return !lane.retrying || lane.buffer.length < this.#laneCap;
  }

  // The stream keeps its own fetch position per partition (`offsetsToFetch`, keyed `${topic}:${partition}`,
  // consumer/utils.js partitionKey). After a rejoin it replaces it with the group's committed offset, but only
  // when one exists (messages-stream.js #assignOffsets: `if (offset >= 0n)`); otherwise it keeps the old one,
  // which for a partition this runner fetched, lost before any commit and got back would skip the records it
  // dropped. Forgetting the position makes the next refresh fall back to the start position (`fallbackMode`),
  // as for a partition never seen. A fetch sent before the rebalance can set it again when it lands, so
  // records of unowned partitions forget it too (see receive).
  #forgetFetchPosition(partition: number): void {
    this.#options.stream()?.offsetsToFetch.delete(`${this.#options.topic}:${partition}`);
  }

  async #run(lane: Lane): Promise<void> {
    const { batchSize, batchWindowMs, retryInitialMs, retryMaxMs, stats, log, running, rebalancing } = this.#options;
    try {
      while (running() && !lane.revoked && !rebalancing() && lane.buffer.length > 0) {
        // Batching window: from the first buffered record, unless the batch is already full.
        if (lane.buffer.length < batchSize && this.#options.stream()?.isPaused() !== true) await sleep(lane, batchWindowMs, true);
        if (!running() || lane.revoked || rebalancing()) break;
        let batch = lane.buffer.splice(0, batchSize);
        stats.pending = this.#buffered();
        // Room again for what it dropped while it was full (no-op when it dropped nothing).
        this.refetch(lane);
        this.resumeIfRoom();
        let delay = retryInitialMs;
        while (batch.length > 0) {
          const outcome = await invoke(this.#options.enrich, toKafkaEvent(batch, this.#options.bootstrapServers));
          // Taken away meanwhile: the new owner already reads these records from the committed offset, so
          // this outcome is neither committed nor retried.
          if (lane.revoked) return;
          const done = outcome.ok ? batch : committable(batch, outcome.failures);
          const last = done.at(-1);
          if (last !== undefined) {
            lane.progress.acknowledge(last.offset, last.leaderEpoch);
            this.#options.requestCommit();
          }
          if (outcome.ok) {
            stats.batches++;
            stats.records += batch.length;
            if (lane.retrying) {
              lane.retrying = false;
              this.refetch(lane);
            }
            break;
          }
          stats.failedInvocations++;
          stats.lastError = outcome.error;
          batch = batch.slice(done.length);
          if (!lane.retrying) {
            // From now on this lane no longer holds the stream paused (see #pauseAt), and keeps at most laneCap
            // records: the rest are dropped and fetched again when it has room.
            lane.retrying = true;
            const dropped = lane.buffer.splice(this.#laneCap);
            const first = dropped[0];
            if (first !== undefined) {
              lane.progress.rewindTo(first.offset);
              stats.overflowRecords += dropped.length;
              stats.pending = this.#buffered();
            }
            this.resumeIfRoom();
          }
          // A stop ends the retries: the records are not acknowledged, the next owner gets them.
          if (!running()) break;
          log.warn('enrich batch failed; retrying', { partition: lane.partition, records: batch.length, retryInMs: delay, error: outcome.error });
          await sleep(lane, delay, false);
          if (!running() || lane.revoked) return;
          if (rebalancing()) {
            // Held like a new batch; restartHeld() restarts the lane from these records if it keeps the partition.
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
