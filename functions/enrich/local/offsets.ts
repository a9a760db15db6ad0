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
import type { KafkaBatchResponse } from '../src/kafka-event.ts';

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
 * Where one partition stands for its current owner. One instance per ownership: a partition that is revoked and
 * later assigned again starts a new one, because the stream then restarts it from the group's committed offset.
 *
 * @example
 * const progress = new PartitionProgress();
 * progress.accept(5n);           // true: first record of this ownership
 * progress.accept(5n);           // false: redelivered after a rejoin
 * progress.acknowledge(5n, 0);   // the invocation of offset 5 succeeded
 * progress.toCommit();           // { offset: 6n, leaderEpoch: 0 } (Kafka commits the next offset to read)
 */
export class PartitionProgress {
  /** Next offset expected from the stream; undefined until the first record of this ownership. */
  #next: bigint | undefined;
  /** Next offset to read after the last acknowledged record, and the leader epoch of that record. */
  #acknowledged: { offset: bigint; leaderEpoch: number } | undefined;
  /** Highest offset the broker confirmed committing for this ownership. */
  #committed: bigint | undefined;

  /**
   * Whether a record from the stream is new to this owner. Offsets below the next expected one are redeliveries
   * (the stream re-fetches kept partitions from the committed offset after each rejoin): already buffered,
   * processed or in flight here. A gap above it is accepted: compaction and transaction markers leave gaps.
   */
  accept(offset: bigint): boolean {
    if (this.#next !== undefined && offset < this.#next) return false;
    this.#next = offset + 1n;
    return true;
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
