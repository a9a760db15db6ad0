/**
 * The load tool's topic reader when its consumer client (not its stream) reports an error: the library
 * emits 'error' on the Consumer itself when a rejoin after a failed heartbeat fails for good
 * (consumer.js #heartbeat, `emitWithDebug(null, 'error', error)`), and then sends no more heartbeats. With no
 * listener Node throws it and the load or fault run dies instead of reporting. The test emits that event on
 * the reader's real consumer, found through the library's own instance announcements, as the library would.
 */
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Consumer } from '@platformatic/kafka';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { snapshotEnds, TopicReader } from '../../../load/lib/topic-reader.ts';
import { eventually } from '../../support/eventually.ts';

const TOPIC = 'raw-logs';


describe('load tool topic reader', () => {
  const env = readConfig(kafkaEnv);
  const publisher = new KafkaPublisher(env, 'topic-reader-test');

  afterAll(async () => {
    await publisher.close();
  });

  it('survives an error emitted by its consumer client, reconnects, and reads what is written after', async () => {
    // Prepare: the reader's consumers, as the library announces them
    const clientId = `topic-reader-test-${randomUUID().slice(0, 8)}`;
    const consumers: Consumer[] = [];
    const onInstance = (payload: unknown) => {
      const { type, instance } = payload as { type: string; instance: Consumer };
      if (type === 'consumer' && instance.clientId === `${clientId}-reader`) consumers.push(instance);
    };
    subscribe('plt:kafka:instances', onInstance);
    const connection = await connectionOptions(env, clientId);
    const from = await snapshotEnds(connection, [TOPIC]);
    const seen = new Set<string>();
    const reader = await TopicReader.start(connection, from, (record) => {
      const id = (JSON.parse(record.value.toString('utf8')) as { event_id?: string }).event_id;
      if (id !== undefined) seen.add(id);
    });
    try {
      const before = randomUUID();
      await publisher.publish([{ topic: TOPIC, key: 'topic-reader', value: JSON.stringify({ event_id: before }) }]);
      expect(await eventually(() => seen.has(before), 20_000)).toBe(true);
      const [first] = consumers;
      expect(first).toBeDefined();

      // Act: what the library does when a rejoin fails; without a listener this call throws
      const rejoin = new Error('rejoin failed (simulated, as consumer.js #heartbeat emits it)');
      const emit = () => (first as Consumer).emit('error', rejoin);
      expect(emit).not.toThrow();
      const reconnected = await eventually(() => reader.reconnects >= 1 && reader.reading, 20_000);
      const after = randomUUID();
      await publisher.publish([{ topic: TOPIC, key: 'topic-reader', value: JSON.stringify({ event_id: after }) }]);
      const readAfter = await eventually(() => seen.has(after), 20_000);

      // Assess
      expect(reconnected).toBe(true);
      expect(reader.lastError).toBe(rejoin);
      expect(consumers.length).toBeGreaterThanOrEqual(2);
      expect(readAfter).toBe(true);
      expect((await reader.coverage()).complete).toBe(true);
    } finally {
      unsubscribe('plt:kafka:instances', onInstance);
      await reader.close();
    }
  });
});
