/**
 * Reading Kafka back in integration tests. Each read uses a fresh consumer group (nothing is committed, no
 * test sees another's position) and stops as soon as it has what it was asked for, or when its timeout
 * passes; it then returns what it collected, so the test's own assertion says what is missing.
 *
 * Topics are shared by every test file and every run: never assume one is empty. Either filter by your own
 * ids (`eventIds`, or a `predicate` on something unique to the test), or take `latestOffsets` before acting
 * and read `fromOffsets` that snapshot.
 *
 * @example
 * const before = await latestOffsets('raw-logs');
 * const response = await handler(event, context);
 * const messages = await readTopicUntil({ topic: 'raw-logs', eventIds: body.eventIds, fromOffsets: before });
 * expect(messages.map((message) => message.key)).toEqual(['192.168.1.100']);
 */
import { randomUUID } from 'node:crypto';
import { Consumer, MessagesStreamModes } from '@platformatic/kafka';
import type { Message } from '@platformatic/kafka';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';

/** A record as read back: key, value and headers decoded as UTF-8, the value also parsed when it is JSON. */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: bigint;
  /** Broker or producer timestamp, epoch milliseconds. */
  timestamp: bigint;
  key: string | null;
  value: string | null;
  /** `JSON.parse(value)`, or undefined when the value is absent or not JSON. */
  json: unknown;
  headers: Record<string, string>;
}

/** Next offset to read per partition of one topic: index = partition (what `latestOffsets` returns). */
export type PartitionOffsets = readonly bigint[];

export interface ReadTopicOptions {
  topic: string;
  /**
   * Collect the messages whose id is one of these; done when every id was seen. The id is `json.event_id`
   * unless `idOf` says otherwise.
   */
  eventIds?: readonly string[];
  /** Collect the messages it accepts (combined with `eventIds` when both are given: both must accept). */
  predicate?: (message: ConsumedMessage) => boolean;
  /**
   * With `predicate` only: done after this many matches. Without it (and without `eventIds`) the read runs
   * until `timeoutMs`, which is how a test shows that something did NOT arrive.
   */
  count?: number;
  /** Where a message's id is; default `json.event_id`. */
  idOf?: (message: ConsumedMessage) => string | undefined;
  /** Start here (from `latestOffsets`) instead of the earliest offset: faster on a long-lived topic. */
  fromOffsets?: PartitionOffsets;
  /** Default 20 s. */
  timeoutMs?: number;
}

const env = () => readConfig(kafkaEnv);

// Right after a broker starts, its group coordinator answers COORDINATOR_LOAD_IN_PROGRESS for a few
// seconds; the pipeline's own short retry budget is not meant for that, a test reader can wait it out.
const PATIENT = { retries: 40, retryDelay: 250 } as const;

/**
 * Reads `topic` with a throwaway consumer group until the wanted messages are in or `timeoutMs` passed,
 * then closes the consumer. Returns the matching messages in the order they were read (per partition by
 * offset; partitions interleave).
 */
export async function readTopicUntil(options: ReadTopicOptions): Promise<ConsumedMessage[]> {
  const { topic, eventIds, predicate, count, fromOffsets } = options;
  const idOf = options.idOf ?? defaultIdOf;
  const wanted = eventIds === undefined ? undefined : new Set(eventIds);
  const missing = new Set(eventIds);
  const collected: ConsumedMessage[] = [];

  const accepts = (message: ConsumedMessage): boolean => {
    if (wanted !== undefined) {
      const id = idOf(message);
      if (id === undefined || !wanted.has(id)) return false;
    }
    return predicate === undefined || predicate(message);
  };
  const done = (): boolean => {
    if (wanted !== undefined) return missing.size === 0;
    if (count !== undefined) return collected.length >= count;
    return false;
  };
  if (wanted !== undefined && wanted.size === 0) return [];

  const consumer = new Consumer({
    ...(await connectionOptions(env(), `test-reader-${randomUUID()}`)),
    groupId: `test-reader-${randomUUID()}`,
    ...PATIENT,
    // Short waits so a read notices its last message quickly; one member gets every partition at once.
    maxWaitTime: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
  });
  try {
    const stream = await consumer.consume({
      topics: [topic],
      autocommit: false,
      ...(fromOffsets === undefined
        ? { mode: MessagesStreamModes.EARLIEST }
        : {
            mode: MessagesStreamModes.MANUAL,
            offsets: fromOffsets.map((offset, partition) => ({ topic, partition, offset })),
          }),
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(finish, options.timeoutMs ?? 20_000);
      function finish() {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.off('error', onError);
        resolve();
      }
      function onError(error: Error) {
        clearTimeout(timer);
        stream.off('data', onData);
        reject(error);
      }
      function onData(raw: Message) {
        const message = decode(raw);
        if (!accepts(message)) return;
        collected.push(message);
        const id = idOf(message);
        if (id !== undefined) missing.delete(id);
        if (done()) finish();
      }
      stream.on('data', onData);
      stream.on('error', onError);
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return collected;
}

/**
 * The next offset of every partition of `topic` (its end now): pass it as `fromOffsets` to read only what
 * is written after this call.
 *
 * @example
 * const before = await latestOffsets('raw-logs'); // e.g. [12n, 0n, 7n, 3n, 0n, 9n]
 */
export async function latestOffsets(topic: string): Promise<PartitionOffsets> {
  const consumer = new Consumer({
    ...(await connectionOptions(env(), `test-offsets-${randomUUID()}`)),
    groupId: `test-offsets-${randomUUID()}`,
    ...PATIENT,
  });
  try {
    const offsets = await consumer.listOffsets({ topics: [topic] });
    const partitions = offsets.get(topic);
    if (partitions === undefined) throw new Error(`topic ${topic} has no partitions (does it exist?)`);
    return [...partitions];
  } finally {
    await consumer.close(true);
  }
}

function decode(raw: Message): ConsumedMessage {
  const value = raw.value === undefined || raw.value === null ? null : raw.value.toString('utf8');
  const headers: Record<string, string> = {};
  for (const [key, headerValue] of raw.headers) headers[key.toString('utf8')] = headerValue.toString('utf8');
  return {
    topic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    timestamp: raw.timestamp,
    key: raw.key === undefined || raw.key === null ? null : raw.key.toString('utf8'),
    value,
    json: parseOrUndefined(value),
    headers,
  };
}

function parseOrUndefined(value: string | null): unknown {
  if (value === null) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function defaultIdOf(message: ConsumedMessage): string | undefined {
  const json = message.json;
  if (json === null || typeof json !== 'object') return undefined;
  const id = (json as Record<string, unknown>).event_id;
  return typeof id === 'string' ? id : undefined;
}
