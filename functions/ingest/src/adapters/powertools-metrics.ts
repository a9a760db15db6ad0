/**
 * EMF metrics (Powertools) for the ingest use case, names from `#shared/metric-names.ts`. Added to the
 * request's metric set, which the `logMetrics` middleware around `POST /api/logs` publishes.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '#shared/metric-names.ts';
import type { IngestMetrics } from '../ports.ts';

export class PowertoolsIngestMetrics implements IngestMetrics {
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  logsRejected(count: number): void {
    this.#metrics.addMetric(METRIC.logsRejected, MetricUnit.Count, count);
  }

  logsAccepted(count: number): void {
    this.#metrics.addMetric(METRIC.logsAccepted, MetricUnit.Count, count);
  }

  publishFailed(): void {
    this.#metrics.addMetric(METRIC.ingestPublishFailures, MetricUnit.Count, 1);
  }
}
