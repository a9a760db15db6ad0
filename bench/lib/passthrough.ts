/**
 * The ceiling for the pipeline on this machine: consume a pre-filled topic and produce the same bytes to
 * another topic with the same client and producer settings as the pipeline (@platformatic/kafka, the shared
 * idempotent acks=all `KafkaPublisher`), with no lookups and no decoding. Whatever the enricher does on top
 * of this costs throughput; the ratio says how much.
 */
import { randomUUID } from 'node:crypto';
import { type BaseOptions, Consumer } from '@platformatic/kafka';
import type { KafkaEnv } from '#shared/config.ts';
import { KafkaPublisher, type OutgoingMessage } from '#shared/kafka/publisher.ts';

export interface PassThrough {
  /** Resolves once every one of `expected` records was produced and acknowledged. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts copying `source` to `target`. Records are batched the way a poller batches them: whatever arrived
 * while the previous publish was in flight goes out in the next one (one publish in flight at a time).
 *
 * @example
 * const copier = await startPassThrough(connection, kafkaEnv, { source: 'a', target: 'b', expected: 100_000 });
 * await copier.done;
 * await copier.stop();
 */
export async function startPassThrough(
  connection: BaseOptions,
  env: KafkaEnv,
  options: { source: string; target: string; expected: number; maxBatch?: number },
): Promise<PassThrough> {
  // ~400-byte records: 1000 stay well under the broker's 1 MiB message.max.bytes for one partition's batch.
  const maxBatch = options.maxBatch ?? 1000;
  const consumer = new Consumer({ ...connection, clientId: 'bench-passthrough', groupId: `bench-passthrough-${randomUUID()}` });
  const publisher = new KafkaPublisher(env, 'bench-passthrough');
  const stream = await consumer.consume({
    topics: [options.source],
    mode: 'earliest',
    autocommit: false,
    maxWaitTime: 100,
  });

  let pending: OutgoingMessage[] = [];
  let publishing = false;
  let acknowledged = 0;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });

  const flush = () => {
    if (publishing || pending.length === 0) return;
    const batch = pending.splice(0, maxBatch);
    publishing = true;
    publisher.publish(batch).then(
      () => {
        publishing = false;
        acknowledged += batch.length;
        if (acknowledged >= options.expected) settle?.resolve();
        if (pending.length < maxBatch && stream.isPaused()) stream.resume();
        flush();
      },
      (error: unknown) => settle?.reject(error),
    );
  };

  stream.on('data', (message) => {
    pending.push({ topic: options.target, key: message.key.toString('latin1'), value: message.value });
    // Back-pressure: stop fetching while more than two batches wait, like a poller waiting on its invoke.
    if (pending.length >= 2 * maxBatch) stream.pause();
    flush();
  });
  stream.on('error', (error: Error) => settle?.reject(error));

  return {
    done,
    async stop() {
      pending = [];
      await stream.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      await publisher.close();
    },
  };
}
