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
import type { MixCatalog } from '../../load/lib/mix.ts';
import type { EnrichRunner, EnrichRunnerOptions } from '../../scripts/local/event-source/runner.ts';
import { createPipelineTopics, deleteTopics, type PipelineTopics, prefill } from './kafka-fixtures.ts';
import { rawRecords } from './records.ts';

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

/** The enrich runner's environment in a pipeline run: the bench's Redis and database, the run's output topics. */
export function runnerEnv(target: { databaseUrl: string; redisUrl: string }, outputs: PipelineTopics['outputs']): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL: target.redisUrl,
    DATABASE_URL: target.databaseUrl,
    COMPLETE_TOPIC: outputs.complete,
    PARTIAL_TOPIC: outputs.partial,
    DLQ_TOPIC: outputs.deadLetter,
  };
}

/**
 * One pipeline drain as bench row (3) runs it, for the profiler (`bench/profile.ts`): throwaway raw and output
 * topics, `records` pre-filled, the local enrich runner started (its own defaults unless `batchSize` /
 * `batchWindowMs` are given) and measured until every output arrived. `beforeStart` runs after the pre-fill,
 * `afterDrain` once the last output is seen, before the runner stops.
 */
export async function drainOnce(
  context: { connection: BaseOptions; catalog: MixCatalog; log: (line: string) => void },
  target: { databaseUrl: string; redisUrl: string },
  options: {
    records: number;
    batchSize?: number;
    batchWindowMs?: number;
    beforeStart?: () => Promise<void>;
    afterDrain?: () => Promise<void>;
    /** Further runner options from the runner's environment (an instrumented `enrich` or `publisher`, for experiments). */
    runner?: (env: NodeJS.ProcessEnv) => Partial<EnrichRunnerOptions>;
    /** Another runner to start (a copy of an older version, for back-to-back comparisons). */
    start?: (options: EnrichRunnerOptions) => Promise<EnrichRunner>;
  },
): Promise<DrainMeasure> {
  const startEnrichRunner = options.start ?? (await import('../../scripts/local/event-source/runner.ts')).startEnrichRunner;
  // The same layout as the bench's pipeline section.
  const { raw, outputs, all } = await createPipelineTopics(context.connection, 'profile');
  const outputList = [outputs.complete, outputs.partial, outputs.deadLetter];
  let runner: EnrichRunner | undefined;
  try {
    context.log(`drain: pre-filling ${options.records} records`);
    await prefill(context.connection, raw, rawRecords(context.catalog, options.records));
    await options.beforeStart?.();
    const measuring = measureDrain(context.connection, outputList, options.records, 180_000);
    const env = runnerEnv(target, outputs);
    runner = await startEnrichRunner({
      env,
      topic: raw,
      groupId: `bench-enrich-${raw}`,
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.batchWindowMs === undefined ? {} : { batchWindowMs: options.batchWindowMs }),
      startFrom: 'earliest',
      ...options.runner?.(env),
    });
    const drained = await measuring;
    await options.afterDrain?.();
    return drained;
  } finally {
    await runner?.stop().catch(() => undefined);
    await deleteTopics(context.connection, all).catch(() => undefined);
  }
}
