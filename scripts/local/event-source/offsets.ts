/**
 * The runner's at-least-once bookkeeping, without I/O: which records of a batch may be committed after an
 * invocation, where each owned partition stands (received, acknowledged, committed), and how an assignment
 * from the consumer group changes the set of owned partitions.
 *
 * The contract these keep:
 * - a record is committed only after an invocation acknowledged it (and every record before it in its partition);
 * - the offset the runner commits for a partition never moves backwards;
 * - a record redelivered by the stream (it re-fetches from the committed offset after every rejoin) is not
 *   processed twice by the same owner.
 */
import type { KafkaBatchResponse } from '../../../functions/enrich/src/kafka-event.ts';

interface Coordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/**
 * The records of a batch that an invocation acknowledged: all of them when it succeeded (`failures` empty), none
 * when it threw (`failures` undefined), and with `{ batchItemFailures }` the records before each partition's
 * first reported failure (the mapping's rule: a partition resumes from its first failed record).
 *
 * @example
 * committable(batch, [{ itemIdentifier: { partition: 'raw-logs-0', offset: 12 } }]); // the records of raw-logs-0 before 12
 */
export function committable<M extends Coordinates>(batch: readonly M[], failures: KafkaBatchResponse['batchItemFailures'] | undefined): M[] {
  if (failures === undefined) return [];
  if (failures.length === 0) return [...batch];
  const firstFailed = new Map<string, number>();
  for (const { itemIdentifier } of failures) {
    const current = firstFailed.get(itemIdentifier.partition);
    if (current === undefined || itemIdentifier.offset < current) firstFailed.set(itemIdentifier.partition, itemIdentifier.offset);
  }
  return batch.filter((message) => {
    const first = firstFailed.get(`${message.topic}-${message.partition}`);
    return first === undefined || message.offset < BigInt(first);
  });
}

/**
 * What a lane does with a record the stream delivered (see `PartitionProgress.offer`):
 * - `accepted`: new and in sequence, buffer it;
 * - `redelivered`: below the lane's position (a re-fetch from the committed offset after a rejoin, or a fetch
 *   that started before the lane's position): skip it;
 * - `dropped`: new, but the lane has no room for it; the lane waits for exactly the first offset it dropped;
 * - `out-of-sync`: above the lane's position while the lane waits for one exact offset (or does not know yet
 *   where it starts): a fetch from some other position, applied anyway; skip it and re-fetch from `fetchFrom()`.
 */
export type Verdict = 'accepted' | 'redelivered' | 'dropped' | 'out-of-sync';

/**
 * Where one partition stands for its current owner. One instance per ownership: a partition that is revoked and
 * later assigned again starts a new one, which accepts nothing until `startAt` gives it the group's committed
 * offset (or the start position when there is none).
 *
 * Why "exactly": the stream applies every fetch response, even one sent before a rebalance or before the
 * runner moved the stream's position back (messages-stream.js #pushRecords), and its records carry nothing that
 * says from which position they were fetched. A lane that does not know what it has seen (a new ownership) or
 * that left a hole (it dropped records it had no room for) therefore accepts only the record at exactly the
 * offset it needs, and re-fetches from there when something else arrives. Once it has that record, the
 * following ones come from the same contiguous fetch, and gaps (compaction, transaction markers) are accepted
 * again. When that exact offset holds no record the stream delivers (a transactional producer's commit marker
 * at the committed offset, a compacted or expired record), the re-fetch from it starts at the same first
 * offset above it twice in a row: the lowest such offset, seen a second time, is accepted as the real start.
 * A stale fetch cannot do that (it is from a position above the lane's, and one re-fetch replaces it).
 *
 * @example
 * const progress = new PartitionProgress();
 * progress.startAt(5n);          // the group's committed offset for this partition
 * progress.offer(7n);            // 'out-of-sync': a fetch from an older position landed late
 * progress.offer(5n);            // 'accepted'
 * progress.offer(5n);            // 'redelivered' after a rejoin
 * progress.acknowledge(5n, 0);   // the invocation of offset 5 succeeded
 * progress.toCommit();           // { offset: 6n, leaderEpoch: 0 } (Kafka commits the next offset to read)
 */
export class PartitionProgress {
  /** Next offset expected from the stream; undefined until `startAt`. */
  #next: bigint | undefined;
  /** Whether the next record must be exactly `#next` (new ownership, or after a drop). */
  #exact = true;
  /** While exact: the lowest offset above `#next` delivered so far (a gap if it comes again after a re-fetch). */
  #gapAt: bigint | undefined;
  /** Next offset to read after the last acknowledged record, and the leader epoch of that record. */
  #acknowledged: { offset: bigint; leaderEpoch: number } | undefined;
  /** Highest offset the broker confirmed committing for this ownership. */
  #committed: bigint | undefined;

  /** Where this ownership starts: the group's committed offset, or the start position without one. Once only. */
  startAt(offset: bigint): void {
    if (this.#next === undefined) this.#next = offset;
    this.#gapAt = undefined;
  }

  /**
   * What to do with a record from the stream (see `Verdict`). `room` false: the lane cannot buffer a new record
   * now; it is dropped, never acknowledged, and fetched again once `fetchFrom()` is applied.
   */
  offer(offset: bigint, room = true): Verdict {
    if (this.#next === undefined) return 'out-of-sync';
    if (offset < this.#next) return 'redelivered';
    if (!room) {
      // A full lane: whatever it cannot take now it needs again, from the first offset it has not got.
      if (this.#exact) return 'dropped';
      this.#next = offset;
      this.#exact = true;
      this.#gapAt = undefined;
      return 'dropped';
    }
    if (this.#exact && offset !== this.#next) {
      // First sight of the lowest offset above the one we need: re-fetch. Second sight: nothing below it is
      // there to deliver (see the class comment), so the lane starts there.
      if (this.#gapAt === undefined || offset < this.#gapAt) {
        this.#gapAt = offset;
        return 'out-of-sync';
      }
      if (offset > this.#gapAt) return 'out-of-sync';
    }
    this.#exact = false;
    this.#gapAt = undefined;
    this.#next = offset + 1n;
    return 'accepted';
  }

  /** Whether a record is new to this owner and in sequence (`offer` with room, as a boolean). */
  accept(offset: bigint): boolean {
    return this.offer(offset) === 'accepted';
  }

  /**
   * Buffered records from `offset` on were dropped (accepted before, never handed to an invocation): the lane
   * needs exactly that record again.
   */
  rewindTo(offset: bigint): void {
    if (this.#next === undefined || offset < this.#next) {
      this.#next = offset;
      this.#exact = true;
      this.#gapAt = undefined;
    }
  }

  /** The offset the stream must fetch next for this lane, when the lane waits for one exact record. */
  fetchFrom(): bigint | undefined {
    return this.#exact ? this.#next : undefined;
  }

  /** Records up to `lastOffset` were acknowledged by an invocation. Lower or equal offsets change nothing. */
  acknowledge(lastOffset: bigint, leaderEpoch: number): void {
    const offset = lastOffset + 1n;
    if (this.#acknowledged === undefined || offset > this.#acknowledged.offset) this.#acknowledged = { offset, leaderEpoch };
  }

  /** The offset to commit now, or undefined when everything acknowledged is committed already. */
  toCommit(): { offset: bigint; leaderEpoch: number } | undefined {
    const acknowledged = this.#acknowledged;
    if (acknowledged === undefined) return undefined;
    if (this.#committed !== undefined && acknowledged.offset <= this.#committed) return undefined;
    return acknowledged;
  }

  /** The broker confirmed a commit of `offset` (responses may arrive for older requests: the highest wins). */
  committed(offset: bigint): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }
}

/** The partitions of `topic` in an assignment from the consumer group (`null`: none, e.g. after leaving). */
export function partitionsOf(assignments: readonly { topic: string; partitions: readonly number[] }[] | null | undefined, topic: string): Set<number> {
  const out = new Set<number>();
  for (const assignment of assignments ?? []) if (assignment.topic === topic) for (const partition of assignment.partitions) out.add(partition);
  return out;
}

/**
 * What a new assignment changes: the owned partitions it takes away and the ones it adds (the rest are kept,
 * with their lanes, buffers and in-flight batches).
 *
 * @example
 * diffAssignment(new Set([0, 1]), new Set([1, 2])); // { revoked: [0], added: [2] }
 */
export function diffAssignment(owned: ReadonlySet<number>, assigned: ReadonlySet<number>): { revoked: number[]; added: number[] } {
  return {
    revoked: [...owned].filter((partition) => !assigned.has(partition)),
    added: [...assigned].filter((partition) => !owned.has(partition)),
  };
}
