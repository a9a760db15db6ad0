/**
 * EMF metrics (Powertools) for the Lambda runtime, names from `#shared/metric-names.ts`. Counts are per batch;
 * dimensioned values (tier, breaker) go through `singleMetric()` because a Powertools metric set carries one
 * dimension set. Published by the `logMetrics` middleware at the end of each invocation.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '#shared/metric-names.ts';
import type { BatchReport, BreakerStateName, EnrichMetrics } from '../ports.ts';
import { REENRICH_OUTCOMES, type ReenrichMetrics, type ReenrichReport } from '../reenrich/reenrich-batch.ts';

export const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = { closed: 0, halfOpen: 1, open: 2 };

export class PowertoolsEnrichMetrics implements EnrichMetrics {
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  batch(report: BatchReport): void {
    const metrics = this.#metrics;
    metrics.addMetric(METRIC.enrichmentAttempts, MetricUnit.Count, report.records);
    if (report.published) {
      metrics.addMetric(METRIC.enrichmentComplete, MetricUnit.Count, report.complete);
      metrics.addMetric(METRIC.enrichmentPartial, MetricUnit.Count, report.partial);
      metrics.addMetric(METRIC.enrichmentDeadLettered, MetricUnit.Count, report.deadLettered);
      // One value per batch: every record of a batch is acknowledged by the same produce call.
      metrics.addMetric(METRIC.enrichmentLatency, MetricUnit.Milliseconds, report.latencyMs);
    } else {
      metrics.addMetric(METRIC.enrichPublishFailures, MetricUnit.Count, 1);
    }
    for (const tier of ['memory', 'redis', 'postgres'] as const) {
      const counts = report.tally[tier];
      if (counts.hits + counts.misses === 0) continue;
      const single = metrics.singleMetric();
      single.addDimension('tier', tier);
      single.addMetric(METRIC.cacheHits, MetricUnit.Count, counts.hits);
      single.addMetric(METRIC.cacheMisses, MetricUnit.Count, counts.misses);
    }
    for (const breaker of report.breakers) {
      const single = metrics.singleMetric();
      single.addDimension('breaker', breaker.name);
      single.addMetric(METRIC.circuitBreakerState, MetricUnit.Count, BREAKER_STATE_VALUE[breaker.state]);
    }
  }
}

/**
 * The re-enricher's counts: one `ReenrichRecords` per outcome (dimension `outcome`), zeros included, so a
 * dashboard sums them to what was read. Its logs' outcomes are enrich's own metrics (`batch`), under the
 * re-enrich function's service.
 */
export class PowertoolsReenrichMetrics implements ReenrichMetrics {
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  reenrich(report: ReenrichReport): void {
    for (const outcome of REENRICH_OUTCOMES) {
      const single = this.#metrics.singleMetric();
      single.addDimension('outcome', outcome);
      single.addMetric(METRIC.reenrichRecords, MetricUnit.Count, report[outcome]);
    }
  }
}
