/**
 * The runner's lanes: one per owned partition, holding its buffer and its progress, and the batches over them,
 * as the mapping's pollers make them (see batching.ts): a batch is gathered from the lanes with no batch in
 * flight, so a partition has at most one batch in flight (per-partition order holds) while batches run side by
 * side. At a low rate partitions share a batch; under a backlog a partition that alone fills a batch gets its
 * own. Their produce calls meet in the publisher, which merges concurrent sends. The set holds exactly the
 * partitions of the group's last assignment: the runner adds and revokes lanes on assignment, never because
 * records arrived.
 *
 * A failed batch is retried with backoff, never skipped; with `{ batchItemFailures }` the records before each
 * partition's first failure are acknowledged (and committed) and the rest retried. A failed batch of several
 * partitions is retried partition by partition (each on its own backoff), so a partition whose records keep
 * failing holds up only itself, as with the mapping's one poller per partition under a backlog.
 */
import type { MessagesStream } from '@platformatic/kafka';
import type { Log } from '#shared/log-port.ts';
import type { EnrichFunction } from '../../../functions/enrich/src/enrich-handler.ts';
import type { KafkaBatchResponse, KafkaEvent } from '../../../functions/enrich/src/kafka-event.ts';
import { nextBatch } from './batching.ts';
import { type RunnerMessage, toKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { committable, PartitionProgress } from './offsets.ts';
import type { RunnerStats } from './stats.ts';

export interface Lane {
  partition: number;
  /** Received, acknowledged and committed offsets of this ownership of the partition. */
  progress: PartitionProgress;
  buffer: RunnerMessage[];
  /** When the oldest buffered record arrived (performance.now() ms); undefined while the buffer is empty. */
  since: number | undefined;
  /** Part of a batch in flight (or being retried): no other batch takes its records meanwhile. */
  busy: boolean;
  /** Set when the group took the partition away; its in-flight outcome is discarded. */
  revoked: boolean;
  /** From a failed invocation until its batch succeeds: held to laneCap, not counted toward the stream's pause. */
  retrying: boolean;
  /** Ends the lane's current retry backoff early (stop, revocation). */
  wake: (() => void) | undefined;
}

/** One lane's share of a batch. */
interface Part {
  lane: Lane;
  records: RunnerMessage[];
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
  /** Batches in flight, retries included: drain() waits for them. */
  readonly #inFlight = new Set<Promise<void>>();
  /** The batching window's timer (one for all lanes: it fires for the oldest buffered record). */
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** A scheduling pass is queued (one per burst of records: the stream delivers a fetch's records in one go). */
  #queued = false;

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
    lane.since = undefined;
    this.#options.stats.pending = this.#buffered();
    wake(lane);
    this.#forgetFetchPosition(partition);
  }

  /** A record from the stream: buffered by its lane when new and in sequence (PartitionProgress#offer). */
  receive(message: RunnerMessage): void {
    const { stats } = this.#options;
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
    lane.since ??= performance.now();
    stats.pending = this.#buffered();
    const stream = this.#options.stream();
    // No more records arrive while paused: the batches form from what is buffered (see #schedule).
    if (this.#buffered(false) >= this.#pauseAt() && stream !== undefined && !stream.isPaused()) stream.pause();
    this.#scheduleSoon();
  }

  /** Starts what a rebalance held (lanes with buffered records and no batch), once the assignment is known. */
  restartHeld(): void {
    this.#schedule();
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

  /** For a stop: ends every backoff and waits for the batches in flight (they finish and acknowledge). */
  async drain(): Promise<void> {
    this.#clearTimer();
    for (const lane of this.#lanes.values()) wake(lane);
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
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

  /** One scheduling pass after the records being delivered now (a fetch response arrives as one burst). */
  #scheduleSoon(): void {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.#schedule();
    });
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Starts every batch that is due (see nextBatch), and sets the window's timer for the next one. */
  #schedule(): void {
    const { batchSize, batchWindowMs, running, rebalancing, stats } = this.#options;
    // Mid-rebalance no batch starts (any partition may be about to move); restartHeld() comes after it.
    if (!running() || rebalancing()) {
      this.#clearTimer();
      return;
    }
    for (;;) {
      const free: Lane[] = [];
      for (const lane of this.#lanes.values()) if (!lane.busy && lane.buffer.length > 0) free.push(lane);
      const now = performance.now();
      const decision = nextBatch(
        free.map((lane) => ({ partition: lane.partition, buffered: lane.buffer.length, since: lane.since ?? now })),
        { batchSize, windowMs: batchWindowMs, now, flush: this.#options.stream()?.isPaused() === true },
      );
      if (decision.kind === 'idle') {
        this.#clearTimer();
        return;
      }
      if (decision.kind === 'wait') {
        if (this.#timer === undefined || decision.wakeAt < this.#timerAt) {
          this.#clearTimer();
          this.#timerAt = decision.wakeAt;
          this.#timer = setTimeout(
            () => {
              this.#timer = undefined;
              this.#timerAt = Number.POSITIVE_INFINITY;
              this.#schedule();
            },
            Math.max(decision.wakeAt - now, 0),
          );
        }
        return;
      }
      const parts: Part[] = [];
      for (const { partition, count } of decision.take) {
        const lane = this.#lanes.get(partition) as Lane;
        const records = lane.buffer.splice(0, count);
        // What is left arrived before now; counting its window from now delays it by at most the time it has
        // already waited, and keeps the remainder of a full lane from going out at once as a small batch.
        lane.since = lane.buffer.length > 0 ? now : undefined;
        lane.busy = true;
        parts.push({ lane, records });
      }
      stats.pending = this.#buffered();
      for (const { lane } of parts) this.refetch(lane); // room again for what it dropped while full (no-op otherwise)
      this.resumeIfRoom();
      this.#track(this.#invoke(parts));
    }
  }

  #track(work: Promise<void>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => {
        // A bug, not an outcome (invoke() turns every failure of the function into one): said, never swallowed.
        this.#options.stats.lastError = String(error);
        this.#options.log.error('enrich runner batch failed unexpectedly', { error });
      },
    );
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
  }

  /** Invokes the function for one batch and settles each lane's share of it. */
  async #invoke(parts: Part[]): Promise<void> {
    const { stats } = this.#options;
    const batch = parts.length === 1 ? (parts[0] as Part).records : parts.flatMap((part) => part.records);
    const outcome = await invoke(this.#options.enrich, toKafkaEvent(batch, this.#options.bootstrapServers));
    const retries: Part[] = [];
    let records = 0;
    for (const part of parts) {
      // Taken away meanwhile: the new owner already reads these records from the committed offset, so this
      // share of the outcome is neither committed nor retried.
      if (part.lane.revoked) continue;
      records += part.records.length;
      const done = this.#acknowledge(part, outcome);
      if (done < part.records.length) retries.push({ lane: part.lane, records: part.records.slice(done) });
      else this.#release(part.lane);
    }
    if (outcome.ok) {
      stats.batches++;
      stats.records += records;
    } else {
      stats.failedInvocations++;
      stats.lastError = outcome.error;
    }
    // The lanes released take part in the next batches now, not after the others' retries.
    this.#schedule();
    // Each partition's rest is retried on its own (see the file comment), side by side.
    if (retries.length > 0) await Promise.all(retries.map((part) => this.#retry(part, outcome.ok ? '' : outcome.error)));
  }

  /** Acknowledges (and asks to commit) what the outcome allows of one share; returns how many records that is. */
  #acknowledge(part: Part, outcome: Outcome): number {
    const done = outcome.ok ? part.records : committable(part.records, outcome.failures);
    const last = done.at(-1);
    if (last !== undefined) {
      part.lane.progress.acknowledge(last.offset, last.leaderEpoch);
      this.#options.requestCommit();
    }
    return done.length;
  }

  /** The lane's batch is settled: it takes part in the next batches, and gets its full buffer back if it was retrying. */
  #release(lane: Lane): void {
    lane.busy = false;
    if (lane.retrying) {
      lane.retrying = false;
      this.refetch(lane);
    }
  }

  /** Retries one lane's unacknowledged records with backoff until they succeed, the lane is revoked or the runner stops. */
  async #retry(part: Part, firstError: string): Promise<void> {
    const { retryInitialMs, retryMaxMs, stats, log, running, rebalancing } = this.#options;
    const lane = part.lane;
    let batch = part.records;
    let error = firstError;
    let delay = retryInitialMs;
    for (;;) {
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
      if (!running()) return;
      log.warn('enrich batch failed; retrying', { partition: lane.partition, records: batch.length, retryInMs: delay, error });
      await sleep(lane, delay);
      if (!running() || lane.revoked) return;
      if (rebalancing()) {
        // Held like a new batch; restartHeld() starts it again if the lane keeps the partition.
        lane.buffer.unshift(...batch);
        lane.since = performance.now();
        lane.busy = false;
        this.#schedule();
        return;
      }
      delay = Math.min(delay * 2, retryMaxMs);
      const outcome = await invoke(this.#options.enrich, toKafkaEvent(batch, this.#options.bootstrapServers));
      if (lane.revoked) return;
      const done = this.#acknowledge({ lane, records: batch }, outcome);
      if (outcome.ok) {
        stats.batches++;
        stats.records += batch.length;
        this.#release(lane);
        this.#schedule();
        return;
      }
      stats.failedInvocations++;
      stats.lastError = outcome.error;
      error = outcome.error;
      batch = batch.slice(done);
    }
  }
}

function newLane(partition: number): Lane {
  return { partition, progress: new PartitionProgress(), buffer: [], since: undefined, busy: false, revoked: false, retrying: false, wake: undefined };
}

function wake(lane: Lane): void {
  const waiter = lane.wake;
  lane.wake = undefined;
  waiter?.();
}

/** A retry backoff, ended early by wake() (stop, revocation). */
function sleep(lane: Lane, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
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
