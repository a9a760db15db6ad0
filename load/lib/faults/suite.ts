/**
 * Runs one fault in the middle of a load run and turns what happened into a row of the fault table.
 *
 * Time to recover: from the moment the fault was cleared (the service answers again) until both ingest
 * accepted a log again and every log accepted before that moment had come out of the pipeline (the fault's
 * backlog drained). It is "unknown" when the run saw no 202 after the clear or not every output could be
 * read: never a number nobody measured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import type { MixCatalog } from '../mix.ts';
import { runLoad } from '../run.ts';
import type { Fault, FaultRun, Finding } from './faults.ts';
import { FAULT_TOPICS, type Lab, runnerHealth, waitFor } from './lab.ts';

export interface FaultSettings {
  rate: number;
  durationSeconds: number;
  /** Seconds into the load run when the fault is injected. */
  injectAtSeconds: number;
  /** Seconds the fault lasts before it is cleared. */
  holdSeconds: number;
  drainTimeoutSeconds: number;
}

export interface FaultRow {
  fault: string;
  accepted: number;
  complete: number;
  partial: number;
  deadLetter: number;
  /** Accepted logs not seen on any output; "unknown" when the outputs could not all be read. */
  lost: number | 'unknown';
  duplicates: number;
  /** Milliseconds from clearing the fault to the first complete output of a log received after it. */
  recoveredMs: number | undefined;
  /** Ingest answers other than 202, by status (503s during a broker outage are expected, not lost). */
  refused: number;
  findings: Finding[];
  /** Why the row could not be measured at all (the fault or the load run threw). */
  error?: string;
}

/** A row passes when nothing was lost (as far as could be read) and every finding holds. */
export function rowPasses(row: FaultRow): boolean {
  return row.error === undefined && row.lost === 0 && row.accepted > 0 && row.findings.every((finding) => finding.ok);
}

export async function runFault(lab: Lab, fault: Fault, settings: FaultSettings, catalog: MixCatalog, log: (line: string) => void): Promise<FaultRow> {
  const run: FaultRun = { lab, log, outputs: [] };
  const acceptedAt = new Map<string, number>();
  log('');
  log(`── ${fault.name}: ${fault.what}`);
  let clearedAt: number | undefined;
  try {
    await fault.prepare?.(run);
    const kafka = readConfig(kafkaEnv, { KAFKA_BROKERS: lab.broker.bootstrap });
    const load = runLoad({
      url: lab.ingestUrl,
      rate: settings.rate,
      durationSeconds: settings.durationSeconds + (fault.extraLoadSeconds ?? 0),
      batch: 1,
      maxInFlight: 256,
      drainTimeoutSeconds: settings.drainTimeoutSeconds,
      catalog,
      kafka: { connection: await connectionOptions(kafka, 'faults'), topics: FAULT_TOPICS },
      log: (line) => {
        if (line.startsWith('draining')) log(`   ${line}`);
      },
      onOutput: (outcome, value, timestampMs) => run.outputs.push({ outcome, value, timestampMs }),
      onAccepted: (ids, at) => {
        for (const id of ids) if (!acceptedAt.has(id)) acceptedAt.set(id, at);
      },
    });
    // What the healthy runner's breakers went through from the injection to the end of the drain: shows
    // which faults the pipeline noticed and which a cache tier absorbed.
    const breakersSeen = new Map<string, Set<string>>();
    let sampling = false;
    const sampler = async () => {
      while (sampling) {
        for (const breaker of (await runnerHealth(lab.healthUrl))?.breakers ?? []) {
          const states = breakersSeen.get(breaker.name) ?? new Set<string>();
          states.add(breaker.state);
          breakersSeen.set(breaker.name, states);
        }
        await sleep(250);
      }
    };
    let sampled: Promise<void> | undefined;
    // The timeline runs beside the load; a failure in it must not leave the load's promise unobserved.
    const timeline = (async () => {
      await sleep(settings.injectAtSeconds * 1000);
      log(`   t=${settings.injectAtSeconds}s inject`);
      sampling = true;
      sampled = sampler();
      await fault.inject(run);
      await sleep(settings.holdSeconds * 1000);
      const clearing = Date.now();
      await fault.clear(run);
      clearedAt = Date.now();
      log(`   cleared (took ${((clearedAt - clearing) / 1000).toFixed(1)} s to answer again)`);
    })();
    const [report] = await Promise.all([load, timeline]).finally(() => {
      sampling = false;
    });
    await sampled;
    await fault.cleanup?.(run);
    const accounting = report.accounting;
    const refused = [...report.http.statuses].filter(([status]) => status !== '202').reduce((sum, [, count]) => sum + count, 0);
    const unread = report.readerFailure !== undefined || accounting === undefined;
    return {
      fault: fault.name,
      accepted: report.http.logsAccepted,
      complete: accounting?.complete ?? 0,
      partial: accounting?.partial ?? 0,
      deadLetter: accounting?.deadLetter ?? 0,
      lost: unread ? 'unknown' : accounting.lost,
      duplicates: accounting?.duplicates ?? 0,
      recoveredMs: clearedAt === undefined || unread || accounting.lost > 0 ? undefined : recovery(run, acceptedAt, clearedAt),
      refused,
      findings: [
        ...(refused === 0 ? [] : [{ ok: true, text: `ingest answered ${statusSummary(report.http.statuses)}` }]),
        ...(report.readerFailure === undefined ? [] : [{ ok: false, text: `output reader: ${report.readerFailure}` }]),
        ...(fault.findings?.(run) ?? []),
        { ok: true, text: `healthy runner's breakers: ${describeBreakers(breakersSeen)}` },
      ],
    };
  } catch (error) {
    await fault.cleanup?.(run).catch(() => undefined);
    return {
      fault: fault.name,
      accepted: 0,
      complete: 0,
      partial: 0,
      deadLetter: 0,
      lost: 'unknown',
      duplicates: 0,
      recoveredMs: undefined,
      refused: 0,
      findings: [],
      error: `${error instanceof Error ? error.message : String(error)}\n--- pipeline output ---\n${lab.pipelineTail()}`,
    };
  }
}

/** Between faults: the healthy runner's breakers closed again, so one fault's tail is not the next one's. */
export async function settle(lab: Lab, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    const health = await runnerHealth(lab.healthUrl);
    return health?.breakers.every((breaker) => breaker.state === 'closed') === true;
  }, timeoutMs);
}

function recovery(run: FaultRun, acceptedAt: ReadonlyMap<string, number>, clearedAt: number): number | undefined {
  let acceptingAgain: number | undefined;
  for (const at of acceptedAt.values()) if (at >= clearedAt && (acceptingAgain === undefined || at < acceptingAgain)) acceptingAgain = at;
  if (acceptingAgain === undefined) return undefined;
  let backlogDrained = clearedAt;
  for (const output of run.outputs) {
    const id = eventIdOf(output.value);
    const at = id === undefined ? undefined : acceptedAt.get(id);
    if (at !== undefined && at < clearedAt && output.timestampMs > backlogDrained) backlogDrained = output.timestampMs;
  }
  return Math.max(acceptingAgain, backlogDrained) - clearedAt;
}

function eventIdOf(value: Buffer): string | undefined {
  try {
    const id = (JSON.parse(value.toString('utf8')) as { event_id?: unknown }).event_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function describeBreakers(seen: ReadonlyMap<string, ReadonlySet<string>>): string {
  if (seen.size === 0) return 'unknown (its /health did not answer)';
  return [...seen].map(([name, states]) => `${name} ${[...states].join('/')}`).join(', ');
}

function statusSummary(statuses: ReadonlyMap<string, number>): string {
  return [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status} × ${count}`).join(', ');
}
