/**
 * The raw Lambda function: validate the envelope, run the use case, return its result. An envelope that is
 * not a Kafka event is a wiring error (nothing to dead-letter record by record): the invocation fails.
 */
import { ValidationError } from '#shared/errors.ts';
import { zodProblems } from '#shared/schemas/log.ts';
import type { EnrichBatch } from './enrich-batch.ts';
import { KafkaEvent, type KafkaBatchResponse } from './kafka-event.ts';

export type EnrichFunction = (event: unknown) => Promise<KafkaBatchResponse | undefined>;

/** @throws ValidationError when `event` is not an MSK / self-managed Kafka event. */
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
export function createEnrichFunction(useCase: EnrichBatch): EnrichFunction {
  return async (event: unknown) => useCase.handle(parseKafkaEvent(event));
}
