/**
 * The runner's lanes without a broker: batches gathered over the partitions with no batch in flight (the
 * mapping's batching), one batch in flight per partition (per-partition order), acknowledgements only after
 * an invocation succeeded, and failed batches retried partition by partition. A fake stream stands in for the
 * consumer's; the enrich function is a recorder.
 */
import type { MessagesStream } from '@platformatic/kafka';
import { silentLog } from '#shared/log-port.ts';
import type { KafkaBatchResponse } from '../../../functions/enrich/src/kafka-event.ts';
import type { BuiltKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { Lanes } from '../../../scripts/local/event-source/lanes.ts';
import { newRunnerStats } from '../../../scripts/local/event-source/stats.ts';
import { eventually } from '../../support/eventually.ts';
import { range } from './messages.ts';

/** What the lanes use of the consumer's stream. */
class FakeStream {
  paused = false;
  readonly offsetsToFetch = new Map<string, bigint>();
  isPaused(): boolean {
    return this.paused;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

/** Each invocation's records as `partition@offset`, and a way to hold invocations or make them fail. */
class Recorder {
  readonly invocations: string[][] = [];
  /** Partitions whose records make an invocation throw. */
  readonly failing = new Set<number>();
  /** Answered once, by the next invocation that reaches it, instead of success. */
  itemFailures: KafkaBatchResponse['batchItemFailures'] | undefined;
  #held: (() => void)[] = [];
  hold = false;
  inFlight = 0;
  maxInFlightPerPartition = 0;
  readonly #inFlightPartitions = new Map<number, number>();

  readonly enrich = async (event: unknown): Promise<KafkaBatchResponse | undefined> => {
    const records = Object.values((event as BuiltKafkaEvent).records).flat();
    const partitions = new Set(records.map((record) => record.partition));
    this.invocations.push(records.map((record) => `${record.partition}@${record.offset}`));
    for (const partition of partitions) {
      const now = (this.#inFlightPartitions.get(partition) ?? 0) + 1;
      this.#inFlightPartitions.set(partition, now);
      this.maxInFlightPerPartition = Math.max(this.maxInFlightPerPartition, now);
    }
    this.inFlight++;
    try {
      if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve));
      if (records.some((record) => this.failing.has(record.partition))) throw new Error('refused (test)');
      const failures = this.itemFailures;
      this.itemFailures = undefined;
      return failures === undefined ? undefined : { batchItemFailures: failures };
    } finally {
      this.inFlight--;
      for (const partition of partitions) this.#inFlightPartitions.set(partition, (this.#inFlightPartitions.get(partition) ?? 1) - 1);
    }
  };

  release(): void {
    this.hold = false;
    for (const resolve of this.#held.splice(0)) resolve();
  }
}

function lanesFor(recorder: Recorder, options: { batchSize: number; batchWindowMs: number; partitions: number[] }) {
  const stream = new FakeStream();
  const stats = newRunnerStats();
  let running = true;
  const lanes = new Lanes({
    topic: 'raw-logs',
    batchSize: options.batchSize,
    batchWindowMs: options.batchWindowMs,
    retryInitialMs: 5,
    retryMaxMs: 20,
    bootstrapServers: '127.0.0.1:9092',
    enrich: recorder.enrich,
    stats,
    log: silentLog,
    requestCommit: () => undefined,
    stream: () => stream as unknown as MessagesStream<Buffer, Buffer, Buffer, Buffer>,
    running: () => running,
    rebalancing: () => false,
  });
  for (const lane of lanes.add(options.partitions)) lane.progress.startAt(0n);
  return {
    lanes,
    stats,
    stream,
    committable: (partition: number) => lanes.get(partition)?.progress.toCommit()?.offset,
    async stop() {
      running = false;
      await lanes.drain();
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the runner lanes', () => {
  it('gather records of several partitions into one invocation, as the mapping does at a low rate', async () => {
    // Prepare: a window far longer than the test, so only a full batch starts an invocation
    const recorder = new Recorder();
    const { lanes, stop } = lanesFor(recorder, { batchSize: 10, batchWindowMs: 60_000, partitions: [0, 1, 2] });
    // Act: 4 + 3 records, then 3 more that fill the batch
    for (const record of [...range(0, 3, { partition: 0 }), ...range(0, 2, { partition: 1 })]) lanes.receive(record);
    await settle();
    const beforeFull = recorder.invocations.length;
    for (const record of range(0, 2, { partition: 2 })) lanes.receive(record);
    await settle();
    await stop();
    // Assess
    expect(beforeFull).toBe(0);
    expect(recorder.invocations).toHaveLength(1);
    expect(new Set(recorder.invocations[0]?.map((id) => id.split('@')[0]))).toEqual(new Set(['0', '1', '2']));
    expect(recorder.invocations[0]).toHaveLength(10);
  });

  it('never has two batches of one partition in flight, and hands each partition its records in offset order', async () => {
    // Prepare: invocations held until released
    const recorder = new Recorder();
    recorder.hold = true;
    const { lanes, committable, stop } = lanesFor(recorder, { batchSize: 5, batchWindowMs: 60_000, partitions: [0, 1] });
    // Act: a full batch of partition 0 (held), then more of partition 0 and a full batch of partition 1
    for (const record of range(0, 4, { partition: 0 })) lanes.receive(record);
    await settle();
    for (const record of [...range(5, 9, { partition: 0 }), ...range(0, 4, { partition: 1 })]) lanes.receive(record);
    await settle();
    const whileHeld = recorder.invocations.map((ids) => [...ids]);
    recorder.release();
    expect(await eventually(() => committable(0) === 10n && committable(1) === 5n, 5_000, 5)).toBe(true);
    await stop();
    // Assess: partition 1 went on while partition 0's batch was in flight; partition 0's second batch waited for its first
    expect(whileHeld).toEqual([
      ['0@0', '0@1', '0@2', '0@3', '0@4'],
      ['1@0', '1@1', '1@2', '1@3', '1@4'],
    ]);
    expect(recorder.invocations[2]).toEqual(['0@5', '0@6', '0@7', '0@8', '0@9']);
    expect(recorder.maxInFlightPerPartition).toBe(1);
  });

  it('starts a partial batch once the batching window has passed', async () => {
    // Prepare
    const recorder = new Recorder();
    const { lanes, committable, stop } = lanesFor(recorder, { batchSize: 100, batchWindowMs: 20, partitions: [0, 1] });
    // Act
    for (const record of [...range(0, 2, { partition: 0 }), ...range(0, 1, { partition: 1 })]) lanes.receive(record);
    const invoked = await eventually(() => recorder.invocations.length === 1, 5_000, 5);
    await stop();
    // Assess: one invocation with both partitions' records, acknowledged
    expect(invoked).toBe(true);
    expect(recorder.invocations[0]).toEqual(['0@0', '0@1', '0@2', '1@0', '1@1']);
    expect(committable(0)).toBe(3n);
    expect(committable(1)).toBe(2n);
  });

  it('retries a failed batch of two partitions partition by partition: the one that keeps failing holds up only itself', async () => {
    // Prepare: partition 0 fails every time
    const recorder = new Recorder();
    recorder.failing.add(0);
    const { lanes, stats, committable, stop } = lanesFor(recorder, { batchSize: 6, batchWindowMs: 60_000, partitions: [0, 1] });
    // Act: one batch of both partitions, then more records of partition 1
    for (const record of [...range(0, 2, { partition: 0 }), ...range(0, 2, { partition: 1 })]) lanes.receive(record);
    await settle();
    const partition1Done = await eventually(() => committable(1) === 3n, 5_000, 5);
    for (const record of range(3, 8, { partition: 1 })) lanes.receive(record);
    const partition1More = await eventually(() => committable(1) === 9n, 5_000, 5);
    const retriedAlone = await eventually(() => stats.failedInvocations >= 4, 5_000, 5);
    await stop();
    // Assess: partition 1 acknowledged (alone after the shared failure), partition 0 never
    expect(recorder.invocations[0]).toEqual(['0@0', '0@1', '0@2', '1@0', '1@1', '1@2']);
    expect(partition1Done && partition1More && retriedAlone).toBe(true);
    expect(committable(0)).toBeUndefined();
    expect(recorder.invocations.slice(1).filter((ids) => ids.some((id) => id.startsWith('0@')))).toContainEqual(['0@0', '0@1', '0@2']);
    expect(recorder.invocations.slice(1).every((ids) => new Set(ids.map((id) => id.split('@')[0])).size === 1)).toBe(true);
    expect(recorder.maxInFlightPerPartition).toBe(1);
  });

  it('with item failures, acknowledges each partition up to its first failure and retries only the rest', async () => {
    // Prepare: the first invocation reports partition 0's offset 1 as failed
    const recorder = new Recorder();
    recorder.itemFailures = [{ itemIdentifier: { partition: 'raw-logs-0', offset: 1 } }];
    const { lanes, committable, stop } = lanesFor(recorder, { batchSize: 6, batchWindowMs: 60_000, partitions: [0, 1] });
    // Act
    for (const record of [...range(0, 2, { partition: 0 }), ...range(0, 2, { partition: 1 })]) lanes.receive(record);
    const done = await eventually(() => committable(0) === 3n && committable(1) === 3n, 5_000, 5);
    await stop();
    // Assess: partition 1 and partition 0's offset 0 from the first invocation; then 0@1 and 0@2 again, alone
    expect(done).toBe(true);
    expect(recorder.invocations).toEqual([
      ['0@0', '0@1', '0@2', '1@0', '1@1', '1@2'],
      ['0@1', '0@2'],
    ]);
  });

  it('discards the outcome of a revoked partition in a shared batch, and acknowledges the other partition', async () => {
    // Prepare: a batch of both partitions held in flight
    const recorder = new Recorder();
    recorder.hold = true;
    const { lanes, stats, committable, stop } = lanesFor(recorder, { batchSize: 4, batchWindowMs: 60_000, partitions: [0, 1] });
    for (const record of [...range(0, 1, { partition: 0 }), ...range(0, 1, { partition: 1 })]) lanes.receive(record);
    await settle();
    const revokedLane = lanes.get(0);
    // Act: the group takes partition 0 away meanwhile
    lanes.revoke(0);
    recorder.release();
    const acknowledged = await eventually(() => committable(1) === 2n, 5_000, 5);
    await stop();
    // Assess
    expect(acknowledged).toBe(true);
    expect(revokedLane?.progress.toCommit()).toBeUndefined();
    expect(lanes.get(0)).toBeUndefined();
    expect(stats.records).toBe(2);
  });

  it('pauses the stream at two batches per lane, and goes on from what is buffered while paused', async () => {
    // Prepare
    const recorder = new Recorder();
    recorder.hold = true;
    const { lanes, stream, stop } = lanesFor(recorder, { batchSize: 5, batchWindowMs: 60_000, partitions: [0, 1] });
    // Act: 30 records while every invocation is held: one batch per lane in flight, two per lane still buffered
    for (const record of [...range(0, 14, { partition: 0 }), ...range(0, 14, { partition: 1 })]) lanes.receive(record);
    await settle();
    const pausedWhileHeld = stream.paused;
    recorder.release();
    const drained = await eventually(() => recorder.invocations.flat().length === 30, 5_000, 5);
    await stop();
    // Assess: paused while 20 were buffered beyond the batches in flight; resumed once the lanes took batches again
    expect(pausedWhileHeld).toBe(true);
    expect(drained).toBe(true);
    expect(stream.paused).toBe(false);
  });
});
