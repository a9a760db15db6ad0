/**
 * The event the Lambda Kafka event source mapping would deliver for records read from the broker (no I/O), so
 * that local runs exercise the same decoding path as AWS: the local runner's, `npm run replay`'s and the
 * records the re-enricher reads back (./kafka-record-reader.ts).
 */
import type { Message } from '@platformatic/kafka';
import { type KafkaEventRecord, toPollerHeaderBytes } from '../kafka-event.ts';

/** A record as the runner's consumer stream delivers it (no deserializers: every part stays bytes). */
export type RunnerMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** A `KafkaEvent` whose records are known to be well formed (the runner built them); assignable to `KafkaEvent`. */
export interface BuiltKafkaEvent {
  eventSource: 'SelfManagedKafka';
  bootstrapServers: string;
  records: Record<string, KafkaEventRecord[]>;
}

/**
 * Builds the `SelfManagedKafka` event for `messages`: records grouped under `"<topic>-<partition>"` in the order
 * given, key and value in base64, and headers as the poller writes them: one `{ name: [bytes] }` object per
 * header, in record order (a repeated name stays repeated), with Java's signed bytes (b > 127 → b − 256).
 *
 * @example
 * const event = toKafkaEvent(batch, '127.0.0.1:9092');
 * // event.records['raw-logs-0'][0].headers → [{ tenant: [122, -61, -87] }] for the header tenant: "zé"
 */
export function toKafkaEvent(messages: readonly RunnerMessage[], bootstrapServers: string): BuiltKafkaEvent {
  return kafkaEventOf(messages.map(toRecord), bootstrapServers);
}

/**
 * The event for records already in the poller's shape (a replay's, a test's): grouped under
 * `"<topic>-<partition>"` in the order given, as the mapping delivers them.
 *
 * @example
 * kafkaEventOf([{ topic: 'raw-logs', partition: 0, offset: 7, … }], '127.0.0.1:9092').records['raw-logs-0'];
 */
export function kafkaEventOf(records: readonly KafkaEventRecord[], bootstrapServers: string): BuiltKafkaEvent {
  const grouped: Record<string, KafkaEventRecord[]> = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    let list = grouped[key];
    if (list === undefined) {
      list = [];
      grouped[key] = list;
    }
    list.push(record);
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers, records: grouped };
}

function toRecord(message: RunnerMessage): KafkaEventRecord {
  const headers: Record<string, number[]>[] = [];
  // headerEntries, not headers: the Map keeps one value per name, the poller sends every header.
  for (const [name, value] of message.headerEntries) {
    // A null header value reaches here as undefined (the stream's `headerValue ?? undefined`): no bytes.
    headers.push({ [name.toString('utf8')]: value === undefined ? [] : toPollerHeaderBytes(value) });
  }
  const record: KafkaEventRecord = {
    topic: message.topic,
    partition: message.partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    timestampType: 'CREATE_TIME',
    value: message.value === undefined || message.value === null ? null : message.value.toString('base64'),
    headers,
  };
  if (message.key !== undefined && message.key !== null && message.key.length > 0) record.key = message.key.toString('base64');
  return record;
}
