/**
 * Enrich entry point, invoked by the Kafka event source mapping (MSK or self-managed) with a batch of
 * `raw-logs` records. Behaviour lives in `src/`, wiring in `dependencies.ts`; this file only joins them.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { logger, metrics } from '#shared/observability.ts';
import { createEnrichDependencies } from './dependencies.ts';

// Lambda init: configuration checked and clients built once per instance, reused by every invocation.
const dependencies = createEnrichDependencies(process.env);

/** The raw function (no middleware): Kafka event in, `undefined` or `{ batchItemFailures }` out. */
export const rawHandler = dependencies.enrich;

/** The Lambda handler: Lambda context in the logs, EMF metrics flushed after each invocation. */
export const handler = middy(rawHandler).use(injectLambdaContext(logger)).use(logMetrics(metrics));
