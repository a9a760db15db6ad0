/**
 * Reads output topics from positions snapshotted before a run, so a run sees only what was written after
 * it started (the topics are shared with `npm start` and the tests) and never needs an empty topic.
 * A throwaway consumer group with manual offsets and no commits: nothing of it survives the run.
 */
import { randomUUID } from 'node:crypto';
import { type BaseOptions, Consumer, type MessagesStream } from '@platformatic/kafka';

export interface TopicPosition {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface OutputRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** Record timestamp (producer create time), epoch ms. */
  timestampMs: number;
  value: Buffer;
}

type BufferConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

function newConsumer(connection: BaseOptions, purpose: string): BufferConsumer {
  return new Consumer({
    ...connection,
    clientId: `${connection.clientId ?? 'load'}-${purpose}`,
    groupId: `load-${purpose}-${randomUUID()}`,
  });
}

/**
 * The current end (next offset to be written) of every partition of `topics`.
 *
 * @example
 * const from = await snapshotEnds({ clientId: 'load', bootstrapBrokers: ['127.0.0.1:9092'] }, ['enriched-logs-complete']);
 */
export async function snapshotEnds(connection: BaseOptions, topics: readonly string[]): Promise<TopicPosition[]> {
  const consumer = newConsumer(connection, 'snapshot');
  try {
    const offsets = await consumer.listOffsets({ topics: [...topics] });
    return [...offsets].flatMap(([topic, ends]) => ends.map((offset, partition) => ({ topic, partition, offset })));
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}

/**
 * Streams every record written at or after `from` to `onRecord` until `close()`.
 *
 * @example
 * const reader = await TopicReader.start(connection, from, (record) => ledger.observe(...));
 * await reader.close();
 */
export class TopicReader {
  readonly #consumer: BufferConsumer;
  readonly #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
  #records = 0;
  #failure: Error | undefined;

  private constructor(consumer: BufferConsumer, stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>) {
    this.#consumer = consumer;
    this.#stream = stream;
  }

  static async start(
    connection: BaseOptions,
    from: readonly TopicPosition[],
    onRecord: (record: OutputRecord) => void,
  ): Promise<TopicReader> {
    const consumer = newConsumer(connection, 'reader');
    const topics = [...new Set(from.map((position) => position.topic))];
    try {
      const stream = await consumer.consume({
        topics,
        mode: 'manual',
        offsets: from.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
        autocommit: false,
        // Low fetch wait: end-to-end latency is measured from record timestamps, but the drain wait and
        // the progress of a short test both profit from a reader that is never parked for long.
        maxWaitTime: 100,
        sessionTimeout: 10_000,
        heartbeatInterval: 1000,
      });
      const reader = new TopicReader(consumer, stream);
      stream.on('data', (message) => {
        reader.#records += 1;
        onRecord({
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          timestampMs: Number(message.timestamp),
          value: message.value,
        });
      });
      stream.on('error', (error: Error) => {
        reader.#failure = error;
      });
      return reader;
    } catch (error) {
      await consumer.close(true).catch(() => undefined);
      throw error;
    }
  }

  get records(): number {
    return this.#records;
  }

  /** The stream's error, if it failed (reading stops; the run reports it instead of counting losses). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  async close(): Promise<void> {
    await this.#stream.close().catch(() => undefined);
    await this.#consumer.close(true).catch(() => undefined);
  }
}
