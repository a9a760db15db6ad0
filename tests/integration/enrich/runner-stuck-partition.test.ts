/**
 * The runner with one partition whose batches keep failing, on the real broker (shared, throwaway topics): the
 * other partitions go on being processed and committed (as the mapping's other pollers do), the stuck one
 * buffers a bounded number of records, and once it recovers every one of its records comes out (0 lost, no
 * skipped offset), including the ones it dropped while it was full. And a stop whose final commit is refused
 * retries it instead of leaving without committing.
 */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { Consumer, Producer } from '@platformatic/kafka';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import type { BuiltKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { CommitWatcher } from './runner-support.ts';
import { deleteTopics, enrichTestEnv, eventually, kafka, type Topics, throwawayTopics } from './support.ts';

const PARTITIONS = 6;
const PER_PARTITION = 1_000;
const BATCH_SIZE = 20;
/** About 1 KiB a record: a 64 KiB fetch per partition brings some 60 of them, so a backlog takes many fetches. */
const VALUE = Buffer.alloc(1_000, 'x');

/** Offsets of the invocations that succeeded, per partition; `failing` partitions throw instead. */
class RecordingEnrich {
  readonly processed = new Map<number, Set<number>>();
  readonly failing = new Set<number>();
  /** Invocations that threw, per partition. */
  readonly failures = new Map<number, number>();
  maxPending = 0;
  runner: EnrichRunner | undefined;

  readonly enrich = async (event: unknown): Promise<undefined> => {
    this.maxPending = Math.max(this.maxPending, this.runner?.stats.pending ?? 0);
    const records = Object.values((event as BuiltKafkaEvent).records).flat();
    const refused = records.find((record) => this.failing.has(record.partition));
    if (refused !== undefined) {
      this.failures.set(refused.partition, (this.failures.get(refused.partition) ?? 0) + 1);
      throw new Error('publish refused (test)');
    }
    for (const record of records) {
      const set = this.processed.get(record.partition) ?? new Set<number>();
      set.add(record.offset);
      this.processed.set(record.partition, set);
    }
    return undefined;
  };

  /** Whether every offset 0..count-1 of `partition` was processed. */
  complete(partition: number, count: number): boolean {
    return (this.processed.get(partition)?.size ?? 0) >= count;
  }

  /** Offsets of 0..count-1 that no successful invocation saw. */
  missing(partition: number, count: number): number[] {
    const seen = this.processed.get(partition) ?? new Set<number>();
    return Array.from({ length: count }, (_, offset) => offset).filter((offset) => !seen.has(offset));
  }
}

/** Writes `count` records to each partition in small sends (small record batches, so fetches interleave). */
async function produce(topic: string, partitions: readonly number[], count: number): Promise<void> {
  const producer = new Producer({ ...(await connectionOptions(kafka(), `runner-stuck-producer-${randomUUID()}`)), retries: 5, retryDelay: 200, idempotent: true });
  try {
    for (let from = 0; from < count; from += 20) {
      const messages = partitions.flatMap((partition) =>
        Array.from({ length: Math.min(20, count - from) }, (_, index) => ({ topic, partition, key: Buffer.from(`k-${partition}-${from + index}`), value: VALUE })),
      );
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
}

describe('a partition whose batches keep failing', () => {
  let topics: Topics;
  let runner: EnrichRunner | undefined;
  const watcher = new CommitWatcher();

  beforeAll(async () => {
    topics = await throwawayTopics('stuck', PARTITIONS);
  });

  afterAll(async () => {
    await runner?.stop();
    await watcher.stop();
    await deleteTopics(topics);
  });

  it('does not stop the other partitions, and loses none of its records once it recovers', async () => {
    // Prepare: partition 0 fails every time (a publish the broker refuses), the others work
    const groupId = `enrich-test-${randomUUID()}`;
    const fake = new RecordingEnrich();
    fake.failing.add(0);
    const all = Array.from({ length: PARTITIONS }, (_, partition) => partition);
    const others = all.filter((partition) => partition !== 0);
    await produce(topics.raw, all, PER_PARTITION);
    await watcher.start(kafka(), groupId, topics.raw);
    // Act
    runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId, batchSize: BATCH_SIZE, batchWindowMs: 20, retryInitialMs: 50, retryMaxMs: 200, enrich: fake.enrich });
    fake.runner = runner;
    const othersDone = await eventually(() => others.every((partition) => fake.complete(partition, PER_PARTITION) && watcher.last.get(partition) === BigInt(PER_PARTITION)), 60_000);
    // Stuck for a while longer: the stream reads partition 0 on while its lane is full and drops it
    expect(await eventually(() => (fake.failures.get(0) ?? 0) >= 10, 30_000)).toBe(true);
    const whileStuck = { processed0: fake.processed.get(0)?.size ?? 0, committed0: watcher.last.get(0), overflow: runner.stats.overflowRecords, maxPending: fake.maxPending };
    fake.failing.delete(0);
    const recovered = await eventually(() => fake.complete(0, PER_PARTITION) && watcher.last.get(0) === BigInt(PER_PARTITION), 60_000);
    console.info('stuck partition run', { whileStuck, runner: runner.stats });
    // Assess: the others went on while partition 0 was stuck
    expect(othersDone).toBe(true);
    expect(others.flatMap((partition) => fake.missing(partition, PER_PARTITION).map((offset) => `${partition}@${offset}`))).toEqual([]);
    expect(whileStuck.processed0).toBe(0);
    expect(whileStuck.committed0 ?? 0n).toBe(0n);
    // The stuck lane dropped records it had no room for (so the re-fetch path ran), and buffering stayed bounded:
    // at most the pause threshold of the working lanes, plus one fetch of them, plus the stuck lane's cap.
    expect(whileStuck.overflow).toBeGreaterThan(PER_PARTITION / 2);
    expect(whileStuck.maxPending).toBeLessThanOrEqual(BATCH_SIZE * 2 * PARTITIONS + 5 * 70 + BATCH_SIZE * 2);
    // Once it recovered, all of partition 0 came out and was committed: nothing lost, no offset skipped
    expect(recovered).toBe(true);
    expect(fake.missing(0, PER_PARTITION)).toEqual([]);
    expect(watcher.backwards).toEqual([]);
  }, 150_000);
});

describe('stop() when the broker refuses the final commit', () => {
  let topics: Topics;
  const watcher = new CommitWatcher();

  beforeAll(async () => {
    topics = await throwawayTopics('stopcommit', 1);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await watcher.stop();
    await deleteTopics(topics);
  });

  it('retries the final commit before leaving the group', async () => {
    // Prepare: 40 records processed and committed, then a batch held in flight while the runner stops
    const groupId = `enrich-test-${randomUUID()}`;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let hold = false;
    let heldLast = -1;
    const enrich = async (event: unknown) => {
      if (!hold) return undefined;
      heldLast = Math.max(...Object.values((event as BuiltKafkaEvent).records).flatMap((records) => records.map((record) => record.offset)));
      await held;
      return undefined;
    };
    await watcher.start(kafka(), groupId, topics.raw);
    const runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId, batchSize: BATCH_SIZE, batchWindowMs: 20, retryInitialMs: 50, retryMaxMs: 200, enrich });
    await produce(topics.raw, [0], 40);
    expect(await eventually(() => watcher.last.get(0) === 40n, 30_000)).toBe(true);
    hold = true;
    await produce(topics.raw, [0], 40);
    expect(await eventually(() => heldLast >= 0, 30_000)).toBe(true);
    // Act: stop while the batch is in flight; the broker refuses the next two commits (the one of that batch's
    // acknowledgement and the first final one), as during a coordinator move
    const stopped = runner.stop();
    const commit = jest.spyOn(Consumer.prototype, 'commit');
    for (let refused = 0; refused < 2; refused++) {
      commit.mockImplementationOnce((() => Promise.reject(new Error('NOT_COORDINATOR (test)'))) as unknown as typeof Consumer.prototype.commit);
    }
    release();
    await stopped;
    // Assess: the held batch's offsets reached the group before the runner left it
    expect(await eventually(() => watcher.samples > 0 && watcher.last.get(0) === BigInt(heldLast + 1), 5_000)).toBe(true);
    expect(commit.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(runner.stats.failedCommits).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
