/**
 * Throwaway topics for benchmarks: unique names, so a bench never disturbs a running `npm start` or a test,
 * filled fast and deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, type BaseOptions, Consumer, ProduceAcks, Producer } from '@platformatic/kafka';
import { createTopics, type TopicSpec } from '#shared/kafka/topics.ts';

export interface KafkaRecordFixture {
  key: Buffer;
  value: Buffer;
}

/** `bench-<purpose>-<8 hex>`: unique per run, recognisable in a topic listing. */
export function throwawayName(purpose: string): string {
  return `bench-${purpose}-${randomUUID().slice(0, 8)}`;
}

export async function createThrowawayTopics(connection: BaseOptions, topics: readonly TopicSpec[]): Promise<void> {
  await createTopics(connection.bootstrapBrokers as string[], topics);
}

/** Throwaway topics of the pipeline runs (bench row 3, `npm run profile`): raw with 6 partitions, as the stack's. */
export interface PipelineTopics {
  raw: string;
  outputs: { complete: string; partial: string; deadLetter: string };
  /** Every topic, for cleaning up. */
  all: string[];
}

/** Creates a raw topic and its three outputs named after `purpose`, laid out as the deployed topics are. */
export async function createPipelineTopics(connection: BaseOptions, purpose: string): Promise<PipelineTopics> {
  const raw = throwawayName(`${purpose}-raw`);
  const outputs = { complete: throwawayName(`${purpose}-complete`), partial: throwawayName(`${purpose}-partial`), deadLetter: throwawayName(`${purpose}-dlq`) };
  await createThrowawayTopics(connection, [
    { name: raw, partitions: 6 },
    { name: outputs.complete, partitions: 3 },
    { name: outputs.partial, partitions: 3 },
    { name: outputs.deadLetter, partitions: 1 },
  ]);
  return { raw, outputs, all: [raw, outputs.complete, outputs.partial, outputs.deadLetter] };
}

export async function deleteTopics(connection: BaseOptions, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const admin = new Admin({ ...connection, clientId: 'bench-cleanup' });
  try {
    await admin.deleteTopics({ topics: [...names] });
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Writes `records` to `topic` as fast as the broker takes them: big batches, leader acks, no idempotence.
 * This is set-up, not the measured path.
 */
export async function prefill(connection: BaseOptions, topic: string, records: readonly KafkaRecordFixture[]): Promise<void> {
  const producer = new Producer({ ...connection, clientId: 'bench-prefill', acks: ProduceAcks.LEADER, autocreateTopics: false });
  try {
    const chunk = 2000;
    const sends: Promise<unknown>[] = [];
    for (let start = 0; start < records.length; start += chunk) {
      const messages = records.slice(start, start + chunk).map((record) => ({ topic, key: record.key, value: record.value }));
      sends.push(producer.send({ messages }));
      // A few sends in flight keep the broker busy without queueing the whole fixture in memory at once.
      if (sends.length >= 4) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
  } finally {
    await producer.close().catch(() => undefined);
  }
}

/** Number of records in `topics` (sum of end offsets): exact for fresh topics written without transactions. */
export async function countRecords(connection: BaseOptions, topics: readonly string[]): Promise<number> {
  const consumer = new Consumer({ ...connection, clientId: 'bench-count', groupId: `bench-count-${randomUUID()}` });
  try {
    const offsets = await consumer.listOffsets({ topics: [...topics] });
    let total = 0n;
    for (const ends of offsets.values()) for (const end of ends) total += end;
    return Number(total);
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}

/**
 * Polls until `topics` hold at least `expected` records or `timeoutMs` passes; returns the last count.
 */
export async function waitForRecords(
  connection: BaseOptions,
  topics: readonly string[],
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const consumer = new Consumer({ ...connection, clientId: 'bench-count', groupId: `bench-count-${randomUUID()}` });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const offsets = await consumer.listOffsets({ topics: [...topics] });
      let total = 0n;
      for (const ends of offsets.values()) for (const end of ends) total += end;
      if (Number(total) >= expected || Date.now() >= deadline) return Number(total);
      await sleep(25);
    }
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}
