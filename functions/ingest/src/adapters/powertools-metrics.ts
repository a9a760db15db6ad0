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

/** Fans ingest's counts out to several sinks (EMF and, under `npm start`, the local dashboard). */
export class CompositeIngestMetrics implements IngestMetrics {
  readonly #sinks: readonly IngestMetrics[];

  constructor(sinks: readonly IngestMetrics[]) {
    this.#sinks = sinks;
  }

  logsRejected(count: number): void {
    for (const sink of this.#sinks) sink.logsRejected(count);
  }

  logsAccepted(count: number): void {
    for (const sink of this.#sinks) sink.logsAccepted(count);
  }

  publishFailed(): void {
    for (const sink of this.#sinks) sink.publishFailed();
  }
}
