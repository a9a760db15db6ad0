/**
 * Metric names emitted through Powertools Metrics (EMF, namespace `LogEnrichment`) and read by the CDK
 * dashboard and alarms. One list, so the emitters and the dashboard cannot drift apart.
 * The local runtime exposes the same measures in Prometheus form (see functions/enrich).
 */
export const METRIC = {
  // ingest
  logsAccepted: 'LogsAccepted',
  logsRejected: 'LogsRejected',
  ingestPublishFailures: 'IngestPublishFailures',
  // enrich (per record unless noted)
  enrichmentAttempts: 'EnrichmentAttempts',
  enrichmentComplete: 'EnrichmentComplete',
  enrichmentPartial: 'EnrichmentPartial',
  enrichmentDeadLettered: 'EnrichmentDeadLettered',
  /** Milliseconds from batch start to the record's output being acknowledged; many values per EMF record. */
  enrichmentLatency: 'EnrichmentLatency',
  /** Dimension `tier` = memory | redis | postgres. */
  cacheHits: 'CacheHits',
  cacheMisses: 'CacheMisses',
  /** Dimension `breaker` = redis | postgres; value 0 closed, 1 half-open, 2 open. */
  circuitBreakerState: 'CircuitBreakerState',
  enrichPublishFailures: 'EnrichPublishFailures',
  // re-enrich (records of enriched-logs-partial): dimension `outcome` = reenriched | settled | exhausted |
  // unreadable | unrecoverable | deferred (functions/enrich/src/reenrich/reenrich-batch.ts, ReenrichReport)
  reenrichRecords: 'ReenrichRecords',
  // metadata
  cacheInvalidationFailures: 'CacheInvalidationFailures',
} as const;
