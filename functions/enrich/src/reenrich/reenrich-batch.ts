/**
 * The re-enricher, one batch of `enriched-logs-partial` at a time: partial is a temporary state. Each record
 * is decided by ./policy.ts (settled, exhausted, unreadable, or due at some time as attempt n + 1); the due
 * ones are rebuilt into the raw record they came from, at its ORIGINAL raw-logs coordinates (the replay's
 * rebuild, ../replay/rebuild.ts: the same event ids come out), or read back whole from raw-logs when the
 * partial cannot be rebuilt (an OTLP one), and enriched again through the enrich use case itself, so the
 * outputs go where enrich's go: complete, partial again (then read here again, one attempt further), or,
 * never expected, dead-lettered.
 *
 * Waiting: one invocation waits at most its budget (REENRICH_MAX_WAIT_MS, on Lambda also the time it has
 * left, less a margin) for its records to come due and, once they are, for the sources to take calls again
 * (`SourceGate`: the PostgreSQL breaker, the source of truth's, not open; a half-open one lets the attempt
 * through as its probe). A
 * record not due within the budget, and every record after it in its partition, is handed back to the event
 * source: the first one per partition as a batch item failure (ReportBatchItemFailures), or, without partial
 * responses, by failing the invocation after doing NOTHING (a batch retried whole must not publish twice:
 * every duplicate attempt would come back as two records, then four). Records are taken per partition in
 * offset order and the partition stops at its first deferred one, so nothing after a handed-back record is
 * processed twice.
 *
 * Accounting, per partial record read: `read = reenriched + settled + exhausted + unreadable + unrecoverable
 * + deferred` (`ReenrichReport`); what the re-enriched ones came to is counted in logs, by enrich's outcome
 * (complete, partial, dead-lettered). Settled, exhausted and unreadable records are left on the partial topic
 * (nothing is removed from a Kafka topic): log lines name each exhausted one by event id.
 *
 * Duplicates: at-least-once, as enrich. A partial met twice in one batch (same raw coordinates and attempt)
 * is enriched once. Downstream, an event_id may be seen as partial and later as complete: the output with
 * the highest attempt wins (README, "Re-enrichment").
 */
import type { Log } from '#shared/log-port.ts';
import { kafkaEventOf } from '../adapters/poller-event.ts';
import type { BatchOutcome, EnrichBatch } from '../enrich-batch.ts';
import { checkRecord, type KafkaBatchResponse, type KafkaEvent, type KafkaEventRecord, MalformedRecord, recordId } from '../kafka-event.ts';
import { type Coordinates, plan, type ReadRecord } from '../replay/rebuild.ts';
import { coordinatesKey } from '../replay/tally.ts';
import { type Decision, decide, type ReenrichPolicy } from './policy.ts';

/** Reads raw records back by their coordinates (adapters/kafka-record-reader.ts). */
export interface RecordReader {
  /** Per coordinatesKey: the record as the event source would deliver it, or why it cannot be had. */
  read(wanted: readonly Coordinates[]): Promise<Map<string, KafkaEventRecord | string>>;
}

/** Whether the metadata sources take calls (reenrich-dependencies.ts: the PostgreSQL breaker not open). */
export interface SourceGate {
  ready(): boolean;
}

/** Counts of one re-enrich batch (records of the partial topic; `complete`, `partial`, `deadLettered` are logs). */
export interface ReenrichReport {
  read: number;
  /** Sent through enrich again. */
  reenriched: number;
  /** Only `not_found` is missing: nothing to wait for. */
  settled: number;
  /** Out of attempts or too old. */
  exhausted: number;
  /** Not a partial of this pipeline. */
  unreadable: number;
  /** Its raw record could not be read back (past raw-logs' retention). */
  unrecoverable: number;
  /** Handed back to the event source (not due within the budget, or the sources still refused calls). */
  deferred: number;
  complete: number;
  partial: number;
  deadLettered: number;
  /** Whether the outputs were published (false: the whole batch comes again). */
  published: boolean;
}

/** The outcomes a read record is counted in, one each: they sum to `read`. */
export const REENRICH_OUTCOMES = ['reenriched', 'settled', 'exhausted', 'unreadable', 'unrecoverable', 'deferred'] as const satisfies readonly (keyof ReenrichReport)[];

export interface ReenrichMetrics {
  reenrich(report: ReenrichReport): void;
}

export interface ReenrichBatchDeps {
  enrichBatch: Pick<EnrichBatch, 'enrich'>;
  reader: RecordReader;
  gate: SourceGate;
  metrics: ReenrichMetrics;
  log: Log;
  policy: ReenrichPolicy;
  /** Longest wait of one invocation (REENRICH_MAX_WAIT_MS). */
  maxWaitMs: number;
  /** The event source takes partial batch responses (ReportBatchItemFailures). */
  reportBatchItemFailures: boolean;
  /** Wall clock, epoch ms (due times are wall-clock times written by other instances); injectable for tests. */
  clock?: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts; injectable for tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface ReenrichOptions {
  /** What the invocation has left (Lambda's getRemainingTimeInMillis), less a margin; bounds the wait. */
  budgetMs?: number;
}

/** How often the gate is looked at while the sources refuse calls. */
const GATE_POLL_MS = 250;

/** One due record. */
interface Due {
  record: KafkaEventRecord;
  decision: Extract<Decision, { kind: 'due' }>;
}

/** One partition of the batch: its records decided up to its cut (the offset from which it is handed back). */
interface Taken {
  partitionKey: string;
  total: number;
  decided: { record: KafkaEventRecord | MalformedRecord; decision: Decision }[];
  cut: number | undefined;
}

export class ReenrichBatch {
  readonly #deps: ReenrichBatchDeps;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #stopping = new AbortController();

  constructor(deps: ReenrichBatchDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? Date.now;
    this.#sleep = deps.sleep ?? sleep;
  }

  /** Ends every wait at once (shutdown): what is waiting is handed back to the event source. */
  stop(): void {
    this.#stopping.abort();
  }

  /**
   * @returns `{ batchItemFailures }` with partial batch responses (the first deferred record per partition;
   *   every record when the outputs could not be published), else undefined
   * @throws Error when something is deferred or could not be published and partial responses are off
   * @example
   * await reenrich.handle(partialTopicEvent, { budgetMs: context.getRemainingTimeInMillis() - 10_000 });
   */
  async handle(event: KafkaEvent, options: ReenrichOptions = {}): Promise<KafkaBatchResponse | undefined> {
    const { policy, log, reportBatchItemFailures } = this.#deps;
    const started = this.#clock();
    const deadline = started + Math.max(0, Math.min(this.#deps.maxWaitMs, options.budgetMs ?? Number.POSITIVE_INFINITY));
    const signal = this.#stopping.signal;

    // 1. Every record decided, per partition in offset order; a partition is cut at its first record not due
    //    within the budget (it and those after it are handed back).
    const partitions: Taken[] = [];
    let latest = Number.NEGATIVE_INFINITY;
    for (const partitionKey in event.records) {
      const entries = event.records[partitionKey] ?? [];
      const taken: Taken = { partitionKey, total: entries.length, decided: [], cut: undefined };
      partitions.push(taken);
      for (const entry of entries) {
        const record = checkRecord(entry, partitionKey);
        const decision: Decision = record instanceof MalformedRecord ? { kind: 'unreadable', why: 'malformed record' } : decide(readRecordOf(record), started, policy);
        if (decision.kind === 'due' && decision.dueAt > deadline) {
          taken.cut = (record as KafkaEventRecord).offset;
          break;
        }
        if (decision.kind === 'due') latest = Math.max(latest, decision.dueAt);
        taken.decided.push({ record, decision });
      }
    }

    // 2. Wait for the latest due record, then for the sources; if they still refuse calls, every partition
    //    is cut at its first due record instead (nothing is tried).
    const anyDue = latest > Number.NEGATIVE_INFINITY;
    if (anyDue) {
      if (latest > this.#clock()) await this.#sleep(latest - this.#clock(), signal);
      while (!this.#deps.gate.ready() && this.#clock() < deadline && !signal.aborted) await this.#sleep(Math.min(GATE_POLL_MS, deadline - this.#clock()), signal);
      if (signal.aborted || !this.#deps.gate.ready() || this.#clock() < latest) {
        for (const taken of partitions) {
          const first = taken.decided.findIndex((each) => each.decision.kind === 'due');
          const record = taken.decided[first]?.record;
          if (record === undefined) continue;
          taken.cut = (record as KafkaEventRecord).offset;
          taken.decided.length = first;
        }
      }
    }
    // Without partial responses a handed-back record fails the invocation, and the batch comes again whole:
    // nothing of it may be published now (module comment), so all of it is handed back.
    const cut = partitions.some((taken) => taken.cut !== undefined);
    /**
     * Before anything is handed back, the invocation waits out its budget (what was cut is due after it):
     * handed back at once, it would come again at once, an invocation per retry for as long as the backoff
     * lasts.
     */
    const waitBeforeHandingBack = async () => {
      if (!signal.aborted && deadline > this.#clock()) await this.#sleep(deadline - this.#clock(), signal);
    };
    if (cut && !reportBatchItemFailures) {
      await waitBeforeHandingBack();
      const report = emptyReport();
      report.read = report.deferred = partitions.reduce((sum, taken) => sum + taken.total, 0);
      this.#deps.metrics.reenrich(report);
      log.info('partial batch handed back: not due within the wait, or the sources refuse calls', { ...report });
      throw new Error(`${report.deferred} partial records are not due within the wait or their sources refuse calls: the batch is handed back`);
    }

    // 3. What is before the cuts is counted, and the due records are enriched again.
    const report = emptyReport();
    const due: Due[] = [];
    for (const taken of partitions) {
      report.read += taken.total;
      report.deferred += taken.total - taken.decided.length;
      for (const { record, decision } of taken.decided) {
        if (decision.kind === 'due') due.push({ record: record as KafkaEventRecord, decision });
        else if (decision.kind === 'settled') report.settled++;
        else if (decision.kind === 'unreadable') {
          report.unreadable++;
          log.warn('partial record not re-enriched: unreadable', { record: recordId(record instanceof MalformedRecord ? record.source : record), why: decision.why });
        } else {
          report.exhausted++;
          log.warn('partial log left: out of re-enrichment', { eventIds: decision.facts.eventIds.slice(0, 10), attempt: decision.facts.attempt, why: decision.why });
        }
      }
    }
    if (due.length > 0) {
      try {
        await this.#reenrich(due, report, event.bootstrapServers ?? '');
      } catch (error) {
        report.published = false;
        this.#deps.metrics.reenrich(report);
        log.error('could not re-enrich the batch (a raw record could not be read back, or the outputs not published); it will be redelivered', { error });
        if (!reportBatchItemFailures) throw error;
        return { batchItemFailures: firstOfEachPartition(event) };
      }
    }
    if (cut) await waitBeforeHandingBack();
    this.#deps.metrics.reenrich(report);
    log.info('partial batch re-enriched', { ...report });
    if (!reportBatchItemFailures) return undefined;
    const items = partitions.flatMap((taken) => (taken.cut === undefined ? [] : [{ itemIdentifier: { partition: taken.partitionKey, offset: taken.cut } }]));
    return { batchItemFailures: items };
  }

  /**
   * The due records rebuilt (or read back) and enriched again in ONE enrich call (one publish: a batch is
   * never half published, then redelivered and published again), each at its next attempt; of a record
   * read back whole (an OTLP request), only the logs the partials are about.
   *
   * @throws when a record cannot be read back for a reason that may pass (the batch is handed back)
   */
  async #reenrich(due: readonly Due[], report: ReenrichReport, bootstrapServers: string): Promise<void> {
    /** By raw coordinates: the record to send (undefined until read back), its attempt, the logs wanted (all: undefined). */
    const records = new Map<string, { record: KafkaEventRecord | undefined; source: Coordinates; attempt: number; logs: Set<number> | undefined }>();
    const take = (source: Coordinates, record: KafkaEventRecord | undefined, attempt: number, index: number | undefined) => {
      const key = coordinatesKey(source);
      const known = records.get(key);
      if (known === undefined) {
        records.set(key, { record, source, attempt, logs: index === undefined ? undefined : new Set([index]) });
        return;
      }
      // One raw record met through several partials: the highest attempt, and every log they name.
      known.attempt = Math.max(known.attempt, attempt);
      if (index === undefined) known.logs = undefined;
      else known.logs?.add(index);
    };
    for (const { record, decision } of due) {
      let sent = false;
      for (const step of plan('partial', readRecordOf(record), [])) {
        if (step.kind === 'replay') take(step.record, step.record, decision.next, undefined);
        else if (step.kind === 'reread') take(step.source, undefined, decision.next, step.index);
        else continue;
        sent = true;
      }
      // Its facts read, but nothing to send (an OTLP partial without its source coordinates): unreadable.
      if (sent) report.reenriched++;
      else {
        report.unreadable++;
        this.#deps.log.warn('partial record not re-enriched: its raw record cannot be rebuilt', { record: recordId(record), eventIds: decision.facts.eventIds.slice(0, 10) });
      }
    }
    const rereads = [...records.values()].filter((each) => each.record === undefined);
    if (rereads.length > 0) {
      const found = await this.#deps.reader.read(rereads.map((each) => each.source));
      for (const each of rereads) {
        const result = found.get(coordinatesKey(each.source));
        if (result === undefined || typeof result === 'string') {
          records.delete(coordinatesKey(each.source));
          report.reenriched--;
          report.unrecoverable++;
          this.#deps.log.warn('partial log not re-enriched: its raw record cannot be read back', { source: coordinatesKey(each.source), why: result ?? 'not read' });
        } else each.record = result;
      }
    }
    if (records.size === 0) return;
    const attempts = new Map<string, number>();
    const logs = new Map<string, ReadonlySet<number>>();
    for (const [key, each] of records) {
      attempts.set(key, each.attempt);
      if (each.logs !== undefined) logs.set(key, each.logs);
    }
    const event = kafkaEventOf(
      [...records.values()].map((each) => each.record as KafkaEventRecord),
      bootstrapServers,
    );
    const outcome: BatchOutcome = await this.#deps.enrichBatch.enrich(event, {
      attemptOf: (record) => attempts.get(coordinatesKey(record)),
      logsOf: (record) => logs.get(coordinatesKey(record)),
    });
    report.complete += outcome.complete;
    report.partial += outcome.partial;
    report.deadLettered += outcome.deadLettered;
  }
}


/** A record of the event as the rebuild reads one: value bytes and headers in order. */
export function readRecordOf(record: KafkaEventRecord): ReadRecord {
  const headers: [string, Buffer | undefined][] = [];
  for (const entry of record.headers ?? []) {
    for (const name in entry) {
      const bytes = entry[name];
      headers.push([name, bytes === undefined || bytes === null ? undefined : Buffer.from(bytes)]);
    }
  }
  return { value: record.value === undefined || record.value === null ? null : Buffer.from(record.value, 'base64'), headers };
}

function emptyReport(): ReenrichReport {
  return { read: 0, reenriched: 0, settled: 0, exhausted: 0, unreadable: 0, unrecoverable: 0, deferred: 0, complete: 0, partial: 0, deadLettered: 0, published: true };
}

/** Every partition from its first record: a failed publish promises nothing about what was stored. */
function firstOfEachPartition(event: KafkaEvent): KafkaBatchResponse['batchItemFailures'] {
  const items: KafkaBatchResponse['batchItemFailures'] = [];
  for (const partition in event.records) {
    const first = event.records[partition]?.[0] as { offset?: unknown } | undefined;
    if (typeof first?.offset === 'number') items.push({ itemIdentifier: { partition, offset: first.offset } });
  }
  return items;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
