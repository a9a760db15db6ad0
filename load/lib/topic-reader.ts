/**
 * Reads output topics from positions snapshotted before a run, so a run sees only what was written after
 * it started (the topics are shared with `npm start` and the tests) and never needs an empty topic.
 * A throwaway consumer group with manual offsets and no commits: nothing of it survives the run.
 *
 * The reader outlives broker restarts: when its stream fails (the client gives up after its few retries),
 * or its client reports an error of its own (a rejoin of the group that failed), it closes that consumer and opens a new one at the next unread offset of every partition, again and
 * again with a capped backoff, until `close()`. What it could not read is then told by `coverage()`, per
 * partition: read up to X of end Y, or ends unknown when no broker answered.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** How far one partition was read, against its end when coverage was checked. */
export interface PartitionCoverage {
  topic: string;
  partition: number;
  /** Next offset the reader would read: everything below it was read. */
  read: bigint;
  /** The partition's end (next offset to be written) when checked. */
  end: bigint;
}

/**
 * Whether everything written to the output topics since the snapshot was read. `complete: false` with
 * `partitions` means some were behind their end; without them, the ends could not be asked (no broker).
 */
export interface ReadCoverage {
  complete: boolean;
  partitions?: PartitionCoverage[];
  /** Why the ends are unknown, when they are. */
  reason?: string;
}

type BufferConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;
type BufferStream = MessagesStream<Buffer, Buffer, Buffer, Buffer>;

function newConsumer(connection: BaseOptions, purpose: string): BufferConsumer {
  return new Consumer({
    // A fetch on a connection whose broker vanished without closing it would wait the library's default 30 s
    // before the reader notices and reconnects; fetches here wait at most 100 ms on the broker.
    requestTimeout: 10_000,
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

/** Backoff between reconnection attempts: quick at first (a restarted broker), never hammering. */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000] as const;

/** How long the first consumer may take to start (join its group) before `start()` gives up. */
const START_DEADLINE_MS = 30_000;

/**
 * Streams every record written at or after `from` to `onRecord` until `close()`, reconnecting when the
 * broker goes away.
 *
 * @example
 * const reader = await TopicReader.start(connection, from, (record) => ledger.observe(...));
 * // … later, after the drain wait:
 * const coverage = await reader.coverage(); // { complete: true } when every written record was read
 * await reader.close();
 */
export class TopicReader {
  readonly #connection: BaseOptions;
  readonly #onRecord: (record: OutputRecord) => void;
  /** Next offset to read, per `topic:partition`: where a new consumer resumes. */
  readonly #next = new Map<string, TopicPosition>();
  #consumer: BufferConsumer | undefined;
  #stream: BufferStream | undefined;
  #records = 0;
  #reconnects = 0;
  #lastError: Error | undefined;
  #closed = false;
  /** The reconnection loop, while one runs. */
  #recovering: Promise<void> | undefined;

  private constructor(connection: BaseOptions, from: readonly TopicPosition[], onRecord: (record: OutputRecord) => void) {
    this.#connection = connection;
    this.#onRecord = onRecord;
    for (const position of from) this.#next.set(key(position), { ...position });
  }

  /**
   * Starts reading; rejects when no consumer could start within `START_DEADLINE_MS` (nothing was read yet:
   * nothing to report). Retried with the reconnection backoff because a broker that has just started answers
   * the first group joins with NOT_COORDINATOR until its offsets topic is loaded, longer than the client's
   * own few retries on a loaded machine.
   */
  static async start(
    connection: BaseOptions,
    from: readonly TopicPosition[],
    onRecord: (record: OutputRecord) => void,
  ): Promise<TopicReader> {
    const reader = new TopicReader(connection, from, onRecord);
    const deadline = Date.now() + START_DEADLINE_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await reader.#open();
        return reader;
      } catch (error) {
        const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)] ?? 2000;
        if (Date.now() + delay > deadline) throw error;
        await sleep(delay);
      }
    }
  }

  get records(): number {
    return this.#records;
  }

  /** How many times the stream failed and a new consumer took over. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** The last stream or connection error, if any (the reader may have recovered since: see `coverage()`). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Whether a consumer is currently reading (false between a failure and a successful reconnect). */
  get reading(): boolean {
    return this.#stream !== undefined;
  }

  /**
   * Compares what was read with the topics' ends now. Asks with a consumer of its own, within the client's
   * retries, so a dead broker makes it answer "unknown" rather than hang.
   */
  async coverage(): Promise<ReadCoverage> {
    const topics = [...new Set([...this.#next.values()].map((position) => position.topic))];
    let ends: TopicPosition[];
    try {
      ends = await snapshotEnds(this.#connection, topics);
    } catch (error) {
      return { complete: false, reason: `the topics' ends could not be read: ${message(error)}` };
    }
    const partitions = ends.map((end) => ({
      topic: end.topic,
      partition: end.partition,
      read: this.#next.get(key(end))?.offset ?? 0n,
      end: end.offset,
    }));
    return { complete: partitions.every((partition) => partition.read >= partition.end), partitions };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#teardown();
    await this.#recovering;
  }

  async #open(): Promise<void> {
    const consumer = newConsumer(this.#connection, 'reader');
    const positions = [...this.#next.values()];
    // The client emits 'error' on itself, not on the stream, when a rejoin after a failed heartbeat fails for
    // good (consumer.js #heartbeat: `emitWithDebug(null, 'error', error)`); with no listener Node would throw it
    // and end the load or fault run instead of letting it report. After it the client sends no more
    // heartbeats, so this member is out of the group: recover as from a failed stream, with a new consumer.
    // Never removed: a consumer being torn down may still emit it, and an unheard one would crash the process.
    consumer.on('error', (error: Error) => this.#failed(consumer, error));
    try {
      const stream = await consumer.consume({
        topics: [...new Set(positions.map((position) => position.topic))],
        mode: 'manual',
        offsets: positions.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
        autocommit: false,
        // Low fetch wait: end-to-end latency is measured from record timestamps, but the drain wait and
        // the progress of a short test both profit from a reader that is never parked for long.
        maxWaitTime: 100,
        sessionTimeout: 10_000,
        heartbeatInterval: 1000,
      });
      this.#consumer = consumer;
      this.#stream = stream;
      stream.on('data', (record) => {
        const position = this.#next.get(`${record.topic}:${record.partition}`);
        // A record below the resume point was already delivered by an earlier consumer.
        if (position !== undefined && record.offset < position.offset) return;
        this.#next.set(`${record.topic}:${record.partition}`, {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset + 1n,
        });
        this.#records += 1;
        this.#onRecord({
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          timestampMs: Number(record.timestamp),
          value: record.value,
        });
      });
      // `on`, not `once`: a stream may emit more than one error, and an unheard one would crash the process.
      stream.on('error', (error: Error) => this.#failed(consumer, error));
    } catch (error) {
      await consumer.close(true).catch(() => undefined);
      throw error;
    }
  }

  /** The stream or the client of `consumer` failed: if it is the one reading, replace it (once at a time). */
  #failed(consumer: BufferConsumer, error: Error): void {
    if (this.#consumer !== consumer || this.#closed) return;
    this.#lastError = error;
    this.#recovering ??= this.#recover().finally(() => {
      this.#recovering = undefined;
    });
  }

  /** Replaces the failed consumer by a new one at the next unread offsets, until one starts or `close()`. */
  async #recover(): Promise<void> {
    await this.#teardown();
    for (let attempt = 0; !this.#closed; attempt++) {
      await sleep(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]);
      if (this.#closed) return;
      try {
        await this.#open();
        if (this.#closed) await this.#teardown();
        this.#reconnects += 1;
        return;
      } catch (error) {
        this.#lastError = error instanceof Error ? error : new Error(String(error));
      }
    }
  }

  async #teardown(): Promise<void> {
    const stream = this.#stream;
    const consumer = this.#consumer;
    this.#stream = undefined;
    this.#consumer = undefined;
    await stream?.close().catch(() => undefined);
    await consumer?.close(true).catch(() => undefined);
  }
}

function key(position: { topic: string; partition: number }): string {
  return `${position.topic}:${position.partition}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
