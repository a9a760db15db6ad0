/**
 * When the runner invokes the function, and with which records: the event source mapping's batching, without
 * I/O. The mapping's poller gathers records of all the partitions it reads into one batch and invokes when the
 * batch is full (BatchSize) or the batching window has passed since the batch's first record
 * (MaximumBatchingWindowInSeconds); one batch can hold several partitions. It invokes one batch at a time, so a
 * partition never has two batches in flight, and under a backlog the mapping scales out to one poller per
 * partition. The runner does both at once: a batch is gathered from the partitions that have no batch in flight
 * ("free" lanes), so at a low rate the partitions share batches (they fill as fast as on one poller), and under
 * a backlog each partition that alone fills a batch gets its own, in flight side by side (as with one poller per
 * partition).
 */

/** What the batching needs to know of a lane (see `Lane` in lanes.ts). */
export interface BatchCandidate {
  readonly partition: number;
  /** Records buffered, in offset order. */
  readonly buffered: number;
  /** When the oldest buffered record arrived (performance.now() ms). */
  readonly since: number;
}

/** What to do now: invoke with `take` records of each listed lane (in that order), or wait until `wakeAt`. */
export type BatchDecision = { kind: 'invoke'; take: { partition: number; count: number }[] } | { kind: 'wait'; wakeAt: number } | { kind: 'idle' };

/**
 * The next batch from the free lanes with records. Due when the free lanes hold a full batch, when the window
 * of the oldest record has passed, or when `flush` (no more records can arrive now: the stream is paused by
 * backpressure, so waiting out the window would only stall). Fill order: lanes whose window has passed first
 * (oldest first, so none waits beyond its window because fuller lanes keep filling the batches), then the
 * fullest, so that under a backlog a lane that alone fills a batch gets a batch of its own.
 *
 * @example
 * nextBatch([{ partition: 0, buffered: 30, since: 0 }, { partition: 1, buffered: 80, since: 5 }], { batchSize: 100, windowMs: 500, now: 10, flush: false });
 * // { kind: 'invoke', take: [{ partition: 1, count: 80 }, { partition: 0, count: 20 }] }
 */
export function nextBatch(
  free: readonly BatchCandidate[],
  options: { batchSize: number; windowMs: number; now: number; flush: boolean },
): BatchDecision {
  const { batchSize, windowMs, now, flush } = options;
  let total = 0;
  let oldest = Number.POSITIVE_INFINITY;
  for (const lane of free) {
    if (lane.buffered === 0) continue;
    total += lane.buffered;
    if (lane.since < oldest) oldest = lane.since;
  }
  if (total === 0) return { kind: 'idle' };
  if (total < batchSize && !flush && now < oldest + windowMs) return { kind: 'wait', wakeAt: oldest + windowMs };
  const order = free
    .filter((lane) => lane.buffered > 0)
    .sort((a, b) => {
      const aDue = now >= a.since + windowMs;
      const bDue = now >= b.since + windowMs;
      if (aDue !== bDue) return aDue ? -1 : 1;
      if (aDue) return a.since - b.since;
      return b.buffered - a.buffered || a.since - b.since;
    });
  const take: { partition: number; count: number }[] = [];
  let room = batchSize;
  for (const lane of order) {
    if (room === 0) break;
    const count = Math.min(room, lane.buffered);
    take.push({ partition: lane.partition, count });
    room -= count;
  }
  return { kind: 'invoke', take };
}
