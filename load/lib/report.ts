/**
 * The printed result of a load run. Pure: report in, lines out.
 */
import { errorCount } from './http-driver.ts';
import { summarize } from './percentile.ts';
import type { LoadReport } from './run.ts';

const ms = (value: number) => (Number.isFinite(value) ? `${value < 10 ? value.toFixed(1) : Math.round(value)} ms` : '-');

export function formatReport(report: LoadReport): string[] {
  const { http } = report;
  const seconds = http.elapsedMs / 1000;
  const latency = summarize(http.latenciesMs);
  const statuses = [...http.statuses].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status}: ${count}`);
  const lines = [
    '',
    `HTTP (${report.runId})`,
    `  sent              ${http.logsOffered} of ${http.logsPlanned} planned logs in ${http.requestsSent} requests over ${seconds.toFixed(1)} s`,
    `  accepted          ${http.logsAccepted} logs = ${Math.round(http.logsAccepted / seconds)} logs/s` +
      (http.logsRejected > 0 ? ` (${http.logsRejected} rejected by validation)` : ''),
    `  latency           p50 ${ms(latency.p50)}  p95 ${ms(latency.p95)}  p99 ${ms(latency.p99)}  max ${ms(latency.max)}` +
      '  (from each request’s scheduled start)',
    `  responses         ${statuses.join(', ') || 'none'}`,
    // A refused request's latency is how long a client waited to hear "try later": bounded, it should be.
    ...[...http.latenciesByStatusMs]
      .filter(([status]) => status !== '202')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, latencies]) => {
        const byStatus = summarize(latencies);
        return `  ${`${status} latency`.padEnd(18)}p50 ${ms(byStatus.p50)}  p99 ${ms(byStatus.p99)}  max ${ms(byStatus.max)}`;
      }),
    `  errors            ${errorCount(http.statuses)}`,
    `  dropped           ${http.dropped} (client overload: in-flight cap reached, never sent)`,
  ];
  if (report.accounting === undefined) {
    lines.push('', `end-to-end accounting skipped: ${report.accountingSkipped ?? 'no Kafka access'}`);
    return lines;
  }
  const a = report.accounting;
  const e2e = summarize(a.acceptedToOutputMs);
  const pipeline = summarize(a.receivedToEnrichedMs);
  lines.push(
    '',
    'end to end (output topics read from offsets snapshotted before the run)',
    `  accepted          ${a.accepted}`,
    `  complete          ${a.complete}`,
    `  partial           ${a.partial}`,
    `  dead-letter       ${a.deadLetter}`,
    `  lost              ${a.lost}${a.lost > 0 ? `  e.g. ${a.lostSample.slice(0, 3).join(', ')}` : ''}` +
      `  (after waiting ${((report.drainMs ?? 0) / 1000).toFixed(1)} s for the drain)`,
    ...(a.unknown > 0 || report.readerFailure !== undefined
      ? [`  unknown           ${a.unknown}  (not seen, but not every output record could be read: they may be there)`]
      : []),
    `  duplicates        ${a.duplicates}`,
    `  latency           p50 ${ms(e2e.p50)}  p99 ${ms(e2e.p99)}  max ${ms(e2e.max)}` +
      '  (202 received by this client → output record timestamp)',
    `  pipeline latency  p50 ${ms(pipeline.p50)}  p99 ${ms(pipeline.p99)}  (received_at → enriched_at, both server clocks)`,
  );
  if (a.foreign > 0) lines.push(`  ignored           ${a.foreign} output records of other traffic on the same topics`);
  if ((report.readerReconnects ?? 0) > 0) {
    lines.push(`  reader            reconnected ${report.readerReconnects} time(s) (the broker went away during the run)`);
  }
  if (report.readerFailure !== undefined) {
    lines.push(`  WARNING           ${report.readerFailure}: counts are incomplete, unseen logs are unknown, not lost`);
    for (const partition of report.coverage?.partitions ?? []) {
      if (partition.read >= partition.end) continue;
      lines.push(`    ${partition.topic}[${partition.partition}] read up to offset ${partition.read} of end ${partition.end}`);
    }
  }
  return lines;
}
