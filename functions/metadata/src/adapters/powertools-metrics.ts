/**
 * EMF metrics (Powertools) for the metadata use cases, names from `#shared/metric-names.ts`. The metadata
 * handler has no `logMetrics` middleware to publish a metric set per request, so each metric is published at
 * once through `singleMetric()`.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '#shared/metric-names.ts';
import type { MetadataMetrics } from '../ports.ts';

export class PowertoolsMetadataMetrics implements MetadataMetrics {
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  cacheInvalidationFailed(): void {
    this.#metrics.singleMetric().addMetric(METRIC.cacheInvalidationFailures, MetricUnit.Count, 1);
  }
}
