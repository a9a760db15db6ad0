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
import { measureDrain } from './drain.ts';
import { httpLoad, startBareServer } from './http-load.ts';
import { createThrowawayTopics, deleteTopics, prefill, throwawayName } from './kafka-fixtures.ts';
import { startPassThrough } from './passthrough.ts';
import { rawRecords } from './records.ts';
import type { Cell } from './table.ts';

export type Row = readonly Cell[];
export const COLUMNS = ['measure', 'records or logs/s', 'p50 ms', 'p99 ms', 'note'] as const;

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
        [
          '(2) Kafka pass-through (ceiling)',
          measured.recordsPerSecond,
          undefined,
          undefined,
          `${measured.records} records, ${measured.seconds.toFixed(1)} s${measured.complete ? '' : ', INCOMPLETE'}`,
        ],
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
    rows.push(['(4) bare Node http server (ceiling), req/s', result.okPerSecond, result.latencyP50Ms, result.latencyP99Ms, 'autocannon, 32 connections']);
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
    for (const [label, body, perRequest] of [
      ['single log per request', single, 1],
      [`${batch} logs per request`, batched, batch],
    ] as const) {
      context.log(`http: ingest, ${label}, ${seconds} s`);
      const result = await httpLoad({ url: `${served.url}/api/logs`, body, connections: 32, durationSeconds: seconds, workers: 1 });
      const failed = result.non2xx + result.errors;
      rows.push([
        `(4) ingest over HTTP, ${label}, logs/s`,
        result.okPerSecond * perRequest,
        result.latencyP50Ms,
        result.latencyP99Ms,
        `${Math.round(result.okPerSecond)} req/s${failed > 0 ? `, ${failed} failed` : ''}`,
      ]);
    }
  } finally {
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
  for (const [index, batchSize] of options.batchSizes.entries()) {
    const raw = throwawayName('pipeline-raw');
    const outputs = { complete: throwawayName('pipeline-complete'), partial: throwawayName('pipeline-partial'), deadLetter: throwawayName('pipeline-dlq') };
    const outputList = [outputs.complete, outputs.partial, outputs.deadLetter];
    await createThrowawayTopics(context.connection, [
      { name: raw, partitions: 6 },
      { name: outputs.complete, partitions: 3 },
      { name: outputs.partial, partitions: 3 },
      { name: outputs.deadLetter, partitions: 1 },
    ]);
    let runner: Awaited<ReturnType<typeof startEnrichRunner>> | undefined;
    try {
      context.log(`pipeline: pre-filling ${options.records} records (runner batch size ${batchSize})`);
      await prefill(context.connection, raw, rawRecords(context.catalog, options.records));
      const measuring = measureDrain(context.connection, outputList, options.records, 180_000);
      runner = await startEnrichRunner({
        env: {
          ...process.env,
          REDIS_URL: target.redisUrl,
          DATABASE_URL: target.databaseUrl,
          COMPLETE_TOPIC: outputs.complete,
          PARTIAL_TOPIC: outputs.partial,
          DLQ_TOPIC: outputs.deadLetter,
        },
        topic: raw,
        groupId: `bench-enrich-${raw}`,
        batchSize,
        batchWindowMs: options.batchWindowMs,
        startFrom: 'earliest',
      });
      const drained = await measuring;
      const ratio = options.ceiling > 0 ? drained.recordsPerSecond / options.ceiling : Number.NaN;
      context.log(`pipeline: ${Math.round(drained.recordsPerSecond)} records/s (${(ratio * 100).toFixed(0)} % of the pass-through)`);
      rows.push([
        `(3) pipeline drain, runner batch ${batchSize}`,
        drained.recordsPerSecond,
        undefined,
        undefined,
        `${(ratio * 100).toFixed(0)} % of (2); ${drained.records} records, ${drained.seconds.toFixed(1)} s${drained.complete ? '' : ', INCOMPLETE'}`,
      ]);
      // The paced run once, on the first batch size (the runner's default).
      if (index === 0) rows.push(await pacedLatency(context, raw, outputs, options.pacedRate, options.pacedSeconds, batchSize, options.batchWindowMs));
    } finally {
      await runner?.stop().catch(() => undefined);
      await deleteTopics(context.connection, [raw, ...outputList]).catch(() => undefined);
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
  return [
    `(3) pipeline end to end at ${rate} rec/s, batch ${batchSize}, window ${batchWindowMs} ms`,
    rate,
    latency.p50,
    latency.p99,
    `offered rate; produced → output record ts; ${summary.accepted} in, lost ${summary.lost}, dup ${summary.duplicates}, ` +
      `${summary.complete}/${summary.partial}/${summary.deadLetter} complete/partial/dlq`,
  ];
}

/**
 * (1) The enrich handler in-process, measured by the enrich engineer's `bench/enrich.ts`. That script
 * exports no function, so it runs as a child process (same Node) and its summary lines are read; its whole
 * output is echoed, so nothing is hidden if the format changes and the parse finds nothing.
 */
export async function enrichHandlerSection(context: BenchContext, batches: number): Promise<Row[]> {
  const script = fileURLToPath(new URL('../enrich.ts', import.meta.url));
  context.log(`enrich handler: node bench/enrich.ts --batches ${batches}`);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script, '--batches', String(batches)], { timeout: 120_000, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`bench/enrich.ts failed: ${error.message}\n${stderr}`)),
    );
  });
  for (const line of output.trimEnd().split('\n')) context.log(`  | ${line}`);
  const rate = /throughput:\s*([\d,.]+)\s*records\/s/.exec(output)?.[1];
  const latency = /latency per record:\s*p50\s*([\d.]+)\s*ms\s*p99\s*([\d.]+)\s*ms/.exec(output);
  return [
    [
      '(1) enrich handler in-process, records/s',
      rate === undefined ? undefined : Number(rate.replaceAll(',', '')),
      latency?.[1] === undefined ? undefined : Number(latency[1]),
      latency?.[2] === undefined ? undefined : Number(latency[2]),
      rate === undefined ? 'see bench/enrich.ts output above' : 'bench/enrich.ts: stand-in Redis/PG, counting publisher',
    ],
  ];
}
