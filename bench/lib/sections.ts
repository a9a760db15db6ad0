/**
 * The measured sections of `npm run bench`, each returning rows for the one printed table. Every section
 * uses throwaway topics (and the bench's own database and Redis logical database), so a running
 * `npm start` or test run is not disturbed, and deletes its topics afterwards.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type BaseOptions, ProduceAcks, Producer } from '@platformatic/kafka';
import type { KafkaEnv } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { logger, metrics } from '#shared/observability.ts';
import { Ledger, type Outcome, observationFrom } from '../../load/lib/accounting.ts';
import type { MixCatalog } from '../../load/lib/mix.ts';
import { summarize } from '../../load/lib/percentile.ts';
import type { OutputTopics } from '../../load/lib/run.ts';
import { snapshotEnds, TopicReader } from '../../load/lib/topic-reader.ts';
import { AcceptLogs } from '../../functions/ingest/src/accept-logs.ts';
import { PowertoolsIngestMetrics } from '../../functions/ingest/src/adapters/powertools-metrics.ts';
import { createIngestHandler } from '../../functions/ingest/src/http-handler.ts';
import { serveHandler } from '../../scripts/local/api-gateway/index.ts';
import { measureDrain, runnerEnv } from './drain.ts';
import { httpLoad, startBareServer } from './http-load.ts';
import { createPipelineTopics, createThrowawayTopics, deleteTopics, prefill, throwawayName } from './kafka-fixtures.ts';
import { startPassThrough } from './passthrough.ts';
import { rawRecords } from './records.ts';
import { BENCH_COLUMNS } from './table.ts';
import type { BenchRow } from './targets.ts';

/** One row of the bench table (figure, unit, target key); `evaluateTargets` adds the targets. */
export type Row = BenchRow;
export const COLUMNS = BENCH_COLUMNS;

export interface BenchContext {
  connection: BaseOptions;
  kafkaEnv: KafkaEnv;
  catalog: MixCatalog;
  log: (line: string) => void;
}

/** (2) The ceiling: consume a pre-filled topic, produce the same bytes elsewhere, nothing else. */
export async function passThroughSection(context: BenchContext, records: number): Promise<{ rows: Row[]; recordsPerSecond: number }> {
  const source = throwawayName('passthrough-in');
  const target = throwawayName('passthrough-out');
  await createThrowawayTopics(context.connection, [
    { name: source, partitions: 6 },
    { name: target, partitions: 3 },
  ]);
  try {
    context.log(`pass-through: pre-filling ${records} records`);
    await prefill(context.connection, source, rawRecords(context.catalog, records));
    const measuring = measureDrain(context.connection, [target], records, 120_000);
    const copier = await startPassThrough(context.connection, context.kafkaEnv, { source, target, expected: records });
    const measured = await measuring;
    await copier.stop();
    context.log(`pass-through: ${Math.round(measured.recordsPerSecond)} records/s`);
    return {
      recordsPerSecond: measured.recordsPerSecond,
      rows: [
        {
          key: 'ceiling',
          measure: '(2) Kafka pass-through (ceiling)',
          value: measured.recordsPerSecond,
          unit: 'records/s',
          note: `${measured.records} records, ${measured.seconds.toFixed(1)} s${measured.complete ? '' : ', INCOMPLETE'}`,
        },
      ],
    };
  } finally {
    await deleteTopics(context.connection, [source, target]).catch(() => undefined);
  }
}

/**
 * (4) Ingest over HTTP: the local API Gateway stand-in + the real ingest handler + Kafka (a throwaway raw
 * topic), single-log and batched, next to a bare Node server with the same client as the ceiling.
 */
export async function httpSection(context: BenchContext, seconds: number, batch: number): Promise<Row[]> {
  const rows: Row[] = [];
  const logs = rawRecords(context.catalog, batch).map((record) => {
    const { event_id: _id, received_at: _received, timestamp: _timestamp, ...log } = JSON.parse(record.value.toString()) as Record<string, unknown>;
    return log;
  });
  const single = JSON.stringify(logs[0]);
  const batched = JSON.stringify(logs);

  const bare = await startBareServer();
  try {
    context.log(`http: bare Node server, ${seconds} s`);
    const result = await httpLoad({ url: `${bare.url}/api/logs`, body: single, connections: 32, durationSeconds: seconds, workers: 1 });
    rows.push({
      key: 'http-bare',
      measure: '(4) bare Node http server (ceiling)',
      value: result.okPerSecond,
      unit: 'req/s',
      p50: result.latencyP50Ms,
      p99: result.latencyP99Ms,
      note: 'autocannon, 32 connections, 1 worker',
    });
  } finally {
    await bare.close();
  }

  const topic = throwawayName('ingest-raw');
  await createThrowawayTopics(context.connection, [{ name: topic, partitions: 6 }]);
  const publisher = new KafkaPublisher(context.kafkaEnv, 'bench-ingest');
  const { handler, routes } = {
    ...createIngestHandler({
      // Powertools' logger and metrics, as the function's wiring passes them: the path measured is the deployed one.
      acceptLogs: new AcceptLogs({ publisher, topic, retryAfterSeconds: 5, log: logger, metrics: new PowertoolsIngestMetrics(metrics) }),
      apiKeys: undefined,
      maxBodyBytes: 1024 * 1024,
      maxBatch: 1000,
    }),
    routes: [{ method: 'POST', path: '/api/logs' }],
  };
  const served = await serveHandler({ name: 'ingest-bench', port: 0, handler, routes });
  try {
    for (const [key, label, body, perRequest] of [
      ['ingest-single', 'one log per request', single, 1],
      ['ingest-batch', `${batch} logs per request`, batched, batch],
    ] as const) {
      context.log(`http: ingest, ${label}, ${seconds} s`);
      const result = await httpLoad({ url: `${served.url}/api/logs`, body, connections: 32, durationSeconds: seconds, workers: 1 });
      const failed = result.non2xx + result.errors;
      rows.push({
        key,
        measure: `(4) ingest over HTTP, ${label}`,
        value: result.okPerSecond * perRequest,
        unit: 'logs/s',
        p50: result.latencyP50Ms,
        p99: result.latencyP99Ms,
        note: `${Math.round(result.okPerSecond).toLocaleString('en-US')} req/s, 202 after the Kafka ack${failed > 0 ? `, ${failed} failed` : ''}`,
      });
    }
  } finally {
    // The server first: it returns once the requests still in the handler are answered, so closing the
    // publisher after it fails none of them (a 503 and its log lines at the end of the run).
    await served.close();
    await publisher.close();
    await deleteTopics(context.connection, [topic]).catch(() => undefined);
  }
  return rows;
}

export interface PipelineTarget {
  databaseUrl: string;
  redisUrl: string;
}

/**
 * (3) The full pipeline: a pre-filled raw-logs-like topic drained by the local enrich runner (real
 * lookups: memory, Redis, PostgreSQL with the demo metadata) into real output topics; then, with the
 * runner caught up, a paced run at `pacedRate` records/s for end-to-end latency (input record produced →
 * output record timestamp, same clock).
 */
export async function pipelineSection(
  context: BenchContext,
  target: PipelineTarget,
  options: { records: number; batchSizes: readonly number[]; pacedRate: number; pacedSeconds: number; batchWindowMs: number; ceiling: number },
): Promise<Row[]> {
  const rows: Row[] = [];
  const { startEnrichRunner } = await import('../../scripts/local/event-source/runner.ts');
  const defaults = await npmStartDefaults();
  for (const [index, batchSize] of options.batchSizes.entries()) {
    const { raw, outputs, all } = await createPipelineTopics(context.connection, 'pipeline');
    const outputList = [outputs.complete, outputs.partial, outputs.deadLetter];
    let runner: Awaited<ReturnType<typeof startEnrichRunner>> | undefined;
    try {
      context.log(`pipeline: pre-filling ${options.records} records (runner batch size ${batchSize})`);
      await prefill(context.connection, raw, rawRecords(context.catalog, options.records));
      const measuring = measureDrain(context.connection, outputList, options.records, 180_000);
      runner = await startEnrichRunner({
        env: runnerEnv(target, outputs),
        topic: raw,
        groupId: `bench-enrich-${raw}`,
        batchSize,
        batchWindowMs: options.batchWindowMs,
        startFrom: 'earliest',
      });
      const drained = await measuring;
      const ratio = options.ceiling > 0 ? drained.recordsPerSecond / options.ceiling : Number.NaN;
      context.log(`pipeline: ${Math.round(drained.recordsPerSecond)} records/s (${(ratio * 100).toFixed(0)} % of the pass-through)`);
      const isDefault = batchSize === defaults.batchSize && options.batchWindowMs === defaults.batchWindowMs;
      rows.push({
        key: isDefault ? 'drain-default' : 'drain',
        measure: `(3) pipeline drain, runner batch ${batchSize}${isDefault ? ' (default)' : ''}`,
        value: drained.recordsPerSecond,
        unit: 'records/s',
        note: `${(ratio * 100).toFixed(0)} % of (2); window ${options.batchWindowMs} ms; ${drained.records} records, ${drained.seconds.toFixed(1)} s${drained.complete ? '' : ', INCOMPLETE'}`,
      });
      // The paced run once, on the first batch size (the runner's default).
      if (index === 0) {
        const paced = await pacedLatency(context, raw, outputs, options.pacedRate, options.pacedSeconds, batchSize, options.batchWindowMs);
        // The target is for npm start's defaults at 5,000 logs/s; another setting is a measure without one.
        const asTargeted = isDefault && options.pacedRate === 5000;
        rows.push({
          ...paced,
          key: asTargeted ? 'paced' : 'other',
          measure: `${paced.measure}${isDefault ? " (npm start's defaults)" : ' (NOT npm start’s defaults)'}`,
        });
      }
    } finally {
      await runner?.stop().catch(() => undefined);
      await deleteTopics(context.connection, all).catch(() => undefined);
    }
  }
  return rows;
}

async function pacedLatency(
  context: BenchContext,
  raw: string,
  outputs: OutputTopics,
  rate: number,
  seconds: number,
  batchSize: number,
  batchWindowMs: number,
): Promise<Row> {
  const ledger = new Ledger();
  const outcomeOf = new Map<string, Outcome>([
    [outputs.complete, 'complete'],
    [outputs.partial, 'partial'],
    [outputs.deadLetter, 'deadLetter'],
  ]);
  const from = await snapshotEnds(context.connection, [...outcomeOf.keys()]);
  const reader = await TopicReader.start(context.connection, from, (record) => {
    const outcome = outcomeOf.get(record.topic);
    if (outcome !== undefined) ledger.observe(observationFrom(outcome, record.value, record.timestampMs));
  });
  const producer = new Producer({ ...context.connection, clientId: 'bench-paced', acks: ProduceAcks.LEADER, autocreateTopics: false });
  try {
    context.log(`pipeline: paced ${rate} records/s for ${seconds} s`);
    const records = rawRecords(context.catalog, Math.round(rate * seconds));
    const tickMs = 10;
    const perTick = (rate * tickMs) / 1000;
    const began = performance.now();
    let sent = 0;
    const sends: Promise<unknown>[] = [];
    while (sent < records.length) {
      // Open loop: whatever is due by now goes out now, in one send.
      const due = Math.min(records.length, Math.floor(((performance.now() - began) / tickMs + 1) * perTick));
      if (due > sent) {
        const slice = records.slice(sent, due);
        sent = due;
        ledger.accept(slice.map((record) => record.eventId), Date.now());
        sends.push(producer.send({ messages: slice.map((record) => ({ topic: raw, key: record.key, value: record.value })) }));
      }
      await sleep(tickMs);
    }
    await Promise.all(sends);
    const deadline = performance.now() + 30_000;
    while (ledger.pending > 0 && performance.now() < deadline) await sleep(50);
  } finally {
    await producer.close().catch(() => undefined);
    await reader.close();
  }
  const summary = ledger.summary();
  const latency = summarize(summary.acceptedToOutputMs);
  return {
    key: 'other',
    measure: `(3) pipeline end to end at ${rate.toLocaleString('en-US')} logs/s, runner batch ${batchSize}, window ${batchWindowMs} ms`,
    value: rate,
    unit: 'logs/s offered',
    p50: latency.p50,
    p99: latency.p99,
    lost: summary.lost,
    note:
      `produced → output record ts; ${summary.accepted} in, lost ${summary.lost}, dup ${summary.duplicates}, ` +
      `${summary.complete}/${summary.partial}/${summary.deadLetter} complete/partial/dlq`,
  };
}

/**
 * The runner settings `npm start` uses unless told otherwise (ENRICH_BATCH_SIZE, ENRICH_BATCH_WINDOW_MS), read
 * from the local event source's own schema so a changed default changes the bench's label with it.
 */
export async function npmStartDefaults(): Promise<{ batchSize: number; batchWindowMs: number }> {
  const { localEnv } = await import('../../scripts/local/event-source/index.ts');
  const defaults = localEnv.parse({});
  return { batchSize: defaults.ENRICH_BATCH_SIZE, batchWindowMs: defaults.ENRICH_BATCH_WINDOW_MS };
}

/**
 * (1) The enrich handler in-process, measured by the enrich engineer's `bench/enrich.ts`. That script
 * exports no function, so it runs as a child process (same Node) and its summary lines are read; its whole
 * output is echoed, so nothing is hidden if the format changes and the parse finds nothing.
 */
export async function enrichHandlerSection(context: BenchContext, batches: number): Promise<Row[]> {
  const parsed = parseEnrichBenchOutput(await runEnrichBench(context, ['--batches', String(batches)]));
  // The same mix as OTLP protobuf in and out (issue 12): next to the JSON figure, with no target of its own.
  const otlp = parseEnrichBenchOutput(await runEnrichBench(context, ['--otlp', '--batches', String(batches)]));
  return [
    {
      key: 'enrich-handler',
      measure: '(1) enrich handler in-process (batch 100)',
      value: parsed.recordsPerSecond,
      unit: 'records/s',
      p50: parsed.batchP50Ms,
      p99: parsed.batchP99Ms,
      note: parsed.recordsPerSecond === undefined ? 'see bench/enrich.ts output above' : 'bench/enrich.ts: stand-in Redis/PG, counting publisher; p50/p99 per batch',
    },
    {
      key: 'other',
      measure: '(1) same, OTLP protobuf in and out (batch 100)',
      value: otlp.recordsPerSecond,
      unit: 'records/s',
      p50: otlp.batchP50Ms,
      p99: otlp.batchP99Ms,
      note:
        otlp.recordsPerSecond === undefined
          ? 'see bench/enrich.ts --otlp output above'
          : `bench/enrich.ts --otlp: one log record per ExportLogsServiceRequest, OUTPUT_ENCODING=otlp_proto${
              parsed.recordsPerSecond === undefined ? '' : `; ${Math.round((otlp.recordsPerSecond / parsed.recordsPerSecond) * 100)} % of the JSON row`
            }`,
    },
  ];
}

/** `node bench/enrich.ts <args>` in a child process, its output echoed line by line. */
async function runEnrichBench(context: BenchContext, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const script = fileURLToPath(new URL('../enrich.ts', import.meta.url));
  context.log(`enrich handler: node bench/enrich.ts ${args.join(' ')}`);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { timeout: 180_000, maxBuffer: 1024 * 1024, env }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`bench/enrich.ts failed: ${error.message}\n${stderr}`)),
    );
  });
  for (const line of output.trimEnd().split('\n')) context.log(`  | ${line}`);
  return output;
}

/**
 * The figures of `bench/enrich.ts`'s summary: records/s, and the batch wall time (its "latency per record" is the
 * time from a batch's start to its outputs handed to the publisher, which every record of the batch shares).
 * Undefined for whatever the output does not say.
 *
 * @example
 * parseEnrichBenchOutput('throughput: 142,874 records/s (one core, 1400 ms)\nlatency per record: p50 0.650 ms  p99 1.200 ms');
 * // { recordsPerSecond: 142874, batchP50Ms: 0.65, batchP99Ms: 1.2 }
 */
export function parseEnrichBenchOutput(output: string): { recordsPerSecond?: number; batchP50Ms?: number; batchP99Ms?: number } {
  const rate = /throughput:\s*([\d,.]+)\s*records\/s/.exec(output)?.[1];
  const latency = /latency per record:\s*p50\s*([\d.]+)\s*ms\s*p99\s*([\d.]+)\s*ms/.exec(output);
  const number = (text: string | undefined) => (text === undefined || !Number.isFinite(Number(text)) ? undefined : Number(text));
  const parsed: { recordsPerSecond?: number; batchP50Ms?: number; batchP99Ms?: number } = {};
  const recordsPerSecond = number(rate?.replaceAll(',', ''));
  const batchP50Ms = number(latency?.[1]);
  const batchP99Ms = number(latency?.[2]);
  if (recordsPerSecond !== undefined) parsed.recordsPerSecond = recordsPerSecond;
  if (batchP50Ms !== undefined) parsed.batchP50Ms = batchP50Ms;
  if (batchP99Ms !== undefined) parsed.batchP99Ms = batchP99Ms;
  return parsed;
}

/**
 * The enrich handler on batches of `batchSize` (500) against the real Redis and PostgreSQL of the bench, and
 * from its wall time the Lambda cost per million logs at the enrich function's configured memory.
 *
 * "Warm" is a warm Lambda container: connections open and the in-process cache filled by the warm-up batches
 * before the timed ones (the mix repeats, so the timed batches find their metadata in memory; each batch still
 * makes its Redis round trip for the cache version and the breaker reports). The cold-cache variant keeps the
 * connections warm but lets nothing live in the in-process cache (its TTLs set to 1 ms), so every batch reads
 * Redis (itself warmed by the warm-up batches). The publisher only counts: no Kafka produce is in the time.
 */
export async function enrichRealSection(
  context: BenchContext,
  target: PipelineTarget,
  options: { batchSize: number; batches: number; warmup: number },
): Promise<Row[]> {
  const { MEMORY_MB } = await import('../../infra/cdk/lib/function-sizes.ts');
  const { LAMBDA_ARM64_PRICE, describePrice, lambdaCostPerMillionLogs } = await import('./lambda-cost.ts');
  const memoryMb = MEMORY_MB.enrich;
  const env = { ...process.env, REDIS_URL: target.redisUrl, DATABASE_URL: target.databaseUrl };
  const args = ['--real', '--batch-size', String(options.batchSize), '--warmup', String(options.warmup)];
  const rows: Row[] = [];
  const variants = [
    {
      label: 'warm',
      meaning: `warm: connections open, in-process cache filled by ${options.warmup} warm-up batches`,
      env,
      batches: options.batches,
    },
    {
      label: 'in-process cache cold',
      meaning: 'in-process cache TTL 1 ms: every batch reads Redis (warm), connections open',
      env: { ...env, ENRICH_MEMORY_TTL_MS: '1', ENRICH_MEMORY_NEGATIVE_TTL_MS: '1' },
      batches: Math.max(1, Math.round(options.batches / 2)),
    },
  ];
  for (const variant of variants) {
    const parsed = parseEnrichBenchOutput(await runEnrichBench(context, [...args, '--batches', String(variant.batches)], variant.env));
    rows.push({
      key: 'enrich-real',
      measure: `enrich handler, batch ${options.batchSize}, real Redis + PG, ${variant.label}`,
      value: parsed.recordsPerSecond,
      unit: 'records/s',
      p50: parsed.batchP50Ms,
      p99: parsed.batchP99Ms,
      note: `p50/p99 = wall time per batch; ${variant.meaning}; ${variant.batches} batches; publisher counts (no Kafka produce)`,
    });
    const cost = (ms: number | undefined) => (ms === undefined ? undefined : lambdaCostPerMillionLogs({ batchMs: ms, batchSize: options.batchSize, memoryMb }));
    const p99Cost = cost(parsed.batchP99Ms);
    rows.push({
      key: 'lambda-cost',
      measure: `Lambda cost per 1M logs, enrich ${memoryMb} MB arm64, ${variant.label} (batch p50)`,
      value: cost(parsed.batchP50Ms),
      unit: 'USD',
      note: `${p99Cost === undefined ? '' : `$${p99Cost.toPrecision(3)} at batch p99; `}${describePrice(LAMBDA_ARM64_PRICE)}; this machine's batch time, not Lambda's CPU share`,
    });
  }
  return rows;
}

/** Bundle size and module init of every function (`measureBundles` of scripts/bundle-sizes.ts). */
export async function bundleSection(context: BenchContext, runs: number): Promise<Row[]> {
  const { measureBundles } = await import('../../scripts/bundle-sizes.ts');
  context.log(`bundles: esbuild as deployed, module init in ${runs} fresh processes each`);
  return bundleRows(await measureBundles({ runs }), runs);
}

/** The rows for measured bundles: size, and init time or `unknown` (never a number that was not measured). */
export function bundleRows(
  measured: readonly { name: string; bytes: number; initMs: { median: number; min: number; max: number } | undefined; error?: string }[],
  runs: number,
): Row[] {
  return measured.flatMap((bundle): Row[] => [
    { key: 'bundle', measure: `bundle ${bundle.name} (index.mjs)`, value: bundle.bytes / 1024, unit: 'KiB', note: 'esbuild as the CDK construct bundles it' },
    {
      key: 'init',
      measure: `cold start ${bundle.name} (module init, this machine)`,
      value: bundle.initMs?.median,
      unit: 'ms',
      note:
        bundle.initMs === undefined
          ? `not measured${bundle.error === undefined ? '' : `: ${bundle.error}`}`
          : `median of ${runs} fresh processes, ${bundle.initMs.min.toFixed(0)}–${bundle.initMs.max.toFixed(0)} ms`,
    },
  ]);
}
