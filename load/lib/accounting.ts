/**
 * End-to-end accounting of a load run: every event id that ingest accepted (202) must come out of the
 * pipeline on `enriched-logs-complete`, `enriched-logs-partial` or `raw-logs-dlq`. Pure: the caller feeds
 * accepted ids and output records; the ledger classifies them.
 *
 * An id not seen is **lost** only when every record written to the output topics was read: if the reader
 * could not read some (a broker that did not come back, ends that could not be asked), the id may be in
 * what was not read, and it is **unknown**, never lost.
 */

export type Outcome = 'complete' | 'partial' | 'deadLetter';

/** One record read from an output topic, reduced to what accounting needs. */
export interface OutputObservation {
  outcome: Outcome;
  /** `undefined` when the value carried no event id (a dead letter for an undecodable value). */
  eventId: string | undefined;
  /** Kafka record timestamp (the enricher's producer create time), epoch ms. */
  recordTimestampMs: number;
  /** `received_at` → `enrichment.enriched_at`, both written by the pipeline; `undefined` on dead letters. */
  pipelineLatencyMs: number | undefined;
}

export interface AccountingSummary {
  accepted: number;
  complete: number;
  partial: number;
  deadLetter: number;
  /** Accepted ids never seen on any output topic, although every output record was read. */
  lost: number;
  /** Accepted ids not seen while some output records could not be read: they may be among those. */
  unknown: number;
  /** Output records beyond the first for one of our ids (at-least-once redelivery), on any output topic. */
  duplicates: number;
  /** Output records whose id this run did not accept (other traffic on shared topics): ignored. */
  foreign: number;
  /** Client clock at the 202 → output record timestamp, ms, one per accepted id that came out. */
  acceptedToOutputMs: number[];
  /** `received_at` → `enriched_at` as written by the pipeline, ms, one per enriched id that came out. */
  receivedToEnrichedMs: number[];
  /** Up to 10 lost ids, to look for in the logs. */
  lostSample: string[];
  /** Up to 10 unknown ids. */
  unknownSample: string[];
}

export interface SummaryOptions {
  /**
   * Whether every record written to the output topics since the run began was read (the reader's
   * coverage). Default true; false turns ids not seen from lost into unknown.
   */
  readAll?: boolean;
}

/**
 * @example
 * const ledger = new Ledger();
 * ledger.accept(['id-1'], Date.now());
 * ledger.observe({ outcome: 'complete', eventId: 'id-1', recordTimestampMs: Date.now(), pipelineLatencyMs: 3 });
 * ledger.pending; // 0
 */
export class Ledger {
  readonly #acceptedAt = new Map<string, number>();
  /** First output seen per id, and how many outputs in all. Output may be read before the 202 that
   * accepted it reaches the client (the read runs concurrently), so ids are settled only in `summary`. */
  readonly #seen = new Map<string, { first: OutputObservation; times: number }>();
  #withoutId = 0;

  /** Records ids answered 202 at `acceptedAtMs` (client clock, epoch ms). */
  accept(eventIds: readonly string[], acceptedAtMs: number): void {
    for (const id of eventIds) if (!this.#acceptedAt.has(id)) this.#acceptedAt.set(id, acceptedAtMs);
  }

  observe(observation: OutputObservation): void {
    const { eventId } = observation;
    if (eventId === undefined) {
      this.#withoutId += 1;
      return;
    }
    const entry = this.#seen.get(eventId);
    if (entry === undefined) this.#seen.set(eventId, { first: observation, times: 1 });
    else entry.times += 1;
  }

  get accepted(): number {
    return this.#acceptedAt.size;
  }

  /** Accepted ids not yet seen on any output. */
  get pending(): number {
    let pending = 0;
    for (const id of this.#acceptedAt.keys()) if (!this.#seen.has(id)) pending += 1;
    return pending;
  }

  summary(options: SummaryOptions = {}): AccountingSummary {
    const readAll = options.readAll ?? true;
    const counts: Record<Outcome, number> = { complete: 0, partial: 0, deadLetter: 0 };
    const acceptedToOutputMs: number[] = [];
    const receivedToEnrichedMs: number[] = [];
    let duplicates = 0;
    let foreign = this.#withoutId;
    for (const [id, { first, times }] of this.#seen) {
      const acceptedAt = this.#acceptedAt.get(id);
      if (acceptedAt === undefined) {
        foreign += times;
        continue;
      }
      counts[first.outcome] += 1;
      duplicates += times - 1;
      acceptedToOutputMs.push(first.recordTimestampMs - acceptedAt);
      if (first.pipelineLatencyMs !== undefined) receivedToEnrichedMs.push(first.pipelineLatencyMs);
    }
    const unseen: string[] = [];
    for (const id of this.#acceptedAt.keys()) if (!this.#seen.has(id)) unseen.push(id);
    const lostIds = readAll ? unseen : [];
    const unknownIds = readAll ? [] : unseen;
    return {
      accepted: this.#acceptedAt.size,
      ...counts,
      lost: lostIds.length,
      unknown: unknownIds.length,
      duplicates,
      foreign,
      acceptedToOutputMs,
      receivedToEnrichedMs,
      lostSample: lostIds.slice(0, 10),
      unknownSample: unknownIds.slice(0, 10),
    };
  }
}

/**
 * Reads the event id and pipeline latency from an output value. Enriched records are the raw record plus
 * an `enrichment` object (`enriched_at`); dead letters carry `event_id` (null when the value could not be
 * decoded) and the original bytes base64-encoded in `original.value`, which is tried when `event_id` is null.
 *
 * @example
 * observationFrom('complete', Buffer.from('{"event_id":"…","received_at":"…","enrichment":{"enriched_at":"…"}}'), 1700000000000);
 */
export function observationFrom(outcome: Outcome, value: Buffer | string, recordTimestampMs: number): OutputObservation {
  const parsed = parseObject(typeof value === 'string' ? value : value.toString('utf8'));
  let eventId = stringField(parsed, 'event_id');
  if (eventId === undefined && outcome === 'deadLetter') {
    const original = parsed?.original;
    const originalValue = isObject(original) ? stringField(original, 'value') : undefined;
    if (originalValue !== undefined) {
      eventId = stringField(parseObject(Buffer.from(originalValue, 'base64').toString('utf8')), 'event_id');
    }
  }
  let pipelineLatencyMs: number | undefined;
  const receivedAt = Date.parse(stringField(parsed, 'received_at') ?? '');
  const enrichment = parsed?.enrichment;
  const enrichedAt = Date.parse((isObject(enrichment) ? stringField(enrichment, 'enriched_at') : undefined) ?? '');
  if (Number.isFinite(receivedAt) && Number.isFinite(enrichedAt)) pipelineLatencyMs = enrichedAt - receivedAt;
  return { outcome, eventId, recordTimestampMs, pipelineLatencyMs };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringField(object: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = object?.[key];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
