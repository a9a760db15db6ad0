/**
 * The JSON the local dashboard page reads (GET /api/dashboard, polled every second) and the preview API
 * (POST /api/enrich/preview), both served by the enrich runner's health server (scripts/local/event-source/
 * health.ts) under `npm start`. One file of types, shared by the server side (telemetry.ts, preview.ts) and
 * the page (page/main.ts), so the two cannot drift apart. Times are epoch milliseconds; a value nobody
 * measured is `null` ("unknown"), never 0.
 */

export type BreakerState = 'closed' | 'halfOpen' | 'open';

/** One sample per `intervalMs`, oldest first; every series has `t.length` entries. */
export interface DashboardSeries {
  /** Sample times (epoch ms). */
  t: number[];
  /** Logs per second over the interval, by outcome (enrich's own runner). */
  complete: (number | null)[];
  partial: (number | null)[];
  deadLettered: (number | null)[];
  /** Logs per second ingest accepted / rejected; null when ingest does not run in this process. */
  ingestAccepted: (number | null)[];
  ingestRejected: (number | null)[];
  /** Enrichment latency (batch start → outputs acknowledged), ms, over the interval; null without batches. */
  latencyP50Ms: (number | null)[];
  latencyP99Ms: (number | null)[];
  /** End-to-end latency (the raw record's Kafka timestamp, ingest's receipt → enriched), ms; null without batches. */
  endToEndP50Ms: (number | null)[];
  endToEndP99Ms: (number | null)[];
  /** Hit ratio over the interval per tier (0..1); null when the tier saw no lookups. */
  hitRatio: Record<'memory' | 'redis' | 'postgres', (number | null)[]>;
  /** In-process cache entries. */
  memoryEntries: (number | null)[];
  /** Records behind per partition (`<topic>-<partition>`); null when the lag query failed. */
  lag: Record<string, (number | null)[]>;
  /** Breaker state per breaker name, as 0 closed, 1 half-open, 2 open. */
  breakers: Record<string, (0 | 1 | 2 | null)[]>;
}

export interface BreakerTransition {
  at: number;
  name: string;
  from: BreakerState;
  to: BreakerState;
}

export interface PartialReason {
  /** A field of `enrichment.missing` (`host.hostname`, `service.team`, …). */
  field: string;
  reason: 'not_found' | 'unavailable' | 'stale';
  count: number;
}

export interface RecentDeadLetter {
  at: number;
  reason: string;
  /** The raw record's coordinates (null when unknown: a malformed record). */
  topic: string | null;
  partition: number | null;
  offset: number | null;
  /** The first problem, `field: reason`. */
  problem: string | null;
  /** The start of the original value, as text (printable, at most 200 characters), or null when it had none. */
  preview: string | null;
}

export interface DashboardSnapshot {
  now: number;
  intervalMs: number;
  /** `degraded` while a breaker is not closed. */
  status: 'ok' | 'degraded';
  series: DashboardSeries;
  /** Since the runner started, newest last, at most 100. */
  breakerTransitions: BreakerTransition[];
  breakers: { name: string; state: BreakerState; openedAt: number | null }[];
  memory: { entries: number; bytes: number; maxEntries: number; maxBytes: number };
  /** Since the runner started: the top 10 field × reason pairs of partial outputs. */
  partialReasons: PartialReason[];
  /** Partial outputs counted into `partialReasons` (all, or a sample at high rates: `partialSampled`). */
  partialSeen: number;
  partialSampled: boolean;
  /** The last 10 dead letters, newest first. */
  deadLetters: RecentDeadLetter[];
  /** Since the runner started. */
  totals: { complete: number; partial: number; deadLettered: number; ingestAccepted: number | null; ingestRejected: number | null };
}

/** POST /api/enrich/preview: the body is one raw log, as ingest or a producer on raw-logs would send it. */
export type PreviewRequest = Record<string, unknown>;

/** Why a tier did not answer a key. */
export type TierOutcome =
  | { tier: 'memory' | 'redis' | 'postgres'; outcome: 'found' | 'not_found' | 'miss' | 'stale' }
  | { tier: 'redis' | 'postgres'; outcome: 'breaker_open' | 'timeout' | 'error'; detail: string }
  | { tier: 'redis' | 'postgres'; outcome: 'skipped' };

export interface PreviewLookup {
  /** `hostsByIp`, `networks` (the CIDR the IP falls in), `hostsByName`, `services`. */
  kind: 'hostsByIp' | 'networks' | 'hostsByName' | 'services';
  key: string;
  /** The answer enrich would use. */
  state: 'found' | 'not_found' | 'unavailable';
  stale: boolean;
  /** The tier that gave the answer; null when none could. */
  answeredBy: 'memory' | 'redis' | 'postgres' | null;
  /** What each tier did for this key, in order asked. */
  tiers: TierOutcome[];
}

export interface PreviewResponse {
  /** Nothing is published; the lookup is the pipeline's own (its caches and breakers, right now). */
  published: false;
  /** Where enrich would publish it. */
  topic: string;
  status: 'complete' | 'partial';
  /** `enrichment.missing` of the merged event: field → reason. */
  missing: Record<string, string>;
  lookups: PreviewLookup[];
  /** The merged event as enrich would write it (our JSON, whatever OUTPUT_ENCODING says). */
  event: Record<string, unknown>;
}

/** A log enrich would dead-letter: 422 with its problems (what a dead letter would say), never a 500. */
export interface PreviewRejection {
  message: string;
  reason: string;
  problems: { field: string; reason: string }[];
}
