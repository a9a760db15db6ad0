/**
 * The ports the ingest use case depends on besides the publisher (`#shared/kafka/publisher.ts`): what it
 * counts, implemented by Powertools EMF (`adapters/powertools-metrics.ts`); logs go to a `Log`
 * (`#shared/log-port.ts`). Unit tests pass fakes.
 */

/** What the use case counts, per request. */
export interface IngestMetrics {
  /** Records of the request that were refused (validation). */
  logsRejected(count: number): void;
  /** Records the broker acknowledged. */
  logsAccepted(count: number): void;
  /** A publish that failed: the request is answered 503. */
  publishFailed(): void;
}
