/**
 * The data of the local dashboard (GET /api/dashboard, contract.ts): the enrich runner sampled every
 * `intervalMs` into series over the last `windowMs`, plus what a tap on enrich's publisher saw acknowledged.
 *
 * - Rates are counter deltas between two samples over their time apart; latencies are quantiles of the
 *   DELTA of a histogram's buckets between two samples (PromQL's `histogram_quantile` over `increase()`:
 *   linear inside the bucket), so each point says what happened in that interval, not since the start.
 * - Breaker transitions come from comparing each sample's state and `openedAt` with the one before: a
 *   breaker that re-opened between two samples has a new `openedAt`, so an open → half-open → open cycle
 *   shorter than the interval is still recorded (only a whole open → closed cycle shorter than the breaker's
 *   reset time and the interval could be missed, and a breaker stays open at least its reset time).
 * - Partial reasons are read from the partial outputs as published (our JSON or OTLP), at most
 *   `partialParsePerSecond` of them; the rest are counted as seen, `partialSampled` says so. The tap only
 *   keeps references; parsing happens at the next sample or snapshot, off enrich's publish path.
 * - Dead letters: only the newest 10 are kept (references), read when a snapshot is taken.
 * - A value nobody measured is null: no previous sample (rates), no observation in the interval
 *   (latency), no lookup at a tier (hit ratio), a lag query that failed or timed out, ingest that never
 *   reported (it runs in another process).
 *
 * Which topics are the partial and dead-letter ones: `topics` when given, else PARTIAL_TOPIC and DLQ_TOPIC
 * of the environment (topicsEnv), the same variables enrich's own dependencies read.
 */
import type { Registry } from 'prom-client';
import { readConfig, topicsEnv } from '#shared/config.ts';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { type Log, silentLog } from '#shared/log-port.ts';
import type { LookupHealth, Tier } from '../../../functions/enrich/src/ports.ts';
import type { IngestMetrics } from '../../../functions/ingest/src/ports.ts';
import type { BreakerState, BreakerTransition, DashboardSeries, DashboardSnapshot, PartialReason, RecentDeadLetter } from './contract.ts';
import { deadLetterOf, missingOf } from './tap.ts';

/** What the telemetry samples of a runner (an `EnrichRunner` is one; unit tests pass less). */
export interface SampledRunner {
  readonly metrics: { readonly registry: Registry };
  readonly dependencies?: { readonly lookup: { health(): LookupHealth } } | undefined;
  lag(): Promise<Record<string, number>>;
}

export interface DashboardTelemetryOptions {
  /** Between samples; default 1000 ms. */
  intervalMs?: number;
  /** How far back the series go; default 5 minutes. */
  windowMs?: number;
  /** Epoch milliseconds; injectable for tests. */
  clock?: () => number;
  log?: Log;
  /** The topics whose published messages are read; default PARTIAL_TOPIC and DLQ_TOPIC of `env`. */
  topics?: { partial: string; deadLetter: string };
  env?: NodeJS.ProcessEnv;
  /** Partial outputs read for their reasons per second at most; default 200. */
  partialParsePerSecond?: number;
  /** Budget of each sample's lag query; default min(1000, intervalMs / 2) ms. */
  lagTimeoutMs?: number;
  /** False: `attach` starts no timer and the caller takes each sample with `sample()` (tests). Default true. */
  autoSample?: boolean;
}

/** One cumulative histogram bucket: observations ≤ `le` (seconds; the last is +Inf). */
export interface Bucket {
  le: number;
  count: number;
}

const TIERS: readonly Tier[] = ['memory', 'redis', 'postgres'];
const STATE_VALUE: Record<BreakerState, 0 | 1 | 2> = { closed: 0, halfOpen: 1, open: 2 };
const MAX_TRANSITIONS = 100;
const MAX_DEAD_LETTERS = 10;
const TOP_REASONS = 10;

/**
 * The q-quantile (0 < q ≤ 1) of cumulative buckets, as PromQL's `histogram_quantile`: the bucket holding the
 * rank q × total, linearly interpolated between its lower bound (the previous bucket's, 0 for the first)
 * and its upper bound; in the +Inf bucket, the highest finite bound. Null without observations.
 *
 * @example
 * histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: 0.2, count: 10 }, { le: Infinity, count: 10 }]); // 0.15
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lower;
      if (bucket.count === below) return bucket.le;
      return lower + ((bucket.le - lower) * (rank - below)) / (bucket.count - below);
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}

/** The buckets of `current` minus those of `previous` (same bounds: one histogram, two reads). */
export function bucketDelta(current: readonly Bucket[], previous: readonly Bucket[] | undefined): Bucket[] {
  return current.map((bucket, i) => ({ le: bucket.le, count: bucket.count - (previous?.[i]?.count ?? 0) }));
}

/**
 * The transitions that lead from one sample's breaker to the next (module comment), at `at` unless the
 * breaker's own `openedAt` (clamped into the interval) says when it opened.
 *
 * @example
 * breakerTransitions('redis', { state: 'closed', openedAt: null }, { state: 'halfOpen', openedAt: 1_500 }, 1_000, 2_000);
 * // [{ name: 'redis', from: 'closed', to: 'open', at: 1_500 }, { name: 'redis', from: 'open', to: 'halfOpen', at: 2_000 }]
 */
export function breakerTransitions(
  name: string,
  before: { state: BreakerState; openedAt: number | null },
  after: { state: BreakerState; openedAt: number | null },
  since: number,
  at: number,
): BreakerTransition[] {
  const out: BreakerTransition[] = [];
  let state = before.state;
  const go = (to: BreakerState, when: number) => {
    if (to === state) return;
    out.push({ at: when, name, from: state, to });
    state = to;
  };
  const reopened = after.state !== 'closed' && after.openedAt !== null && after.openedAt !== before.openedAt;
  if (reopened) {
    const openedAt = Math.min(Math.max(after.openedAt as number, since), at);
    // An open breaker re-opens only through half-open (its probe failed).
    if (state === 'open') go('halfOpen', openedAt);
    go('open', openedAt);
  }
  // open → closed passes through half-open (the probe that succeeded).
  if (state === 'open' && after.state === 'closed') go('halfOpen', at);
  go(after.state, at);
  return out;
}

interface Reading {
  t: number;
  complete: number;
  partial: number;
  deadLettered: number;
  latency: Bucket[];
  endToEnd: Bucket[];
  hits: Record<Tier, number>;
  misses: Record<Tier, number>;
  ingest: { accepted: number; rejected: number } | undefined;
}

interface SeenDeadLetter {
  message: OutgoingMessage;
  at: number;
  read?: RecentDeadLetter;
}

/**
 * @example
 * const telemetry = new DashboardTelemetry();
 * const runner = await startEnrichRunner({ publisher: telemetry.tap(new KafkaPublisher(readConfig(kafkaEnv), 'enrich')) });
 * telemetry.attach(runner);
 * telemetry.snapshot(); // DashboardSnapshot
 */
export class DashboardTelemetry {
  readonly #intervalMs: number;
  readonly #maxSamples: number;
  readonly #clock: () => number;
  readonly #log: Log;
  readonly #topics: { partial: string; deadLetter: string };
  readonly #partialBudget: number;
  readonly #lagTimeoutMs: number;
  readonly #autoSample: boolean;

  #runner: SampledRunner | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;
  #previous: Reading | undefined;
  readonly #series: DashboardSeries = emptySeries();
  #breakers: DashboardSnapshot['breakers'] = [];
  /** Undefined until read (contract.ts has no null for it: zeros are answered then, see snapshot()). */
  #memory: DashboardSnapshot['memory'] | undefined;
  readonly #transitions: BreakerTransition[] = [];
  /** Each breaker as the last sample saw it (a breaker not seen yet was closed: breakers start closed). */
  readonly #sampledBreakers = new Map<string, { state: BreakerState; openedAt: number | null }>();

  #ingest: { accepted: number; rejected: number } | undefined;
  /** Partial outputs kept for reading (this second's budget), read at the next sample or snapshot. */
  #pendingPartials: OutgoingMessage[] = [];
  #budgetSecond = Number.NaN;
  #budgetUsed = 0;
  #partialSkipped = 0;
  #partialSeen = 0;
  readonly #reasons = new Map<string, PartialReason>();
  /** Newest last. */
  readonly #deadLetters: SeenDeadLetter[] = [];

  /**
   * An IngestMetrics sink for ingest in this process; until it reports (or `ingestRuns()` says ingest is wired
   * to it), ingest series and totals are null: ingest in another process is not measured here.
   */
  readonly ingestMetrics: IngestMetrics = {
    logsAccepted: (count) => {
      this.#ingestTotals().accepted += count;
    },
    logsRejected: (count) => {
      this.#ingestTotals().rejected += count;
    },
    publishFailed: () => {
      this.#ingestTotals();
    },
  };

  /** Ingest reports to `ingestMetrics` from now on: its counts are known (0 until it accepts a log), not unknown. */
  ingestRuns(): IngestMetrics {
    this.#ingestTotals();
    return this.ingestMetrics;
  }

  constructor(options: DashboardTelemetryOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#maxSamples = Math.max(2, Math.ceil((options.windowMs ?? 5 * 60_000) / this.#intervalMs));
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? silentLog;
    if (options.topics !== undefined) this.#topics = options.topics;
    else {
      const topics = readConfig(topicsEnv, options.env ?? process.env);
      this.#topics = { partial: topics.PARTIAL_TOPIC, deadLetter: topics.DLQ_TOPIC };
    }
    this.#partialBudget = options.partialParsePerSecond ?? 200;
    this.#lagTimeoutMs = options.lagTimeoutMs ?? Math.min(1_000, this.#intervalMs / 2);
    this.#autoSample = options.autoSample ?? true;
  }

  /**
   * Wraps enrich's publisher: what it acknowledged is watched (partial outputs and dead letters); nothing
   * else changes, and a failure to read a message never reaches the publish.
   */
  tap(publisher: EventPublisher): EventPublisher {
    return {
      publish: async (messages) => {
        await publisher.publish(messages);
        try {
          this.#observe(messages);
        } catch (error) {
          this.#log.warn('dashboard could not watch a publish', { error });
        }
      },
      close: () => publisher.close(),
    };
  }

  /** Samples `runner` now and every `intervalMs` until `stop()`. One runner per telemetry. */
  attach(runner: SampledRunner): void {
    if (this.#runner !== undefined) throw new Error('the dashboard telemetry is already attached to a runner');
    this.#runner = runner;
    this.#stopped = false;
    // The breakers and the cache at once, before the first sample's lag query answers.
    const health = runner.dependencies?.lookup.health();
    if (health !== undefined) {
      this.#memory = { ...health.memory };
      this.#breakers = health.breakers.map((breaker) => ({ name: breaker.name, state: breaker.state, openedAt: breaker.openedAt }));
    }
    if (!this.#autoSample) return;
    const loop = () => {
      const started = performance.now();
      this.sample()
        .catch((error: unknown) => this.#log.warn('dashboard sample failed', { error }))
        .finally(() => {
          if (this.#stopped) return;
          this.#timer = setTimeout(loop, Math.max(0, this.#intervalMs - (performance.now() - started)));
          this.#timer.unref();
        });
    };
    loop();
  }

  /** One sample of the attached runner now (what the timer does; tests call it directly). */
  async sample(): Promise<void> {
    const runner = this.#runner;
    if (runner === undefined) return;
    const lag = await this.#lag(runner);
    let health: LookupHealth | undefined;
    let reading: Reading;
    try {
      health = runner.dependencies?.lookup.health();
      reading = await read(runner.metrics.registry, this.#ingest, this.#clock());
      if (this.#failing) this.#log.info('dashboard sampling works again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) this.#log.warn('dashboard could not read the runner; the series have a gap', { error });
      this.#failing = true;
      return;
    }
    this.#record(reading, health, lag);
    this.#readPending();
  }

  snapshot(): DashboardSnapshot {
    this.#readPending();
    const series = this.#series;
    const last = this.#previous;
    const ratio = (tier: Tier) => series.hitRatio[tier].slice();
    return {
      now: this.#clock(),
      intervalMs: this.#intervalMs,
      status: this.#breakers.some((breaker) => breaker.state !== 'closed') ? 'degraded' : 'ok',
      series: {
        t: series.t.slice(),
        complete: series.complete.slice(),
        partial: series.partial.slice(),
        deadLettered: series.deadLettered.slice(),
        ingestAccepted: series.ingestAccepted.slice(),
        ingestRejected: series.ingestRejected.slice(),
        latencyP50Ms: series.latencyP50Ms.slice(),
        latencyP99Ms: series.latencyP99Ms.slice(),
        endToEndP50Ms: series.endToEndP50Ms.slice(),
        endToEndP99Ms: series.endToEndP99Ms.slice(),
        hitRatio: { memory: ratio('memory'), redis: ratio('redis'), postgres: ratio('postgres') },
        memoryEntries: series.memoryEntries.slice(),
        lag: copyRecord(series.lag),
        breakers: copyRecord(series.breakers),
      },
      breakerTransitions: this.#transitions.slice(),
      breakers: this.#breakers.map((breaker) => ({ ...breaker })),
      // Read at attach(), so only a runner without lookup dependencies (never `npm start`'s) shows zeros.
      memory: this.#memory === undefined ? { entries: 0, bytes: 0, maxEntries: 0, maxBytes: 0 } : { ...this.#memory },
      partialReasons: [...this.#reasons.values()]
        .sort((a, b) => b.count - a.count || a.field.localeCompare(b.field) || a.reason.localeCompare(b.reason))
        .slice(0, TOP_REASONS)
        .map((reason) => ({ ...reason })),
      partialSeen: this.#partialSeen,
      partialSampled: this.#partialSkipped > 0,
      deadLetters: this.#deadLetters
        .map((seen) => {
          seen.read ??= deadLetterOf(seen.message, seen.at);
          return seen.read;
        })
        .reverse(),
      totals: {
        complete: last?.complete ?? 0,
        partial: last?.partial ?? 0,
        deadLettered: last?.deadLettered ?? 0,
        ingestAccepted: this.#ingest?.accepted ?? null,
        ingestRejected: this.#ingest?.rejected ?? null,
      },
    };
  }

  /** Stops sampling (a sample under way completes); the tap keeps watching, the data stays readable. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#runner = undefined;
  }

  #ingestTotals(): { accepted: number; rejected: number } {
    this.#ingest ??= { accepted: 0, rejected: 0 };
    return this.#ingest;
  }

  #observe(messages: readonly OutgoingMessage[]): void {
    const { partial, deadLetter } = this.#topics;
    // One clock read per publish (when it holds a message watched); the budget is per second of it.
    let now: number | undefined;
    let budgeted = false;
    for (const message of messages) {
      if (message.topic === partial) {
        if (!budgeted) {
          budgeted = true;
          now ??= this.#clock();
          const second = Math.floor(now / 1000);
          if (second !== this.#budgetSecond) {
            this.#budgetSecond = second;
            this.#budgetUsed = 0;
          }
        }
        if (this.#budgetUsed < this.#partialBudget) {
          this.#budgetUsed++;
          this.#pendingPartials.push(message);
        } else this.#partialSkipped++;
      } else if (message.topic === deadLetter) {
        now ??= this.#clock();
        this.#deadLetters.push({ message, at: now });
        if (this.#deadLetters.length > MAX_DEAD_LETTERS) this.#deadLetters.shift();
      }
    }
  }

  #readPending(): void {
    const pending = this.#pendingPartials;
    if (pending.length === 0) return;
    this.#pendingPartials = [];
    for (const message of pending) {
      for (const missing of missingOf(message)) {
        this.#partialSeen++;
        for (const [field, reason] of Object.entries(missing)) {
          const key = `${field}\u0000${reason}`;
          const entry = this.#reasons.get(key);
          if (entry === undefined) this.#reasons.set(key, { field, reason, count: 1 });
          else entry.count++;
        }
      }
    }
  }

  /** The runner's lag, or null when the query failed or took longer than its budget. */
  async #lag(runner: SampledRunner): Promise<Record<string, number> | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        runner.lag(),
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), this.#lagTimeoutMs);
        }),
      ]);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  #record(reading: Reading, health: LookupHealth | undefined, lag: Record<string, number> | null): void {
    const previous = this.#previous;
    const series = this.#series;
    const seconds = previous === undefined ? 0 : (reading.t - previous.t) / 1000;
    const rate = (now: number, before: number | undefined) => (previous === undefined || before === undefined || !(seconds > 0) || now < before ? null : (now - before) / seconds);
    const quantile = (q: number, now: Bucket[], before: Bucket[] | undefined) => {
      if (previous === undefined) return null;
      const value = histogramQuantile(q, bucketDelta(now, before));
      return value === null ? null : value * 1000;
    };
    series.t.push(reading.t);
    series.complete.push(rate(reading.complete, previous?.complete));
    series.partial.push(rate(reading.partial, previous?.partial));
    series.deadLettered.push(rate(reading.deadLettered, previous?.deadLettered));
    // Ingest's counts start at 0 when it first reports: a sample before that counts from 0.
    series.ingestAccepted.push(reading.ingest === undefined ? null : rate(reading.ingest.accepted, previous?.ingest?.accepted ?? 0));
    series.ingestRejected.push(reading.ingest === undefined ? null : rate(reading.ingest.rejected, previous?.ingest?.rejected ?? 0));
    series.latencyP50Ms.push(quantile(0.5, reading.latency, previous?.latency));
    series.latencyP99Ms.push(quantile(0.99, reading.latency, previous?.latency));
    series.endToEndP50Ms.push(quantile(0.5, reading.endToEnd, previous?.endToEnd));
    series.endToEndP99Ms.push(quantile(0.99, reading.endToEnd, previous?.endToEnd));
    for (const tier of TIERS) {
      let ratio: number | null = null;
      if (previous !== undefined) {
        const hits = reading.hits[tier] - previous.hits[tier];
        const lookups = hits + reading.misses[tier] - previous.misses[tier];
        ratio = lookups > 0 ? hits / lookups : null;
      }
      series.hitRatio[tier].push(ratio);
    }
    series.memoryEntries.push(health?.memory.entries ?? null);
    pushKeyed(series.lag, lag ?? {}, series.t.length);

    const states: Record<string, 0 | 1 | 2> = {};
    const breakers = health?.breakers ?? [];
    for (const breaker of breakers) {
      states[breaker.name] = STATE_VALUE[breaker.state];
      const before = this.#sampledBreakers.get(breaker.name) ?? { state: 'closed', openedAt: null };
      this.#transitions.push(...breakerTransitions(breaker.name, before, breaker, previous?.t ?? Number.NEGATIVE_INFINITY, reading.t));
      this.#sampledBreakers.set(breaker.name, { state: breaker.state, openedAt: breaker.openedAt });
    }
    if (this.#transitions.length > MAX_TRANSITIONS) this.#transitions.splice(0, this.#transitions.length - MAX_TRANSITIONS);
    pushKeyed(series.breakers, states, series.t.length);
    this.#breakers = breakers.map((breaker) => ({ name: breaker.name, state: breaker.state, openedAt: breaker.openedAt }));
    if (health !== undefined) this.#memory = { ...health.memory };
    this.#previous = reading;
    trim(series, this.#maxSamples);
  }
}

function emptySeries(): DashboardSeries {
  return {
    t: [],
    complete: [],
    partial: [],
    deadLettered: [],
    ingestAccepted: [],
    ingestRejected: [],
    latencyP50Ms: [],
    latencyP99Ms: [],
    endToEndP50Ms: [],
    endToEndP99Ms: [],
    hitRatio: { memory: [], redis: [], postgres: [] },
    memoryEntries: [],
    lag: {},
    breakers: {},
  };
}

/** Appends this sample's value of every key (null for a key it lacks; a new key gets nulls before). */
function pushKeyed<T>(target: Record<string, (T | null)[]>, values: Record<string, T>, length: number): void {
  for (const key of Object.keys(values)) target[key] ??= new Array<T | null>(length - 1).fill(null);
  for (const [key, list] of Object.entries(target)) list.push(Object.hasOwn(values, key) ? (values[key] as T) : null);
}

/** Keeps the newest `max` samples; a keyed series left with nothing but nulls (a revoked partition) goes. */
function trim(series: DashboardSeries, max: number): void {
  const excess = series.t.length - max;
  if (excess <= 0) return;
  for (const list of [series.t, series.complete, series.partial, series.deadLettered, series.ingestAccepted, series.ingestRejected]) list.splice(0, excess);
  for (const list of [series.latencyP50Ms, series.latencyP99Ms, series.endToEndP50Ms, series.endToEndP99Ms, series.memoryEntries]) list.splice(0, excess);
  for (const list of Object.values(series.hitRatio)) list.splice(0, excess);
  for (const keyed of [series.lag, series.breakers] as Record<string, unknown[]>[]) {
    for (const [key, list] of Object.entries(keyed)) {
      list.splice(0, excess);
      if (list.every((value) => value === null)) delete keyed[key];
    }
  }
}

function copyRecord<T>(record: Record<string, T[]>): Record<string, T[]> {
  const out: Record<string, T[]> = {};
  for (const [key, list] of Object.entries(record)) out[key] = list.slice();
  return out;
}

/** The counters and histograms of enrich's registry (PrometheusEnrichMetrics), read through prom-client. */
async function read(registry: Registry, ingest: { accepted: number; rejected: number } | undefined, t: number): Promise<Reading> {
  const values = async (name: string) => {
    const metric = registry.getSingleMetric(name);
    if (metric === undefined) throw new Error(`the registry has no ${name}`);
    return (await metric.get()).values;
  };
  const total = async (name: string) => (await values(name)).reduce((sum, each) => sum + each.value, 0);
  const byTier = async (name: string) => {
    const out: Record<Tier, number> = { memory: 0, redis: 0, postgres: 0 };
    for (const each of await values(name)) {
      const tier = each.labels.tier;
      if (tier === 'memory' || tier === 'redis' || tier === 'postgres') out[tier] += each.value;
    }
    return out;
  };
  const buckets = async (name: string) =>
    (await values(name))
      .filter((each) => (each as { metricName?: string }).metricName === `${name}_bucket`)
      .map((each) => ({ le: each.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(each.labels.le), count: each.value }))
      .sort((a, b) => a.le - b.le);
  const [complete, partial, deadLettered, latency, endToEnd, hits, misses] = await Promise.all([
    total('enrichment_complete_total'),
    total('enrichment_partial_total'),
    total('enrichment_dead_lettered_total'),
    buckets('enrichment_latency_seconds'),
    buckets('enrichment_end_to_end_seconds'),
    byTier('cache_hits_total'),
    byTier('cache_misses_total'),
  ]);
  return { t, complete, partial, deadLettered, latency, endToEnd, hits, misses, ingest: ingest === undefined ? undefined : { ...ingest } };
}
