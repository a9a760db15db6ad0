/**
 * The runner's offset commits. Only acknowledged offsets, only for owned partitions, one OffsetCommit request at
 * a time for all lanes (a lane does not wait for it: an awaited commit per batch capped a lane at a few batches
 * a second).
 *
 * Consumer#commit is used rather than message.commit(): the stream's commit queue flushes whatever it holds
 * when the group rejoins (messages-stream.js #onConsumerGroupJoin → kAutocommit), revoked partitions
 * included, under the new generation; the broker accepts that (classic groups check the generation, not
 * ownership) and it would race the new owner's commits, moving the committed offset backwards.
 * While the consumer is not active (mid-rejoin: the client cancels its heartbeat, consumer.js isActive)
 * nothing is sent; the runner requests a commit again at the next assignment, for the partitions still owned.
 *
 * Residual, across runners (documented in the README): "never while rebalancing" is judged when a request is
 * sent. An OffsetCommit already in flight when a rebalance starts is still applied by the coordinator under
 * the old generation, and it may land after the partition's new owner committed a higher offset, moving the
 * group's offset back to this runner's. The new owner keeps its own (higher) position, so this costs
 * duplicates only, on whoever starts from the group's offset next; no record is skipped.
 */
import type { Consumer } from '@platformatic/kafka';
import type { Log } from '#shared/log-port.ts';
import type { PartitionProgress } from './offsets.ts';
import type { RunnerStats } from './stats.ts';

/** Attempts at the final commit in `finish()` (the backoff between them starts at retryInitialMs). */
const FINAL_COMMIT_ATTEMPTS = 5;

export interface CommitTrackerOptions {
  consumer: Pick<Consumer, 'commit' | 'isActive'>;
  topic: string;
  /** The owned partitions and where each stands, read at every flush. */
  owned: () => Iterable<{ readonly partition: number; readonly progress: PartitionProgress }>;
  stats: Pick<RunnerStats, 'failedCommits'>;
  /** False once the runner is stopping: failed commits are then retried by `finish()`, not by a timer. */
  running: () => boolean;
  retryInitialMs: number;
  retryMaxMs: number;
  log: Log;
}

/**
 * @example
 * const commits = new CommitTracker({ consumer, topic, owned: () => lanes.values(), stats, running: () => running, retryInitialMs: 100, retryMaxMs: 5_000, log });
 * lane.progress.acknowledge(last.offset, last.leaderEpoch);
 * commits.request();
 * // when stopping
 * await commits.finish();
 */
export class CommitTracker {
  readonly #options: CommitTrackerOptions;
  #committing: Promise<void> | undefined;
  #again = false;
  #retry: NodeJS.Timeout | undefined;
  #delay: number;
  /** Whether the last flush left acknowledged offsets uncommitted (it failed, or the consumer was mid-rejoin). */
  #owed = false;

  constructor(options: CommitTrackerOptions) {
    this.#options = options;
    this.#delay = options.retryInitialMs;
  }

  /** Commits what is acknowledged now, or right after the request in flight. */
  request(): void {
    if (this.#committing !== undefined) {
      this.#again = true;
      return;
    }
    this.#committing = this.#flush().finally(() => {
      this.#committing = undefined;
      if (this.#again) this.request();
    });
  }

  /**
   * The final commit of a stop (call it once the lanes are drained): waits for the request in flight, then
   * retries a bounded number of times. What is still uncommitted after them runs again on the next owner
   * (at-least-once), and the runner leaves the group without waiting any longer.
   */
  async finish(): Promise<void> {
    const { retryInitialMs, retryMaxMs, log } = this.#options;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    while (this.#committing !== undefined) await this.#committing;
    let delay = retryInitialMs;
    for (let attempt = 1; ; attempt++) {
      await this.#flush();
      if (!this.#owed) break;
      if (attempt >= FINAL_COMMIT_ATTEMPTS) {
        log.warn('enrich runner stopping with offsets it could not commit; the next owner processes them again', { attempts: attempt });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, retryMaxMs);
    }
    clearTimeout(this.#retry);
  }

  async #flush(): Promise<void> {
    const { consumer, topic, stats, log, running, retryInitialMs, retryMaxMs } = this.#options;
    this.#again = false;
    this.#owed = false;
    if (!consumer.isActive()) {
      this.#owed = [...this.#options.owned()].some((lane) => lane.progress.toCommit() !== undefined);
      return;
    }
    const sent: { progress: PartitionProgress; offset: bigint }[] = [];
    const offsets = [];
    for (const lane of this.#options.owned()) {
      const next = lane.progress.toCommit();
      if (next === undefined) continue;
      sent.push({ progress: lane.progress, offset: next.offset });
      offsets.push({ topic, partition: lane.partition, offset: next.offset, leaderEpoch: next.leaderEpoch });
    }
    if (offsets.length === 0) return;
    try {
      // Residual risk, from the client: on a rejoin error (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID after this
      // member's session expired) Consumer#commit rejoins and sends the same offsets again under the new
      // generation (consumer.js #commit). Nothing is sent mid-rebalance, so only a stall beyond the session
      // timeout gets there.
      await consumer.commit({ offsets });
      for (const { progress, offset } of sent) progress.committed(offset);
      this.#delay = retryInitialMs;
    } catch (error) {
      // The offsets stay acknowledged: retried with backoff (a broker restart, a coordinator moving), and by
      // the next acknowledgement or assignment anyway. The lanes go on meanwhile (at-least-once).
      stats.failedCommits++;
      this.#owed = true;
      log.warn('could not commit offsets; retrying', { partitions: offsets.map((offset) => `${topic}-${offset.partition}`), retryInMs: this.#delay, error });
      clearTimeout(this.#retry);
      this.#retry = undefined;
      // While stopping, finish() retries the final commit itself (bounded); a timer would never run it.
      if (running()) {
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          if (running()) this.request();
        }, this.#delay);
        // Never what keeps the process alive.
        this.#retry.unref();
      }
      this.#delay = Math.min(this.#delay * 2, retryMaxMs);
    }
  }
}
