/**
 * One logger and one metrics object per process. The service name comes from POWERTOOLS_SERVICE_NAME
 * (set per function by the CDK construct); logs carry ids and counts, never whole payloads. The tracer lives
 * in `tracing/tracer.ts`, imported only by the handlers that use it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const NAMESPACE = 'LogEnrichment';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'log-enrichment' });

const EMPTY_PUBLISH = 'No application metrics to publish';

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'log-enrichment',
  // Metrics' own warnings go through the structured logger. "Nothing to publish" is expected for requests
  // refused before any metric (a 415, say), and locally, where one process serves concurrent requests with
  // this one Metrics object, for every request whose metrics another request's flush already took: debug.
  logger: {
    debug: (...content: unknown[]) => logger.debug(String(content[0]), ...content.slice(1).map(asExtra)),
    info: (...content: unknown[]) => logger.info(String(content[0]), ...content.slice(1).map(asExtra)),
    warn: (...content: unknown[]) => {
      const message = String(content[0]);
      if (message.startsWith(EMPTY_PUBLISH)) logger.debug(message);
      else logger.warn(message, ...content.slice(1).map(asExtra));
    },
    error: (...content: unknown[]) => logger.error(String(content[0]), ...content.slice(1).map(asExtra)),
  },
});

function asExtra(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : { detail: value };
}
