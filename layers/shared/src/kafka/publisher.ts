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
type BufferMessage = { topic: string; key: Buffer; value: Buffer; headers?: Map<Buffer, Buffer> };

interface Waiting {
  messages: BufferMessage[];
  bytes: number;
  resolve: () => void;
  reject: (error: PublishError) => void;
}

/**
 * How much one coalesced send may carry. Kafka limits a record batch per partition (message.max.bytes,
 * 1 MiB by default); staying well under it across all partitions keeps a merged send from being refused
 * where each caller's own send would have passed. A single caller larger than this still goes alone.
 */
const COALESCE_MAX_BYTES = 512 * 1024;
const COALESCE_MAX_MESSAGES = 5_000;

/**
 * Idempotent producer (acks=all, one in-flight request per connection, finite retries), created on first
 * use with one memoised promise so that concurrent first calls share it.
 *
 * Idempotence allows one produce request in flight per connection, so concurrent callers would queue one
 * round trip each. Instead, calls made while a send is in flight are merged into the next send (group
 * commit, like the producer's linger): each caller still resolves only when the send carrying its
 * messages is acknowledged, and rejects if that send fails. A Lambda instance serves one request at a time
 * and never merges; the local runtime and the enrich runner do.
 *
 * @example
 * const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'ingest');
 * await publisher.publish([{ topic: 'raw-logs', key: '10.0.0.1', value: '{...}' }]);
 */
export class KafkaPublisher implements EventPublisher {
  readonly #env: KafkaEnv;
  readonly #clientId: string;
  #producer: Promise<BufferProducer> | undefined;
  #waiting: Waiting[] = [];
  #sending = false;

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

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const encoded = messages.map(encode);
    const bytes = encoded.reduce((total, message) => total + message.key.length + message.value.length, 0);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ messages: encoded, bytes, resolve, reject });
      if (!this.#sending) void this.#sendWaiting();
    });
  }

  async #sendWaiting(): Promise<void> {
    this.#sending = true;
    while (this.#waiting.length > 0) {
      const group = takeGroup(this.#waiting);
      const messages = group.flatMap((waiting) => waiting.messages);
      try {
        const producer = await this.#connect();
        await producer.send({ messages });
        for (const waiting of group) waiting.resolve();
      } catch (error) {
        for (const waiting of group) {
          waiting.reject(new PublishError(`could not publish ${waiting.messages.length} message(s) to Kafka`, { cause: error }));
        }
      }
    }
    this.#sending = false;
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer !== undefined) await (await producer).close().catch(() => undefined);
  }
}

function encode(message: OutgoingMessage): BufferMessage {
  return {
    topic: message.topic,
    key: Buffer.from(message.key),
    value: typeof message.value === 'string' ? Buffer.from(message.value) : message.value,
    ...(message.headers === undefined ? {} : { headers: toHeaderMap(message.headers) }),
  };
}

/** Takes callers off the front of the queue, in order, while they fit one send (at least one). */
function takeGroup(waiting: Waiting[]): Waiting[] {
  let count = 0;
  let bytes = 0;
  let messages = 0;
  for (const next of waiting) {
    if (count > 0 && (bytes + next.bytes > COALESCE_MAX_BYTES || messages + next.messages.length > COALESCE_MAX_MESSAGES)) break;
    count += 1;
    bytes += next.bytes;
    messages += next.messages.length;
  }
  return waiting.splice(0, count);
}

function toHeaderMap(headers: Record<string, string>): Map<Buffer, Buffer> {
  return new Map(Object.entries(headers).map(([key, value]) => [Buffer.from(key), Buffer.from(value)]));
}
