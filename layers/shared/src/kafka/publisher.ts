/**
 * The port the use cases publish through, and its Kafka adapter. Use cases never see the client.
 */
import { ProduceAcks, Producer, type ProducerOptions } from '@platformatic/kafka';
import type { KafkaEnv } from '../config.ts';
import { connectionOptions } from './connection.ts';

export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface EventPublisher {
  /** Resolves only when the broker acknowledged every message (acks=all); rejects with `PublishError`. */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** The messages could not be stored; nothing about which ones did is promised. */
export class PublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
  }
}

type BufferProducer = Producer<Buffer, Buffer, Buffer, Buffer>;

/**
 * Idempotent producer (acks=all, one in-flight request per connection, finite retries), created on first
 * use with one memoised promise so that concurrent first calls share it.
 *
 * @example
 * const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'ingest');
 * await publisher.publish([{ topic: 'raw-logs', key: '10.0.0.1', value: '{...}' }]);
 */
export class KafkaPublisher implements EventPublisher {
  readonly #env: KafkaEnv;
  readonly #clientId: string;
  #producer: Promise<BufferProducer> | undefined;

  constructor(env: KafkaEnv, clientId: string) {
    this.#env = env;
    this.#clientId = clientId;
  }

  #connect(): Promise<BufferProducer> {
    this.#producer ??= connectionOptions(this.#env, this.#clientId).then((base) => {
      const options: ProducerOptions<Buffer, Buffer, Buffer, Buffer> = {
        ...base,
        idempotent: true,
        acks: ProduceAcks.ALL,
        // Topics are created by the project (services script, CDK), never by a typo in a producer.
        autocreateTopics: false,
      };
      return new Producer(options);
    }).catch((error: unknown) => {
      this.#producer = undefined;
      throw error;
    });
    return this.#producer;
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      const producer = await this.#connect();
      await producer.send({
        messages: messages.map((message) => ({
          topic: message.topic,
          key: Buffer.from(message.key),
          value: typeof message.value === 'string' ? Buffer.from(message.value) : message.value,
          headers: message.headers === undefined ? undefined : toHeaderMap(message.headers),
        })),
      });
    } catch (error) {
      throw new PublishError(`could not publish ${messages.length} message(s) to Kafka`, { cause: error });
    }
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer !== undefined) await (await producer).close().catch(() => undefined);
  }
}

function toHeaderMap(headers: Record<string, string>): Map<Buffer, Buffer> {
  return new Map(Object.entries(headers).map(([key, value]) => [Buffer.from(key), Buffer.from(value)]));
}
