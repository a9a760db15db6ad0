/**
 * Throughput of something that drains a pre-filled topic into output topics, measured the same way for the
 * pass-through ceiling and for the real pipeline, from outside: the output topics' end offsets are polled,
 * and the rate is taken from the first output seen to the last expected one. Consumer-group join and client
 * start-up happen before the first output, so they are not counted against either.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BaseOptions, Consumer } from '@platformatic/kafka';

export interface DrainMeasure {
  /** Records written to the outputs in the measured window. */
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** Whether every expected record arrived before the timeout. */
  complete: boolean;
}

const POLL_MS = 20;

/**
 * @example
 * const measuring = measureDrain(connection, ['out-a', 'out-b'], 100_000, 60_000);
 * startTheDrainer();
 * const { recordsPerSecond } = await measuring;
 */
export async function measureDrain(
  connection: BaseOptions,
  outputTopics: readonly string[],
  expected: number,
  timeoutMs: number,
): Promise<DrainMeasure> {
  const consumer = new Consumer({ ...connection, clientId: 'bench-drain', groupId: `bench-drain-${randomUUID()}` });
  const deadline = performance.now() + timeoutMs;
  const count = async () => {
    const offsets = await consumer.listOffsets({ topics: [...outputTopics] });
    let total = 0n;
    for (const ends of offsets.values()) for (const end of ends) total += end;
    return Number(total);
  };
  try {
    let first: { at: number; count: number } | undefined;
    let last = { at: performance.now(), count: 0 };
    for (;;) {
      const seen = await count();
      const at = performance.now();
      if (seen > 0 && first === undefined) first = { at, count: seen };
      last = { at, count: seen };
      if (seen >= expected || at >= deadline) break;
      await sleep(POLL_MS);
    }
    if (first === undefined) return { records: 0, seconds: 0, recordsPerSecond: 0, complete: false };
    const records = last.count - first.count;
    const seconds = (last.at - first.at) / 1000;
    return {
      records: last.count,
      seconds,
      recordsPerSecond: seconds > 0 ? records / seconds : Number.NaN,
      complete: last.count >= expected,
    };
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}
