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
import { type ReadCoverage, snapshotEnds, TopicReader } from './topic-reader.ts';

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
  /** Sees every record read from the output topics (the fault suite watches for recovery with it). */
  onOutput?: (outcome: Outcome, value: Buffer, timestampMs: number) => void;
  /** Sees the event ids of every 202 as it arrives (client clock, epoch ms). */
  onAccepted?: (eventIds: readonly string[], atMs: number) => void;
  /** Sees every HTTP response as it completes (status, latency from its scheduled start, epoch ms). */
  onResponse?: (status: string, latencyMs: number, atMs: number) => void;
}

export interface LoadReport {
  runId: string;
  http: DriveResult;
  accounting?: AccountingSummary;
  accountingSkipped?: string;
  /** Milliseconds from the last response until nothing was pending (or the drain timeout). */
  drainMs?: number;
  /**
   * Set when the output reader could not read everything written to the output topics (a broker that did
   * not come back in time, ends that could not be asked): the ids it did not see count as unknown, not lost.
   */
  readerFailure?: string;
  /** What the reader read against the topics' ends after the drain. */
  coverage?: ReadCoverage;
  /** How many times the reader's stream failed and it reconnected (a broker restart during the run, say). */
  readerReconnects?: number;
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
      if (outcome === undefined) return;
      ledger.observe(observationFrom(outcome, record.value, record.timestampMs));
      options.onOutput?.(outcome, record.value, record.timestampMs);
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
      onAccepted: (ids, at) => {
        ledger.accept(ids, at);
        options.onAccepted?.(ids, at);
      },
      onProgress: log,
      ...(options.onResponse === undefined ? {} : { onResponse: options.onResponse }),
    });
    if (reader === undefined) {
      return { runId, http, accountingSkipped: (options.kafka as { skipped: string }).skipped };
    }

    const drainBegan = performance.now();
    const deadline = drainBegan + options.drainTimeoutSeconds * 1000;
    let lastReport = drainBegan;
    // A broker restart does not end the wait: the reader reconnects and resumes where it was.
    while (ledger.pending > 0 && performance.now() < deadline) {
      await sleep(50);
      if (performance.now() - lastReport >= 1000) {
        log(`draining: ${ledger.pending} of ${ledger.accepted} accepted logs not out yet`);
        lastReport = performance.now();
      }
    }
    const drainMs = performance.now() - drainBegan;
    // A moment more to catch a redelivered duplicate that trails the last first delivery.
    await sleep(Math.min(500, options.drainTimeoutSeconds * 1000));
    // Lost means "written nowhere we read": only when every output record since the snapshot was read.
    const coverage = await reader.coverage();
    const failure = coverage.complete ? undefined : describeShortfall(coverage, reader.lastError);
    return {
      runId,
      http,
      accounting: ledger.summary({ readAll: coverage.complete }),
      drainMs,
      coverage,
      readerReconnects: reader.reconnects,
      ...(failure === undefined ? {} : { readerFailure: failure }),
    };
  } finally {
    await reader?.close();
  }
}

/** One line on what the reader could not read: per topic, records not read, or why the ends are unknown. */
function describeShortfall(coverage: ReadCoverage, lastError: Error | undefined): string {
  const cause = lastError === undefined ? '' : ` (last reader error: ${lastError.message})`;
  if (coverage.partitions === undefined) return `${coverage.reason ?? 'the topics could not be read'}${cause}`;
  const unread = new Map<string, bigint>();
  for (const { topic, read, end } of coverage.partitions) {
    if (read < end) unread.set(topic, (unread.get(topic) ?? 0n) + (end - read));
  }
  const topics = [...unread].map(([topic, count]) => `${topic}: ${count} record(s) not read`).join(', ');
  return `not every output record was read: ${topics}${cause}`;
}
