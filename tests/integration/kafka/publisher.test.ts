import { randomUUID } from 'node:crypto';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { createThrowawayTopics, deleteTopics } from '../../../bench/lib/kafka-fixtures.ts';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { KafkaPublisher, MessageTooLargeError, PublishError } from '#shared/kafka/publisher.ts';
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

  it('merges the calls made in one event-loop turn into one send (the one-turn linger)', async () => {
    // Prepare: warm, so the first send's connect does not decide the grouping
    const key = `publisher-linger-${randomUUID()}`;
    await publisher.publish([{ topic: TOPIC, key, value: JSON.stringify({ event_id: randomUUID() }) }]);
    let sends = 0;
    const ignore = () => undefined;
    const onSend = { start: () => {
        sends += 1;
      }, end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore };
    const sendsChannel = tracingChannel('plt:kafka:producer:sends');
    sendsChannel.subscribe(onSend);

    // Act: ten calls in one turn, then ten more in the next turns, one per turn after an answer
    try {
      await Promise.all(Array.from({ length: 10 }, () => publisher.publish([{ topic: TOPIC, key, value: JSON.stringify({ event_id: randomUUID() }) }])));
      const sameTurn = sends;
      for (let n = 0; n < 3; n++) await publisher.publish([{ topic: TOPIC, key, value: JSON.stringify({ event_id: randomUUID() }) }]);

      // Assess
      expect(sameTurn).toBe(1);
      expect(sends).toBe(4);
    } finally {
      sendsChannel.unsubscribe(onSend);
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

describe('KafkaPublisher with sends larger than one record batch', () => {
  const env = readConfig(kafkaEnv);
  // Six partitions, as raw-logs: the library puts every message of one key on one partition, in one batch.
  const topic = `publisher-large-${randomUUID().slice(0, 8)}`;
  const publisher = new KafkaPublisher(env, 'publisher-test-large');

  beforeAll(async () => {
    await createThrowawayTopics(await connectionOptions(env, 'publisher-test-topics'), [{ name: topic, partitions: 6 }]);
  });

  afterAll(async () => {
    await publisher.close();
    await deleteTopics(await connectionOptions(env, 'publisher-test-topics'), [topic]);
  });

  /** A JSON value of about `bytes` bytes carrying an event id. */
  const large = (bytes: number, n: number) => {
    const event_id = randomUUID();
    return { event_id, value: JSON.stringify({ event_id, n, pad: 'x'.repeat(bytes - 80) }) };
  };

  it('stores 100 messages of 64 KiB to one key in one call (6.4 MiB for one partition), in order', async () => {
    // Prepare
    const records = Array.from({ length: 100 }, (_, n) => large(64 * 1024, n));

    // Act
    await publisher.publish(records.map((record) => ({ topic, key: 'one-key', value: record.value })));

    // Assess
    const read = await readTopicUntil({ topic, eventIds: records.map((record) => record.event_id), timeoutMs: 30_000 });
    expect(read).toHaveLength(100);
    expect(new Set(read.map((message) => message.partition)).size).toBe(1);
    expect(read.map((message) => (message.json as { n: number }).n)).toEqual(records.map((_, n) => n));
  });

  it('rejects a message larger than the brokers accept with MessageTooLargeError naming it, and sends nothing of the call', async () => {
    // Prepare
    const small = large(100, 0);
    const huge = large(env.KAFKA_MESSAGE_MAX_BYTES + 1024, 1);
    const before = await latestOffsets(topic);

    // Act
    const result = await Promise.allSettled([
      publisher.publish([
        { topic, key: 'k', value: small.value },
        { topic, key: 'k', value: huge.value },
      ]),
    ]);

    // Assess
    expect(result[0]?.status).toBe('rejected');
    const reason = result[0]?.status === 'rejected' ? (result[0].reason as unknown) : undefined;
    expect(reason).toBeInstanceOf(MessageTooLargeError);
    expect(reason).toBeInstanceOf(PublishError);
    expect((reason as MessageTooLargeError).indexes).toEqual([1]);
    const read = await readTopicUntil({ topic, eventIds: [small.event_id], fromOffsets: before, timeoutMs: 3000 });
    expect(read).toEqual([]);
  });

  it('rejects a caller whose later chunk fails, its earlier chunks stored', async () => {
    // Prepare: ~1.3 MiB for one topic (two sends), then one message for a topic that does not exist
    const dead = new KafkaPublisher({ ...env, KAFKA_PRODUCE_RETRIES: 2, KAFKA_RETRY_DELAY_MS: 10 }, 'publisher-test-chunk-fails');
    const records = Array.from({ length: 20 }, (_, n) => large(64 * 1024, n));
    const messages = [
      ...records.map((record) => ({ topic, key: 'chunked', value: record.value })),
      { topic: `missing-${randomUUID()}`, key: 'chunked', value: '{}' },
    ];

    // Act
    const result = await Promise.allSettled([dead.publish(messages)]);
    await dead.close();

    // Assess: the caller is told; what went before the failure was stored (at-least-once on its retry)
    expect(result[0]?.status).toBe('rejected');
    if (result[0]?.status === 'rejected') expect(result[0].reason).toBeInstanceOf(PublishError);
    const first = records.slice(0, 5).map((record) => record.event_id);
    expect(await readTopicUntil({ topic, eventIds: first, timeoutMs: 20_000 })).toHaveLength(first.length);
  });
});

describe('KafkaPublisher after close()', () => {
  const env = readConfig(kafkaEnv);
  const message = () => ({ topic: TOPIC, key: `publisher-close-${randomUUID()}`, value: JSON.stringify({ event_id: randomUUID() }) });

  /** Producers the client library creates while `act` runs (it announces every instance on a channel). */
  async function producersCreatedBy(act: () => Promise<void>): Promise<number> {
    let created = 0;
    const onInstance = (payload: unknown) => {
      if ((payload as { type?: string }).type === 'producer') created += 1;
    };
    subscribe('plt:kafka:instances', onInstance);
    try {
      await act();
    } finally {
      unsubscribe('plt:kafka:instances', onInstance);
    }
    return created;
  }

  it('refuses a publish after close() with PublishError, without opening a producer', async () => {
    // Prepare
    const publisher = new KafkaPublisher(env, 'publisher-test-closed');
    await publisher.publish([message()]);
    await publisher.close();

    // Act
    let result: PromiseSettledResult<void>[] = [];
    const created = await producersCreatedBy(async () => {
      result = await Promise.allSettled([publisher.publish([message()])]);
    });

    // Assess
    expect(result[0]?.status).toBe('rejected');
    if (result[0]?.status === 'rejected') expect(result[0].reason).toBeInstanceOf(PublishError);
    expect(created).toBe(0);
  });

  it('rejects the calls still queued, and resolves only after the send in flight was answered', async () => {
    // Prepare
    const publisher = new KafkaPublisher(env, 'publisher-test-closing');
    const settledOrder: string[] = [];
    const track = (name: string, call: Promise<void>) =>
      call.then(
        () => settledOrder.push(`${name} fulfilled`),
        () => settledOrder.push(`${name} rejected`),
      );

    // Act: the first call is in flight after the loop's one-turn linger (calls of the same turn would share
    // its send); the second, made after that turn, waits behind it
    const inFlight = publisher.publish([message()]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const queued = publisher.publish([message()]);
    const tracked = [track('in flight', inFlight), track('queued', queued)];
    const queuedResult = Promise.allSettled([queued]);
    await publisher.close();
    settledOrder.push('closed');
    await Promise.all(tracked);

    // Assess
    const [queuedOutcome] = await queuedResult;
    expect(queuedOutcome?.status).toBe('rejected');
    if (queuedOutcome?.status === 'rejected') expect(queuedOutcome.reason).toBeInstanceOf(PublishError);
    expect(settledOrder).toEqual(['queued rejected', 'in flight fulfilled', 'closed']);
  });
});
