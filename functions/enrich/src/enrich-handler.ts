/**
 * The enrich Lambda adapter. The raw function validates the envelope, runs the use case and returns its
 * result; `createEnrichHandler` wraps it with the middleware. An envelope that is not a Kafka event (no known
 * `eventSource`, `records` not an object of arrays) is a wiring error, with nothing to dead-letter record by
 * record: the invocation fails. Records themselves are checked one by one by the use case, so a malformed
 * record is dead-lettered on its own and never fails the invocation. `handler.ts` builds the deployed
 * instance from `dependencies.ts`.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { ValidationError } from '#shared/errors.ts';
import { logger, metrics } from '#shared/observability.ts';
import { tracer } from '#shared/tracing/tracer.ts';
import { zodProblems } from '#shared/schemas/problems.ts';
import type { EnrichBatch } from './enrich-batch.ts';
import { KafkaEvent, type KafkaBatchResponse } from './kafka-event.ts';

export type EnrichFunction = (event: unknown) => Promise<KafkaBatchResponse | undefined>;

export interface EnrichHandlerDependencies {
  enrichBatch: Pick<EnrichBatch, 'handle'>;
}

/** @throws ValidationError (400) when `event` is not an MSK / self-managed Kafka event envelope. */
export function parseKafkaEvent(event: unknown): KafkaEvent {
  const parsed = KafkaEvent.safeParse(event);
  if (!parsed.success) throw new ValidationError(zodProblems(parsed.error, event), 400);
  return parsed.data;
}

/**
 * @example
 * const enrich = createEnrichFunction(new EnrichBatch({ lookup, publisher, metrics, topics, reportBatchItemFailures: false }));
 * await enrich(mskEvent);
 */
export function createEnrichFunction(useCase: Pick<EnrichBatch, 'handle'>): EnrichFunction {
  return async (event: unknown) => useCase.handle(parseKafkaEvent(event));
}

/**
 * `rawHandler` is the raw function (no middleware); `handler` the Lambda handler: an X-Ray subsegment for the
 * handler (its result not recorded), Lambda context in the logs, EMF metrics flushed after each invocation.
 * AWS documents X-Ray tracing as not supported for functions behind an MSK or self-managed Kafka event source
 * mapping: whatever this records is not linked to ingest's trace. A log is followed across Kafka by its
 * `traceparent` header instead, which the use case copies onto its outputs.
 *
 * @example
 * const { handler } = createEnrichHandler({ enrichBatch });
 * await handler(mskEvent, context);
 */
export function createEnrichHandler(deps: EnrichHandlerDependencies) {
  const rawHandler = createEnrichFunction(deps.enrichBatch);
  const handler = middy(rawHandler)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics));
  return { rawHandler, handler };
}
