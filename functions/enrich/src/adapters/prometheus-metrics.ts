/**
 * Prometheus metrics for the local runtime (GET /metrics of the health server). Same measures as the EMF
 * metrics, in Prometheus naming. A registry per instance, so tests and two runners in one process never
 * collide on prom-client's global registry.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchReport, EnrichMetrics } from '../ports.ts';
import { REENRICH_OUTCOMES, type ReenrichMetrics, type ReenrichReport } from '../reenrich/reenrich-batch.ts';
import { BREAKER_STATE_VALUE } from './powertools-metrics.ts';

export class PrometheusEnrichMetrics implements EnrichMetrics {
  readonly registry: Registry;
  readonly #attempts: Counter;
  readonly #successes: Counter;
  readonly #complete: Counter;
  readonly #partial: Counter;
  readonly #deadLettered: Counter;
  readonly #publishFailures: Counter;
  readonly #latency: Histogram;
  readonly #endToEnd: Histogram;
  readonly #hits: Counter<'tier'>;
  readonly #misses: Counter<'tier'>;
  readonly #breakerState: Gauge<'name'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.#attempts = new Counter({ name: 'enrichment_attempts_total', help: 'Records the enricher tried (each delivery counts)', registers });
    this.#successes = new Counter({ name: 'enrichment_successes_total', help: 'Records enriched and acknowledged (complete or partial)', registers });
    this.#complete = new Counter({ name: 'enrichment_complete_total', help: 'Records published to the complete topic', registers });
    this.#partial = new Counter({ name: 'enrichment_partial_total', help: 'Records published to the partial topic', registers });
    this.#deadLettered = new Counter({ name: 'enrichment_dead_lettered_total', help: 'Records sent to the dead-letter topic', registers });
    this.#publishFailures = new Counter({ name: 'enrichment_publish_failures_total', help: 'Batches whose outputs could not be produced', registers });
    this.#latency = new Histogram({
      name: 'enrichment_latency_seconds',
      help: 'Per record: batch start to the record output being acknowledged',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    // From ingest's receipt (the raw record's Kafka timestamp) to enriched: queueing, batching and retries
    // included, so the buckets reach minutes (a backlog, a broker outage), not only enrich's own milliseconds.
    this.#endToEnd = new Histogram({
      name: 'enrichment_end_to_end_seconds',
      help: 'Per raw record: its Kafka timestamp (ingest receipt) to its outputs acknowledged',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.#hits = new Counter({ name: 'cache_hits_total', help: 'Metadata lookups answered, by tier', labelNames: ['tier'], registers });
    this.#misses = new Counter({ name: 'cache_misses_total', help: 'Metadata lookups not answered, by tier', labelNames: ['tier'], registers });
    this.#breakerState = new Gauge({ name: 'circuitbreaker_state', help: '0 closed, 1 half-open, 2 open', labelNames: ['name'], registers });
    this.consumerLag = new Gauge({ name: 'enrichment_consumer_lag', help: 'Records behind the end of each source partition', labelNames: ['topic', 'partition'], registers });
    for (const name of ['redis', 'postgres']) this.#breakerState.set({ name }, 0);
    for (const tier of ['memory', 'redis', 'postgres']) {
      this.#hits.inc({ tier }, 0);
      this.#misses.inc({ tier }, 0);
    }
  }

  batch(report: BatchReport): void {
    this.#attempts.inc(report.records);
    if (report.published) {
      const enriched = report.complete + report.partial;
      this.#successes.inc(enriched);
      this.#complete.inc(report.complete);
      this.#partial.inc(report.partial);
      this.#deadLettered.inc(report.deadLettered);
      const seconds = report.latencyMs / 1000;
      for (let i = 0; i < report.records; i++) this.#latency.observe(seconds);
      if (report.endToEndMs !== undefined) for (const ms of report.endToEndMs) this.#endToEnd.observe(ms / 1000);
    } else {
      this.#publishFailures.inc();
    }
    for (const tier of ['memory', 'redis', 'postgres'] as const) {
      this.#hits.inc({ tier }, report.tally[tier].hits);
      this.#misses.inc({ tier }, report.tally[tier].misses);
    }
    for (const breaker of report.breakers) this.#breakerState.set({ name: breaker.name }, BREAKER_STATE_VALUE[breaker.state]);
  }
}

/** Fans one report out to several sinks (EMF and Prometheus in a local run that wants both). */
export class CompositeEnrichMetrics implements EnrichMetrics {
  readonly #sinks: readonly EnrichMetrics[];
  constructor(sinks: readonly EnrichMetrics[]) {
    this.#sinks = sinks;
  }
  batch(report: BatchReport): void {
    for (const sink of this.#sinks) sink.batch(report);
  }
}

/** The re-enricher's counts (`reenrich_records_total{outcome}`), beside enrich's own on the same registry. */
export class PrometheusReenrichMetrics implements ReenrichMetrics {
  readonly #records: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.#records = new Counter({ name: 'reenrich_records_total', help: 'Records of the partial topic the re-enricher read, by outcome', labelNames: ['outcome'], registers: [registry] });
    for (const outcome of REENRICH_OUTCOMES) this.#records.inc({ outcome }, 0);
  }

  reenrich(report: ReenrichReport): void {
    for (const outcome of REENRICH_OUTCOMES) this.#records.inc({ outcome }, report[outcome]);
  }
}
