/**
 * One load run: snapshot the output topics, drive ingest on the open-loop schedule while reading the
 * outputs, wait (bounded) for the accepted logs to come out, and account for every one of them.
 * No process-level concerns here (starting the pipeline, printing, exit codes): see load/load.ts.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BaseOptions } from '@platformatic/kafka';
import { type AccountingSummary, Ledger, type Outcome, observationFrom } from './accounting.ts';
import { type DriveResult, drive } from './http-driver.ts';
import { createLogMix, type MixCatalog } from './mix.ts';
import { planArrivals } from './schedule.ts';
import { snapshotEnds, TopicReader } from './topic-reader.ts';

export interface OutputTopics {
  complete: string;
  partial: string;
  deadLetter: string;
}

export interface LoadRunOptions {
  url: string;
  apiKey?: string;
  rate: number;
  durationSeconds: number;
  batch: number;
  maxInFlight: number;
  drainTimeoutSeconds: number;
  catalog: MixCatalog;
  /** Kafka connection for accounting, or the reason accounting is skipped. */
  kafka: { connection: BaseOptions; topics: OutputTopics } | { skipped: string };
  log?: (line: string) => void;
}

export interface LoadReport {
  runId: string;
  http: DriveResult;
  accounting?: AccountingSummary;
  accountingSkipped?: string;
  /** Milliseconds from the last response until nothing was pending (or the drain timeout). */
  drainMs?: number;
  /** The output reader failed part-way: the accounting is incomplete and says nothing about losses. */
  readerFailure?: string;
}

/**
 * @example
 * const report = await runLoad({ url: 'http://127.0.0.1:8080', rate: 100, durationSeconds: 5, batch: 1,
 *   maxInFlight: 256, drainTimeoutSeconds: 30, catalog, kafka: { connection, topics } });
 */
export async function runLoad(options: LoadRunOptions): Promise<LoadReport> {
  const log = options.log ?? (() => undefined);
  const runId = randomUUID().slice(0, 8);
  const plan = planArrivals({ rate: options.rate, durationSeconds: options.durationSeconds, batch: options.batch });
  const next = createLogMix(options.catalog, { runId });
  const body = (count: number) => {
    if (count === 1) return JSON.stringify(next().log);
    return JSON.stringify(Array.from({ length: count }, () => next().log));
  };

  const ledger = new Ledger();
  let reader: TopicReader | undefined;
  if ('connection' in options.kafka) {
    const { connection, topics } = options.kafka;
    const outcomeOf = new Map<string, Outcome>([
      [topics.complete, 'complete'],
      [topics.partial, 'partial'],
      [topics.deadLetter, 'deadLetter'],
    ]);
    const from = await snapshotEnds(connection, [...outcomeOf.keys()]);
    reader = await TopicReader.start(connection, from, (record) => {
      const outcome = outcomeOf.get(record.topic);
      if (outcome !== undefined) ledger.observe(observationFrom(outcome, record.value, record.timestampMs));
    });
  }

  try {
    log(
      `load ${runId}: ${options.rate} logs/s for ${options.durationSeconds} s (${plan.totalLogs} logs in ${plan.totalRequests} ` +
        `request(s) of ≤ ${options.batch}) → ${options.url}`,
    );
    const http = await drive({
      url: options.url,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      plan,
      maxInFlight: options.maxInFlight,
      body,
      onAccepted: (ids, at) => ledger.accept(ids, at),
      onProgress: log,
    });
    if (reader === undefined) {
      return { runId, http, accountingSkipped: (options.kafka as { skipped: string }).skipped };
    }

    const drainBegan = performance.now();
    const deadline = drainBegan + options.drainTimeoutSeconds * 1000;
    let lastReport = drainBegan;
    while (ledger.pending > 0 && performance.now() < deadline && reader.failure === undefined) {
      await sleep(50);
      if (performance.now() - lastReport >= 1000) {
        log(`draining: ${ledger.pending} of ${ledger.accepted} accepted logs not out yet`);
        lastReport = performance.now();
      }
    }
    const drainMs = performance.now() - drainBegan;
    // A moment more to catch a redelivered duplicate that trails the last first delivery.
    await sleep(Math.min(500, options.drainTimeoutSeconds * 1000));
    const failure = reader.failure;
    return {
      runId,
      http,
      accounting: ledger.summary(),
      drainMs,
      ...(failure === undefined ? {} : { readerFailure: failure.message }),
    };
  } finally {
    await reader?.close();
  }
}
