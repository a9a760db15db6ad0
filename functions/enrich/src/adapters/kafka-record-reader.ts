/**
 * Reads single records back from their topic by coordinates, as the event source mapping would deliver
 * them: what `npm run replay` and the re-enricher do for a record they cannot rebuild from what they read
 * (a truncated dead letter, a log of an OTLP request, an OTLP partial). Each read uses a consumer of a
 * throwaway group (`<groupPrefix><uuid>`, never committed: @platformatic/kafka joins a group to consume,
 * and a shared one would rebalance its readers against each other); on MSK with IAM the reader's role needs
 * the group actions on `<groupPrefix>*` and ReadData on the topics read.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@platformatic/kafka';
import { Consumer, ListOffsetTimestamps, MessagesStreamModes } from '#shared/kafka/consumer-client.ts';
import type { KafkaEnv } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import type { KafkaEventRecord } from '../kafka-event.ts';
import type { RecordReader } from '../reenrich/reenrich-batch.ts';
import type { Coordinates } from '../replay/rebuild.ts';
import { coordinatesKey } from '../replay/tally.ts';
import { type RunnerMessage, toKafkaEvent } from './poller-event.ts';

const PATIENT = { retries: 20, retryDelay: 250 } as const;
/** How long a record known to be in the topic's range may take to arrive. */
const FIRST_RECORD_WAIT_MS = 5000;

export interface KafkaRecordReaderOptions {
  /** Prefix of the throwaway consumer groups (and client ids). */
  groupPrefix: string;
  /** `bootstrapServers` of the events built (only reported to enrich, never dialled); default empty. */
  bootstrapServers?: string;
}

export class KafkaRecordReader implements RecordReader {
  readonly #kafka: KafkaEnv;
  readonly #options: KafkaRecordReaderOptions;

  constructor(kafka: KafkaEnv, options: KafkaRecordReaderOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /**
   * @returns per `coordinatesKey`: the record, or why it is gone for good (past the topic's retention, not
   *   there, no such topic)
   * @throws when the brokers cannot be asked, or a record in range does not come: it may pass, so nothing is
   *   called gone on its account (the caller retries)
   * @example
   * const found = await reader.read([{ topic: 'raw-logs', partition: 0, offset: 12 }]);
   * found.get('raw-logs/0/12'); // KafkaEventRecord | 'no longer on raw-logs (past its retention)'
   */
  async read(wanted: readonly Coordinates[]): Promise<Map<string, KafkaEventRecord | string>> {
    const results = new Map<string, KafkaEventRecord | string>();
    if (wanted.length === 0) return results;
    const id = `${this.#options.groupPrefix}${randomUUID()}`;
    const consumer = new Consumer({ ...(await connectionOptions(this.#kafka, id)), ...PATIENT, groupId: id, maxWaitTime: 200 });
    try {
      for (const topic of new Set(wanted.map((each) => each.topic))) {
        const ofTopic = wanted.filter((each) => each.topic === topic);
        let earliest: bigint[];
        let latest: bigint[];
        try {
          earliest = (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST })).get(topic) ?? [];
          latest = (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })).get(topic) ?? [];
        } catch (error) {
          // A topic that does not exist is an answer; anything else (brokers unreachable, a credential
          // refused) may pass, and is the caller's to retry: nothing may be called gone on its account.
          if (!isUnknownTopic(error)) throw error;
          for (const each of ofTopic) results.set(coordinatesKey(each), `source topic ${topic} not found`);
          continue;
        }
        for (const each of ofTopic) {
          const offset = BigInt(each.offset);
          if (offset < (earliest[each.partition] ?? 0n) || offset >= (latest[each.partition] ?? 0n)) {
            results.set(coordinatesKey(each), `no longer on ${topic} (past its retention)`);
            continue;
          }
          const message = await firstAt(consumer, each);
          // Within the partition's range but nothing came: the brokers did not answer in time (retry), not gone.
          if (message === undefined) throw new Error(`${topic}-${each.partition}@${each.offset}: no record came within ${FIRST_RECORD_WAIT_MS} ms`);
          results.set(
            coordinatesKey(each),
            // The first record at or after it is a later one: compacted away, or a transaction marker's offset.
            message.offset !== offset
              ? `not on ${topic} at its offset`
              : (toKafkaEvent([message], this.#options.bootstrapServers ?? '').records[`${topic}-${each.partition}`]?.[0] as KafkaEventRecord),
          );
        }
      }
    } finally {
      await consumer.close(true).catch(() => undefined);
    }
    return results;
  }
}

/** @platformatic/kafka's answer for a topic the cluster does not have (a user error, `Unknown topic <name>.`). */
function isUnknownTopic(error: unknown): boolean {
  return error instanceof Error && (error as Error & { code?: unknown }).code === 'PLT_KFK_USER' && error.message.startsWith('Unknown topic');
}

/** The first record at or after these coordinates (undefined when none comes within a few seconds). */
async function firstAt(consumer: Consumer, at: Coordinates): Promise<RunnerMessage | undefined> {
  const stream = await consumer.consume({ topics: [at.topic], autocommit: false, mode: MessagesStreamModes.MANUAL, offsets: [{ topic: at.topic, partition: at.partition, offset: BigInt(at.offset) }] });
  try {
    return await new Promise<RunnerMessage | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), FIRST_RECORD_WAIT_MS);
      stream.on('data', (message: Message) => {
        if (message.partition !== at.partition) return;
        clearTimeout(timer);
        resolve(message as unknown as RunnerMessage);
      });
    });
  } finally {
    await stream.close().catch(() => undefined);
  }
}
