/**
 * The runner's batches on the real broker (shared, throwaway topics): like the mapping's poller, it gathers the
 * records of several partitions into one invocation as soon as together they fill a batch (not after a
 * batching window per partition), and commits each partition's offsets once that invocation succeeded.
 */
import { randomUUID } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
import { connectionOptions } from '#shared/kafka/connection.ts';
import type { BuiltKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { CommitWatcher } from './runner-support.ts';
import { deleteTopics, enrichTestEnv, eventually, kafka, type Topics, throwawayTopics } from './support.ts';

const PARTITIONS = 3;
const PER_PARTITION = 4;

describe('the runner batches across partitions', () => {
  let topics: Topics;
  let runner: EnrichRunner | undefined;
  const watcher = new CommitWatcher();

  beforeAll(async () => {
    topics = await throwawayTopics('batching', PARTITIONS);
  });

  afterAll(async () => {
    await runner?.stop();
    await watcher.stop();
    await deleteTopics(topics);
  });

  it('invokes once the partitions together fill a batch, well before the batching window, and commits each partition', async () => {
    // Prepare: a batch of exactly the records written, and a window far longer than the test may wait
    const groupId = `enrich-test-${randomUUID()}`;
    const invocations: string[][] = [];
    const enrich = async (event: unknown) => {
      invocations.push(Object.values((event as BuiltKafkaEvent).records).flatMap((records) => records.map((record) => `${record.partition}@${record.offset}`)));
      return undefined;
    };
    await watcher.start(kafka(), groupId, topics.raw);
    runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId, batchSize: PARTITIONS * PER_PARTITION, batchWindowMs: 120_000, enrich });
    // Act: a few records on every partition, in one send
    const producer = new Producer({ ...(await connectionOptions(kafka(), `runner-batching-${randomUUID()}`)), idempotent: true, retries: 5, retryDelay: 200 });
    try {
      await producer.send({
        messages: Array.from({ length: PARTITIONS }, (_, partition) =>
          Array.from({ length: PER_PARTITION }, (_, index) => ({ topic: topics.raw, partition, key: Buffer.from(`k-${partition}-${index}`), value: Buffer.from('{}') })),
        ).flat(),
      });
    } finally {
      await producer.close();
    }
    const committed = await eventually(
      () => Array.from({ length: PARTITIONS }, (_, partition) => partition).every((partition) => watcher.last.get(partition) === BigInt(PER_PARTITION)),
      60_000,
    );
    // Assess: one invocation with every record of every partition, in offset order per partition
    expect(committed).toBe(true);
    expect(invocations).toHaveLength(1);
    const [only] = invocations;
    for (let partition = 0; partition < PARTITIONS; partition++) {
      expect(only?.filter((id) => id.startsWith(`${partition}@`))).toEqual(Array.from({ length: PER_PARTITION }, (_, offset) => `${partition}@${offset}`));
    }
  }, 90_000);
});
