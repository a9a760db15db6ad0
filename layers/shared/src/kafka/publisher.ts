/**
 * The port the use cases publish through, and its Kafka adapter. Use cases never see the client.
 */
import type { ProducerOptions } from '@platformatic/kafka';
import type { KafkaEnv } from '../config.ts';
import { logger } from '../observability.ts';
import { connectionOptions } from './connection.ts';
import { ProduceAcks, Producer } from './producer-client.ts';

export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface EventPublisher {
  /**
   * Resolves only when the broker acknowledged every message (acks=all); rejects with `PublishError`, or with
   * its subclass `MessageTooLargeError` (nothing sent, never retryable) when a message can never be stored.
   */
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

/**
 * A message too large for any record batch the brokers take (`KAFKA_MESSAGE_MAX_BYTES`, their
 * `message.max.bytes`): it can never be stored, so retrying is pointless. Nothing of the call was sent.
 * `indexes` names the offending messages (positions in the array given to `publish`), so a caller can
 * dead-letter them and publish the rest again.
 */
export class MessageTooLargeError extends PublishError {
  readonly indexes: readonly number[];
  readonly maxBytes: number;

  constructor(indexes: readonly number[], maxBytes: number) {
    super(`${indexes.length} message(s) larger than the brokers' limit of ${maxBytes} bytes (at ${indexes.join(', ')}); nothing was sent`);
    this.name = 'MessageTooLargeError';
    this.indexes = indexes;
    this.maxBytes = maxBytes;
  }
}

type BufferProducer = Producer<Buffer, Buffer, Buffer, Buffer>;
type BufferMessage = { topic: string; key: Buffer; value: Buffer; headers?: Map<Buffer, Buffer> };

/** One call to `publish`. */
interface Waiting {
  /** How many messages it has (for error messages). */
  count: number;
  /** Its chunks not acknowledged yet: it resolves when this reaches 0. */
  unacked: number;
  resolve: () => void;
  reject: (error: PublishError) => void;
  /** The caller's produce deadline. */
  timer: NodeJS.Timeout | undefined;
  /** Answered already (acknowledged, failed, or past its deadline): later outcomes are ignored. */
  settled: boolean;
  /** Some chunk of it was taken into a send: those messages went (or are going) to the broker. */
  sent: boolean;
}

/** A slice of one caller's messages small enough for one send; a send carries one or more chunks. */
interface Chunk {
  waiting: Waiting;
  messages: BufferMessage[];
  bytes: number;
}

/** One producer and what it has shown: once acknowledged, its connections are warm. */
interface ProducerSlot {
  client: Promise<BufferProducer>;
  acknowledged: boolean;
}

type SendOutcome = { state: 'acked' } | { state: 'failed'; error: unknown } | { state: 'stuck' };

/**
 * How much of `KAFKA_MESSAGE_MAX_BYTES` one send may carry, in all. The library puts every message of a send
 * that goes to one partition into one record batch, and the broker refuses a batch above its
 * `message.max.bytes` (MESSAGE_TOO_LARGE, on every retry). Messages without an explicit partition are placed
 * by a hash of their key, so any number of them may land on one partition: bounding the whole send bounds
 * every partition's batch. The margin covers the estimate of record overhead (`recordBytes`).
 */
const SEND_SHARE_OF_MAX = 0.85;
const SEND_MAX_MESSAGES = 5_000;
/** A record batch's own header (magic v2: base offset, length, epoch, CRC, attributes, ids, count). */
const BATCH_OVERHEAD_BYTES = 61;
/** Upper bound of one record's framing: length, attributes, timestamp and offset deltas, lengths (varints). */
const RECORD_OVERHEAD_BYTES = 32;

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
 * No send is larger than a share of the brokers' limit (`KAFKA_MESSAGE_MAX_BYTES`): a caller whose messages
 * are larger is split into chunks, sent one after another in its order (so order per key holds); it resolves
 * when every chunk was acknowledged and rejects as soon as one fails (its chunks not sent yet are dropped;
 * the ones acknowledged before stay written). A single message that could never fit a record batch is refused
 * up front with `MessageTooLargeError`, and nothing of that call is sent.
 *
 * Bounded waits, because one send at a time means every caller queues behind a stuck one:
 * - each call has a deadline (KAFKA_PRODUCE_TIMEOUT_MS, queueing and every chunk included): past it the call
 *   rejects with `PublishTimeoutError`, and its messages, if they are still queued, are dropped from the
 *   queue (never sent);
 * - a send that is stuck on a dead connection (a broker that went away without closing it, as a host being
 *   replaced does, or a connection dropped while a Lambda instance was frozen) is given up after one produce
 *   deadline without an answer. The producer is closed and the next send gets a fresh one, with new
 *   connections and a new producer id, so the instance recovers as soon as a broker answers again, with no
 *   cold start. Until a producer's own first acknowledgement, its sends are allowed KAFKA_TIMEOUT_MS: they
 *   include its cold connect (discovery, TLS, SASL/IAM, ApiVersions, Metadata, InitProducerId), which a warm
 *   deadline would cut short again and again, replacing every fresh producer in turn. Sequence numbers belong
 *   to one producer id, so idempotence holds within each producer; a message of a stuck send may still have
 *   been written, which its caller, rejected, cannot know (at-least-once: see `PublishTimeoutError.inFlight`).
 * A broker that refuses connections or resets them fails sends at once; the client itself then drops the
 * connection and its producer id and starts over on the next send, so nothing needs replacing.
 *
 * After `close()` every call rejects with `PublishError`, calls still queued are rejected too (never sent),
 * and `close()` resolves once the send in flight, if any, has been answered and every producer is closed.
 *
 * @example
 * const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'ingest');
 * await publisher.publish([{ topic: 'raw-logs', key: '10.0.0.1', value: '{...}' }]);
 */
export class KafkaPublisher implements EventPublisher {
  readonly #env: KafkaEnv;
  readonly #clientId: string;
  readonly #sendMaxBytes: number;
  #producer: ProducerSlot | undefined;
  #queue: Chunk[] = [];
  #sending = false;
  /** The sending loop while it runs: `close()` waits for it. */
  #loop: Promise<void> | undefined;
  #closed = false;
  /** Producers being closed after a stuck send; `close()` waits for them. */
  readonly #retiring = new Set<Promise<void>>();
  #replaced = 0;

  constructor(env: KafkaEnv, clientId: string) {
    this.#env = env;
    this.#clientId = clientId;
    this.#sendMaxBytes = Math.floor(env.KAFKA_MESSAGE_MAX_BYTES * SEND_SHARE_OF_MAX);
  }

  /** How many times a stuck producer was replaced by a fresh one (for tests and diagnostics). */
  get producersReplaced(): number {
    return this.#replaced;
  }

  #connect(): ProducerSlot {
    if (this.#producer !== undefined) return this.#producer;
    const slot: ProducerSlot = {
      acknowledged: false,
      client: connectionOptions(this.#env, this.#clientId).then((base) => {
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
      }),
    };
    slot.client.catch(() => {
      if (this.#producer === slot) this.#producer = undefined;
    });
    this.#producer = slot;
    return slot;
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(new PublishError('the Kafka publisher is closed'));
    if (messages.length === 0) return Promise.resolve();
    const encoded = messages.map(encode);
    const sizes = encoded.map(recordBytes);
    const limit = this.#env.KAFKA_MESSAGE_MAX_BYTES;
    const tooLarge = sizes.flatMap((size, index) => (size + BATCH_OVERHEAD_BYTES > limit ? [index] : []));
    if (tooLarge.length > 0) return Promise.reject(new MessageTooLargeError(tooLarge, limit));
    return new Promise((resolve, reject) => {
      const waiting: Waiting = { count: encoded.length, unacked: 0, resolve, reject, timer: undefined, settled: false, sent: false };
      const chunks = split(waiting, encoded, sizes, this.#sendMaxBytes);
      waiting.unacked = chunks.length;
      waiting.timer = setTimeout(() => this.#expire(waiting), this.#env.KAFKA_PRODUCE_TIMEOUT_MS);
      this.#queue.push(...chunks);
      if (!this.#sending) this.#loop = this.#sendQueued();
    });
  }

  /** The caller's deadline passed: answer it now; its messages not sent yet never will be. */
  #expire(waiting: Waiting): void {
    if (waiting.settled) return;
    this.#drop(waiting);
    const deadline = this.#env.KAFKA_PRODUCE_TIMEOUT_MS;
    settle(
      waiting,
      new PublishTimeoutError(
        waiting.sent
          ? `Kafka did not acknowledge ${waiting.count} message(s) within ${deadline} ms (sent: they may still be written)`
          : `Kafka could not take ${waiting.count} message(s) within ${deadline} ms (not sent)`,
        waiting.sent,
      ),
    );
  }

  /** Takes a caller's chunks that are still queued out of the queue. */
  #drop(waiting: Waiting): void {
    if (this.#queue.some((chunk) => chunk.waiting === waiting)) this.#queue = this.#queue.filter((chunk) => chunk.waiting !== waiting);
  }

  async #sendQueued(): Promise<void> {
    this.#sending = true;
    // One event-loop turn before the first send (a linger of one turn, not of milliseconds): the calls made
    // while this turn's I/O is handled (the requests one socket read delivered, a runner's lanes finishing
    // together) share that send instead of the first going out alone and the rest waiting a round trip for
    // it. A Lambda instance has one caller and pays one turn, microseconds. Measured on the publisher alone
    // with 32 concurrent callers: 25.0k → 38.7k publishes/s (issue 11).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const group = takeGroup(this.#queue, this.#sendMaxBytes);
      for (const chunk of group) chunk.waiting.sent = true;
      const messages = group.length === 1 ? (group[0] as Chunk).messages : group.flatMap((chunk) => chunk.messages);
      const slot = this.#connect();
      // Once a producer has been acknowledged, connecting and producing are known to fit in a produce
      // deadline: a send left unanswered that long sits on a connection that died (a replaced broker, a
      // connection dropped while a Lambda instance was frozen), and the producer is replaced then. Before its
      // first acknowledgement (a cold start, or a fresh producer after a replacement: discovery, TLS, IAM,
      // InitProducerId) the whole client timeout is allowed. Counted from the send, not from the callers'
      // arrival, so a busy queue never retires a healthy producer.
      const stuckAfterMs = slot.acknowledged ? this.#env.KAFKA_PRODUCE_TIMEOUT_MS : this.#env.KAFKA_TIMEOUT_MS;
      const outcome = await this.#send(slot.client, messages, stuckAfterMs);
      if (outcome.state === 'acked') {
        slot.acknowledged = true;
        for (const chunk of group) {
          chunk.waiting.unacked -= 1;
          if (chunk.waiting.unacked === 0) settle(chunk.waiting);
        }
        continue;
      }
      if (outcome.state === 'stuck') this.#retire(slot);
      for (const chunk of group) {
        const waiting = chunk.waiting;
        if (waiting.settled) continue;
        // Its later chunks are not sent: the caller is answered now, and a retry sends them all again.
        this.#drop(waiting);
        settle(
          waiting,
          outcome.state === 'failed'
            ? new PublishError(`could not publish ${waiting.count} message(s) to Kafka`, { cause: outcome.error })
            : new PublishTimeoutError(
                `Kafka did not answer in time; the producer was replaced (${waiting.count} message(s) sent: they may still be written)`,
                true,
              ),
        );
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
  #retire(slot: ProducerSlot): void {
    if (this.#producer === slot) this.#producer = undefined;
    this.#replaced += 1;
    logger.warn('Kafka producer replaced: a send got no answer in time', { clientId: this.#clientId, replaced: this.#replaced });
    const closing = slot.client
      .then((client) => client.close(true))
      .catch(() => undefined)
      .finally(() => this.#retiring.delete(closing));
    this.#retiring.add(closing);
  }

  /**
   * Refuses further calls, rejects the calls still queued (never sent), waits for the send in flight to be
   * answered (acknowledged, failed, or given up as stuck) and closes every producer. Safe to call twice.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const chunk of queued) {
      settle(chunk.waiting, new PublishError(`the Kafka publisher was closed before all of ${chunk.waiting.count} message(s) were sent`));
    }
    await this.#loop;
    const slot = this.#producer;
    this.#producer = undefined;
    if (slot !== undefined) await slot.client.then((client) => client.close()).catch(() => undefined);
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

/** The bytes one message takes in a record batch, at most (key, value, headers and framing). */
function recordBytes(message: BufferMessage): number {
  let bytes = RECORD_OVERHEAD_BYTES + message.key.length + message.value.length;
  if (message.headers !== undefined) {
    for (const [key, value] of message.headers) bytes += key.length + value.length + 10;
  }
  return bytes;
}

/** Cuts one caller's messages, in order, into chunks that each fit one send (a message never spans two). */
function split(waiting: Waiting, messages: BufferMessage[], sizes: number[], maxBytes: number): Chunk[] {
  const chunks: Chunk[] = [];
  let current: Chunk = { waiting, messages: [], bytes: 0 };
  for (let i = 0; i < messages.length; i++) {
    const size = sizes[i] as number;
    if (current.messages.length > 0 && (current.bytes + size > maxBytes || current.messages.length >= SEND_MAX_MESSAGES)) {
      chunks.push(current);
      current = { waiting, messages: [], bytes: 0 };
    }
    current.messages.push(messages[i] as BufferMessage);
    current.bytes += size;
  }
  chunks.push(current);
  return chunks;
}

/** Takes chunks off the front of the queue, in order, while they fit one send (at least one). */
function takeGroup(queue: Chunk[], maxBytes: number): Chunk[] {
  let count = 0;
  let bytes = 0;
  let messages = 0;
  for (const next of queue) {
    if (count > 0 && (bytes + next.bytes > maxBytes || messages + next.messages.length > SEND_MAX_MESSAGES)) break;
    count += 1;
    bytes += next.bytes;
    messages += next.messages.length;
  }
  return queue.splice(0, count);
}

function toHeaderMap(headers: Record<string, string>): Map<Buffer, Buffer> {
  return new Map(Object.entries(headers).map(([key, value]) => [Buffer.from(key), Buffer.from(value)]));
}
