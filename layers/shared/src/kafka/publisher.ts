/**
 * The port the use cases publish through, and its Kafka adapter. Use cases never see the client.
 */
import { ProduceAcks, Producer, type ProducerOptions } from '@platformatic/kafka';
import type { KafkaEnv } from '../config.ts';
import { logger } from '../observability.ts';
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

/**
 * No acknowledgement within the produce deadline (KAFKA_PRODUCE_TIMEOUT_MS). `inFlight` says whether the
 * messages had already gone to the broker: then they may still be written (at-least-once), otherwise they
 * were taken out of the queue and never will be.
 */
export class PublishTimeoutError extends PublishError {
  readonly inFlight: boolean;

  constructor(message: string, inFlight: boolean) {
    super(message);
    this.name = 'PublishTimeoutError';
    this.inFlight = inFlight;
  }
}

type BufferProducer = Producer<Buffer, Buffer, Buffer, Buffer>;
type BufferMessage = { topic: string; key: Buffer; value: Buffer; headers?: Map<Buffer, Buffer> };

interface Waiting {
  messages: BufferMessage[];
  bytes: number;
  resolve: () => void;
  reject: (error: PublishError) => void;
  /** The caller's produce deadline. */
  timer: NodeJS.Timeout | undefined;
  /** Answered already (acknowledged, failed, or past its deadline): later outcomes are ignored. */
  settled: boolean;
  /** Taken into a send: its messages went (or are going) to the broker. */
  sent: boolean;
}

type SendOutcome = { state: 'acked' } | { state: 'failed'; error: unknown } | { state: 'stuck' };

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
 * Bounded waits, because one send at a time means every caller queues behind a stuck one:
 * - each call has a deadline (KAFKA_PRODUCE_TIMEOUT_MS, queueing included): past it the call rejects with
 *   `PublishTimeoutError`, and its messages, if they are still queued, are dropped from the queue (never sent);
 * - a send that is stuck on a dead connection (a broker that went away without closing it, as a host being
 *   replaced does, or a connection dropped while a Lambda instance was frozen) is given up after one produce
 *   deadline without an answer (after KAFKA_TIMEOUT_MS before the instance's first acknowledgement, which may
 *   include a cold connect: discovery, TLS, IAM). The producer is closed and the next send gets a fresh one,
 *   with new connections and a new producer id, so the instance recovers as soon as a broker answers again,
 *   with no cold start. Sequence numbers belong to one producer id, so
 *   idempotence holds within each producer; a message of a stuck send may still have been written, which
 *   its caller, rejected, cannot know (at-least-once: see `PublishTimeoutError.inFlight`).
 * A broker that refuses connections or resets them fails sends at once; the client itself then drops the
 * connection and its producer id and starts over on the next send, so nothing needs replacing.
 *
 * @example
 * const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'ingest');
 * await publisher.publish([{ topic: 'raw-logs', key: '10.0.0.1', value: '{...}' }]);
 */
export class KafkaPublisher implements EventPublisher {
  readonly #env: KafkaEnv;
  readonly #clientId: string;
  #producer: Promise<BufferProducer> | undefined;
  /** Some send of this instance was acknowledged: its brokers were reachable within a deadline. */
  #acknowledged = false;
  #waiting: Waiting[] = [];
  #sending = false;
  /** Producers being closed after a stuck send; `close()` waits for them. */
  readonly #retiring = new Set<Promise<void>>();
  #replaced = 0;

  constructor(env: KafkaEnv, clientId: string) {
    this.#env = env;
    this.#clientId = clientId;
  }

  /** How many times a stuck producer was replaced by a fresh one (for tests and diagnostics). */
  get producersReplaced(): number {
    return this.#replaced;
  }

  #connect(): Promise<BufferProducer> {
    this.#producer ??= connectionOptions(this.#env, this.#clientId).then((base) => {
      const options: ProducerOptions<Buffer, Buffer, Buffer, Buffer> = {
        ...base,
        idempotent: true,
        acks: ProduceAcks.ALL,
        // Topics are created by the project (services script, CDK), never by a typo in a producer.
        autocreateTopics: false,
        // The library waits 30 s for an answer by default; a request on a dead connection should be given up
        // (and the connection dropped) on the same budget as a connect.
        requestTimeout: this.#env.KAFKA_TIMEOUT_MS,
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
      const waiting: Waiting = { messages: encoded, bytes, resolve, reject, timer: undefined, settled: false, sent: false };
      waiting.timer = setTimeout(() => this.#expire(waiting), this.#env.KAFKA_PRODUCE_TIMEOUT_MS);
      this.#waiting.push(waiting);
      if (!this.#sending) void this.#sendWaiting();
    });
  }

  /** The caller's deadline passed: answer it now; if its messages were not sent yet, they never will be. */
  #expire(waiting: Waiting): void {
    if (waiting.settled) return;
    const queued = this.#waiting.indexOf(waiting);
    if (queued >= 0) this.#waiting.splice(queued, 1);
    const deadline = this.#env.KAFKA_PRODUCE_TIMEOUT_MS;
    settle(
      waiting,
      new PublishTimeoutError(
        waiting.sent
          ? `Kafka did not acknowledge ${waiting.messages.length} message(s) within ${deadline} ms (sent: they may still be written)`
          : `Kafka could not take ${waiting.messages.length} message(s) within ${deadline} ms (not sent)`,
        waiting.sent,
      ),
    );
  }

  async #sendWaiting(): Promise<void> {
    this.#sending = true;
    while (this.#waiting.length > 0) {
      const group = takeGroup(this.#waiting);
      for (const waiting of group) waiting.sent = true;
      const messages = group.flatMap((waiting) => waiting.messages);
      const producer = this.#connect();
      // Once this instance has been acknowledged, connecting and producing are known to fit in a produce
      // deadline: a send left unanswered that long sits on a connection that died (a replaced broker, a
      // connection dropped while a Lambda instance was frozen), and its producer is replaced then. Before the
      // first acknowledgement (a cold start: discovery, TLS, IAM) the whole client timeout is allowed.
      // Counted from the send, not from the callers' arrival, so a busy queue never retires a healthy producer.
      const stuckAfterMs = this.#acknowledged ? this.#env.KAFKA_PRODUCE_TIMEOUT_MS : this.#env.KAFKA_TIMEOUT_MS;
      const outcome = await this.#send(producer, messages, stuckAfterMs);
      if (outcome.state === 'acked') {
        this.#acknowledged = true;
        for (const waiting of group) settle(waiting);
        continue;
      }
      if (outcome.state === 'stuck') this.#retire(producer);
      for (const waiting of group) {
        const error =
          outcome.state === 'failed'
            ? new PublishError(`could not publish ${waiting.messages.length} message(s) to Kafka`, { cause: outcome.error })
            : new PublishTimeoutError(
                `Kafka did not answer in time; the producer was replaced ` +
                  `(${waiting.messages.length} message(s) sent: they may still be written)`,
                true,
              );
        settle(waiting, error);
      }
    }
    this.#sending = false;
  }

  /** One send, given up as stuck after `stuckAfterMs` (the send itself goes on until its producer closes). */
  #send(producer: Promise<BufferProducer>, messages: BufferMessage[], stuckAfterMs: number): Promise<SendOutcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ state: 'stuck' }), stuckAfterMs);
      producer
        .then((client) => client.send({ messages }))
        .then(
          () => resolve({ state: 'acked' }),
          (error: unknown) => resolve({ state: 'failed', error }),
        )
        .finally(() => clearTimeout(timer));
    });
  }

  /** Takes a stuck producer out of use and closes it in the background (its pending send fails with it). */
  #retire(producer: Promise<BufferProducer>): void {
    if (this.#producer === producer) this.#producer = undefined;
    this.#replaced += 1;
    logger.warn('Kafka producer replaced: a send got no answer in time', { clientId: this.#clientId, replaced: this.#replaced });
    const closing = producer
      .then((client) => client.close(true))
      .catch(() => undefined)
      .finally(() => this.#retiring.delete(closing));
    this.#retiring.add(closing);
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer !== undefined) await producer.then((client) => client.close()).catch(() => undefined);
    await Promise.all([...this.#retiring]);
  }
}

/** Answers a caller once: with success, or with `error`. */
function settle(waiting: Waiting, error?: PublishError): void {
  if (waiting.settled) return;
  waiting.settled = true;
  clearTimeout(waiting.timer);
  if (error === undefined) waiting.resolve();
  else waiting.reject(error);
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
