/**
 * Re-enrich entry point, invoked by the second Kafka event source mapping, the one on
 * `enriched-logs-partial` (its own consumer group): enriches partial logs again once their sources answer
 * (src/reenrich/). Behaviour lives in `src/`, wiring in `reenrich-dependencies.ts`; this file only joins
 * them, once per Lambda instance, and gives the use case the time the invocation has left.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '#shared/observability.ts';
import { createReenrichDependencies } from './reenrich-dependencies.ts';

/** Left for publishing and the middleware after the wait: the wait never runs the invocation into its timeout. */
const MARGIN_MS = 15_000;

const dependencies = createReenrichDependencies(process.env);

/** The raw function (no middleware): a Kafka event of the partial topic → its partial batch response. */
export const rawHandler = (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) =>
  dependencies.reenrich(event, context === undefined ? undefined : context.getRemainingTimeInMillis() - MARGIN_MS);

/** Lambda context in the logs, EMF metrics flushed after each invocation. */
export const handler = middy(rawHandler).use(injectLambdaContext(logger)).use(logMetrics(metrics));
