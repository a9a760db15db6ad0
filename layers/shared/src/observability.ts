/**
 * One logger and one metrics object per process. The service name comes from POWERTOOLS_SERVICE_NAME
 * (set per function by the CDK construct); logs carry ids and counts, never whole payloads.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const NAMESPACE = 'LogEnrichment';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'log-enrichment' });

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'log-enrichment',
});
