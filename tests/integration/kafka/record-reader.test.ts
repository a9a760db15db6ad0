/**
 * The raw-record reader (functions/enrich/src/adapters/kafka-record-reader.ts) on the real broker: what it
 * may call gone for good (a record past the partition's range, a topic the cluster does not have) and what
 * it must not (brokers it cannot reach: it throws, and the re-enricher hands its batch back).
 */
import { randomUUID } from 'node:crypto';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { KafkaRecordReader } from '../../../functions/enrich/src/adapters/kafka-record-reader.ts';
import { deleteTopics, kafka, type Topics, throwawayTopics } from '../enrich/support.ts';

let topics: Topics;
const publisher = new KafkaPublisher(kafka(), 'record-reader-test');

beforeAll(async () => {
  topics = await throwawayTopics('reader', 1);
  await publisher.publish([{ topic: topics.raw, key: 'k', value: '{"message":"first"}', headers: { tenant: 'zé' } }]);
});

afterAll(async () => {
  await publisher.close();
  await deleteTopics(topics);
});

describe('KafkaRecordReader', () => {
  const reader = () => new KafkaRecordReader(kafka(), { groupPrefix: `reader-test-${randomUUID().slice(0, 8)}-` });

  it('reads a record back as the event source delivers it, and calls one past the partition gone', async () => {
    const found = await reader().read([
      { topic: topics.raw, partition: 0, offset: 0 },
      { topic: topics.raw, partition: 0, offset: 5 },
    ]);
    const record = found.get(`${topics.raw}/0/0`);
    expect(typeof record === 'object' && Buffer.from(record.value ?? '', 'base64').toString()).toBe('{"message":"first"}');
    expect(typeof record === 'object' && record.headers).toEqual([{ tenant: [122, -61, -87] }]);
    expect(found.get(`${topics.raw}/0/5`)).toBe(`no longer on ${topics.raw} (past its retention)`);
  });

  it('calls a record of a topic the cluster does not have gone', async () => {
    const missing = `t-no-such-topic-${randomUUID().slice(0, 8)}`;
    expect((await reader().read([{ topic: missing, partition: 0, offset: 0 }])).get(`${missing}/0/0`)).toBe(`source topic ${missing} not found`);
  });

  it('throws, rather than calling anything gone, when the brokers cannot be reached', async () => {
    const unreachable = new KafkaRecordReader({ ...kafka(), KAFKA_BROKERS: ['127.0.0.1:1'] }, { groupPrefix: 'reader-test-down-' });
    await expect(unreachable.read([{ topic: topics.raw, partition: 0, offset: 0 }])).rejects.toThrow();
  }, 60_000);
});
