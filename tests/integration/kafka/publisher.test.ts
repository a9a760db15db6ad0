import { randomUUID } from 'node:crypto';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher, PublishError } from '#shared/kafka/publisher.ts';
import { latestOffsets, readTopicUntil } from '../../support/kafka.ts';

const TOPIC = 'raw-logs';

describe('KafkaPublisher', () => {
  const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'publisher-test');

  afterAll(async () => {
    await publisher.close();
  });

  it('stores every message of many concurrent callers, each caller resolving after its own are acknowledged', async () => {
    // Prepare
    const before = await latestOffsets(TOPIC);
    const key = `publisher-test-${randomUUID()}`;
    const callers = Array.from({ length: 50 }, (_, caller) =>
      Array.from({ length: 3 }, (_, n) => ({ event_id: randomUUID(), caller, n })),
    );

    // Act
    await Promise.all(
      callers.map((records) =>
        publisher.publish(records.map((record) => ({ topic: TOPIC, key, value: JSON.stringify(record) }))),
      ),
    );

    // Assess
    const wanted = callers.flat().map((record) => record.event_id);
    const read = await readTopicUntil({ topic: TOPIC, eventIds: wanted, fromOffsets: before });
    expect(read).toHaveLength(wanted.length);
    // One key, one partition: each caller's messages keep their order.
    const order = read.map((message) => message.json as { caller: number; n: number });
    for (let caller = 0; caller < callers.length; caller++) {
      expect(order.filter((record) => record.caller === caller).map((record) => record.n)).toEqual([0, 1, 2]);
    }
  });

  it('rejects every caller with PublishError when the broker cannot be reached', async () => {
    // Prepare
    const dead = new KafkaPublisher(
      { ...readConfig(kafkaEnv), KAFKA_BROKERS: ['127.0.0.1:1'], KAFKA_PRODUCE_RETRIES: 2, KAFKA_RETRY_DELAY_MS: 10 },
      'publisher-test-dead',
    );
    const message = { topic: TOPIC, key: 'k', value: '{}' };

    // Act
    const results = await Promise.allSettled([dead.publish([message]), dead.publish([message]), dead.publish([message])]);
    await dead.close();

    // Assess
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(PublishError);
    }
  });
});
