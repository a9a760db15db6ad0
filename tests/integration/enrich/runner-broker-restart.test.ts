/**
 * The runner recovers from a broker crash by itself: against a broker of this test's own (never the shared one),
 * with logs produced all along, the broker is SIGKILLed and restarted while runner A keeps running, untouched.
 * At the end every accepted event id is on an output topic (0 lost), every offset of every raw partition was
 * processed (none skipped), and the group's committed offsets never moved backwards.
 */
import { randomUUID } from 'node:crypto';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { OwnBroker } from '../../support/own-broker.ts';
import { CommitWatcher, OutputRecorder, SteadyProducer, sleep } from './runner-support.ts';
import { enrichTestEnv, eventually, ingest, logFor, type Topics } from './support.ts';

const PARTITIONS = 4;
/**
 * How long the broker stays down before the restart begins (the restart itself adds ~12 s after a SIGKILL).
 * Longer than the consumer's request retries (20 × 250 ms), so its fetches and group calls fail for good.
 */
const DOWN_MS = Number(process.env.TEST_BROKER_DOWN_MS ?? 8_000);

describe('the runner across a broker crash', () => {
  const topics: Topics = { raw: 'raw-logs', complete: 'enriched-logs-complete', partial: 'enriched-logs-partial', dlq: 'raw-logs-dlq' };
  let broker: OwnBroker | undefined;
  let runner: EnrichRunner | undefined;
  let publisher: KafkaPublisher | undefined;
  const recorder = new OutputRecorder();
  const commits = new CommitWatcher();
  const producer = new SteadyProducer();

  beforeAll(async () => {
    broker = await OwnBroker.start({
      topics: [
        { name: topics.raw, partitions: PARTITIONS },
        { name: topics.complete, partitions: 1 },
        { name: topics.partial, partitions: 1 },
        { name: topics.dlq, partitions: 1 },
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await producer.stop();
    await runner?.stop();
    await commits.stop();
    await recorder.close();
    await publisher?.close();
    await broker?.stop();
  }, 60_000);

  it('goes on by itself after the broker is killed and restarted, losing and skipping nothing', async () => {
    // Prepare
    const own = broker as OwnBroker;
    const groupId = `enrich-test-restart-${randomUUID()}`;
    const env = enrichTestEnv(topics, { KAFKA_BROKERS: own.bootstrap });
    const kafka = readConfig(kafkaEnv, env);
    publisher = new KafkaPublisher(kafka, 'restart-test-ingest');
    await recorder.start(kafka, topics);
    runner = await startEnrichRunner({ env, topic: topics.raw, groupId, batchWindowMs: 50 });
    const a = runner;
    expect(await eventually(() => a.assignedPartitions().length === PARTITIONS, 30_000)).toBe(true);
    await commits.start(kafka, groupId, topics.raw);
    producer.start(publisher, topics.raw);
    await sleep(3_000);

    // Act: a burst, so that the crash (no clean shutdown) hits the runner mid-work, then down for DOWN_MS and
    // the restart's time while ingest keeps trying
    const burst: string[] = [];
    for (let request = 0; request < 4; request++) burst.push(...(await ingest(publisher, topics.raw, Array.from({ length: 500 }, () => logFor({})))));
    await own.kill('SIGKILL');
    await sleep(DOWN_MS);
    await own.restart();
    const recordsAtRestart = a.stats.records;
    await sleep(8_000);
    await producer.stop();

    // Assess: the same runner processed records after the restart and caught up
    const ids = [...burst, ...producer.ids];
    const lost = () => ids.filter((id) => !recorder.deliveries.has(id));
    expect(await eventually(() => lost().length === 0, 90_000, 250)).toBe(true);
    expect(await eventually(async () => Object.values(await a.lag().catch(() => ({ x: -1 }))).every((lag) => lag === 0), 60_000, 500)).toBe(true);
    await sleep(500); // one more sample of the committed offsets after the last commit
    await commits.stop();
    expect(lost()).toEqual([]);
    expect(a.stats.records).toBeGreaterThan(recordsAtRestart);
    expect(a.stats.failedInvocations).toBeGreaterThan(0); // batches were in flight when the broker died
    expect(producer.refused.length).toBeGreaterThan(0); // ingest saw the broker down: the outage was real
    expect(commits.backwards).toEqual([]);
    // No offset skipped: every offset below each partition's committed offset is the source of an output.
    const seen = new Map<number, Set<number>>();
    for (const deliveries of recorder.deliveries.values()) {
      for (const { partition, offset } of deliveries) seen.set(partition, (seen.get(partition) ?? new Set()).add(offset));
    }
    const skipped: string[] = [];
    for (const [partition, committed] of commits.last) {
      for (let offset = 0; offset < Number(committed); offset++) if (!seen.get(partition)?.has(offset)) skipped.push(`${partition}@${offset}`);
    }
    expect(commits.last.size).toBe(PARTITIONS);
    expect(skipped).toEqual([]);
    console.info('broker restart run', {
      produced: ids.length,
      refusedIngests: producer.refused.length,
      duplicated: [...recorder.deliveries.values()].filter((deliveries) => deliveries.length > 1).length,
      committed: Object.fromEntries(commits.last),
      runner: a.stats,
    });
  }, 240_000);
});
