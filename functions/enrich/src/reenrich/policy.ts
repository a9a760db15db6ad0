/**
 * What the re-enricher does with one record of `enriched-logs-partial` (no I/O): read what it needs from the
 * record (which attempt it was, when it was made, why its fields are missing, when its log was received),
 * then decide.
 *
 * - settled: no field is missing for a reason that time can mend (`unavailable`: no source answered;
 *   `stale`: an expired value was shown because the sources were down). Only `not_found` (the metadata has
 *   no such host or service) is left: nothing to wait for. It stays on the partial topic; once the metadata
 *   exists, `npm run replay -- --from partial --where missing=not_found` enriches it again.
 * - exhausted: it has had its attempts (REENRICH_MAX_ATTEMPTS, enrich's own pass is attempt 1), or its log
 *   was received longer ago than REENRICH_MAX_AGE_MS. Counted and left on the partial topic, never looped.
 * - due: to be enriched again at `dueAt` = its enriched_at + the backoff after its attempt
 *   (REENRICH_BACKOFF_MS × 2^(attempt−1), at most REENRICH_BACKOFF_MAX_MS), as attempt + 1.
 * - unreadable: not a partial output of this pipeline (counted, left).
 *
 * The attempt comes from the `enrichment-attempt` header (every encoding, v1 too), else the event's
 * `enrichment.attempt` (v2 JSON) or the log record's attribute (OTLP); absent, it is 1. A partial written
 * as OTLP holds one or more logs of one raw record: their reasons are taken together.
 */
import { ATTEMPT_HEADER } from '../enrich-batch.ts';
import type { MissingReason } from '../enriched-log.ts';
import { kvlist, otlpRequestOf, type ReadRecord, scalar } from '../replay/rebuild.ts';

export interface ReenrichPolicy {
  maxAttempts: number;
  maxAgeMs: number;
  backoffMs: number;
  backoffMaxMs: number;
}

/** What a partial record says about itself. */
export interface PartialFacts {
  attempt: number;
  /** Epoch ms of the attempt that made it; NaN when it does not say. */
  enrichedAt: number;
  /** Epoch ms its log was received; NaN when it does not say. */
  receivedAt: number;
  reasons: ReadonlySet<MissingReason>;
  /** Its logs' event ids (one for our JSON; an OTLP partial's `log.record.uid`s), for log lines. */
  eventIds: readonly string[];
}

export type Decision =
  | { kind: 'due'; facts: PartialFacts; dueAt: number; next: number }
  | { kind: 'settled'; facts: PartialFacts }
  | { kind: 'exhausted'; facts: PartialFacts; why: 'attempts' | 'age' }
  | { kind: 'unreadable'; why: string };

export const UNREADABLE = {
  notJson: 'not JSON',
  notPartial: 'not a partial event of this pipeline',
  otlpUnreadable: 'OTLP partial without its enrichment attributes',
} as const;

/** Reasons a later attempt can mend. */
const MENDABLE: ReadonlySet<string> = new Set<MissingReason>(['unavailable', 'stale']);
const REASONS: ReadonlySet<string> = new Set<MissingReason>(['not_found', 'unavailable', 'stale']);

/**
 * The wait after attempt `attempt` before the next: doubling from `backoffMs`, at most `backoffMaxMs`.
 *
 * @example
 * backoffAfter(3, { backoffMs: 1000, backoffMaxMs: 600_000 }); // 4000
 */
export function backoffAfter(attempt: number, policy: Pick<ReenrichPolicy, 'backoffMs' | 'backoffMaxMs'>): number {
  // 2^30 × any positive backoff is past every sensible maximum: no overflow to Infinity on a large attempt.
  return Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

/**
 * @param now epoch ms (the age is measured to it)
 * @example
 * decide(partialRecord, Date.now(), { maxAttempts: 25, maxAgeMs: 86_400_000, backoffMs: 1000, backoffMaxMs: 600_000 });
 * // { kind: 'due', dueAt: …, next: 2, facts } for a first partial whose host lookup was unavailable
 */
export function decide(message: ReadRecord, now: number, policy: ReenrichPolicy): Decision {
  const facts = factsOf(message);
  if (typeof facts === 'string') return { kind: 'unreadable', why: facts };
  if (![...facts.reasons].some((reason) => MENDABLE.has(reason))) return { kind: 'settled', facts };
  if (facts.attempt >= policy.maxAttempts) return { kind: 'exhausted', facts, why: 'attempts' };
  const received = Number.isFinite(facts.receivedAt) ? facts.receivedAt : facts.enrichedAt;
  if (Number.isFinite(received) && now - received > policy.maxAgeMs) return { kind: 'exhausted', facts, why: 'age' };
  // A partial that does not say when it was made is due at once (its backoff cannot be measured); one made
  // "in the future" (its writer's clock ahead of ours) is taken as made now, so it waits one backoff, not
  // its writer's skew on top (hours, holding its partition).
  const dueAt = Number.isFinite(facts.enrichedAt) ? Math.min(facts.enrichedAt, now) + backoffAfter(facts.attempt, policy) : now;
  return { kind: 'due', facts, dueAt, next: facts.attempt + 1 };
}

/** The facts of a partial (our JSON or OTLP), or why it has none. */
export function factsOf(message: ReadRecord): PartialFacts | string {
  const headerAttempt = attemptOf(header(message, ATTEMPT_HEADER)?.toString('latin1'));
  const request = otlpRequestOf(message);
  if (request !== undefined) {
    const reasons = new Set<MissingReason>();
    const eventIds: string[] = [];
    let attempt: number | undefined;
    let enrichedAt = Number.NaN;
    let receivedAt = Number.NaN;
    let logs = 0;
    for (const resourceLogs of request.resourceLogs) {
      const resource = resourceLogs.resource?.attributes ?? [];
      for (const scopeLogs of resourceLogs.scopeLogs) {
        for (const record of scopeLogs.logRecords) {
          const attribute = (key: string) => record.attributes.find((each) => each.key === key)?.value ?? resource.find((each) => each.key === key)?.value;
          const enriched = scalar(attribute('enrichment.enriched_at'));
          if (typeof enriched !== 'string') continue;
          logs++;
          for (const reason of Object.values(kvlist(attribute('enrichment.missing')))) if (typeof reason === 'string' && REASONS.has(reason)) reasons.add(reason as MissingReason);
          const uid = scalar(attribute('log.record.uid'));
          if (typeof uid === 'string') eventIds.push(uid);
          attempt ??= attemptOf(scalar(attribute('enrichment.attempt')));
          // One attempt wrote them all (one time); the earliest, should they differ.
          enrichedAt = Number.isNaN(enrichedAt) ? Date.parse(enriched) : Math.min(enrichedAt, Date.parse(enriched));
          const received = scalar(attribute('enrichment.received_at'));
          if (typeof received === 'string') receivedAt = Number.isNaN(receivedAt) ? Date.parse(received) : Math.min(receivedAt, Date.parse(received));
        }
      }
    }
    if (logs === 0) return UNREADABLE.otlpUnreadable;
    return { attempt: headerAttempt ?? attempt ?? 1, enrichedAt, receivedAt, reasons, eventIds };
  }
  let event: unknown;
  try {
    event = message.value === null || message.value === undefined ? undefined : JSON.parse(message.value.toString('utf8'));
  } catch {
    return UNREADABLE.notJson;
  }
  const enrichment = objectOf(objectOf(event)?.enrichment);
  const missing = objectOf(enrichment?.missing);
  if (enrichment === undefined || missing === undefined || typeof enrichment.enriched_at !== 'string') return UNREADABLE.notPartial;
  const reasons = new Set<MissingReason>();
  for (const reason of Object.values(missing)) if (typeof reason === 'string' && REASONS.has(reason)) reasons.add(reason as MissingReason);
  const { event_id: eventId, received_at: received } = event as Record<string, unknown>;
  return {
    attempt: headerAttempt ?? attemptOf(enrichment.attempt) ?? 1,
    enrichedAt: Date.parse(enrichment.enriched_at),
    receivedAt: typeof received === 'string' ? Date.parse(received) : Number.NaN,
    reasons,
    eventIds: typeof eventId === 'string' ? [eventId] : [],
  };
}

/** A positive integer attempt, from a header's text or a value; undefined for anything else. */
function attemptOf(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 1 ? number : undefined;
}

function header(message: ReadRecord, name: string): Buffer | undefined {
  for (const [key, value] of message.headers) if (key.toLowerCase() === name) return value;
  return undefined;
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
