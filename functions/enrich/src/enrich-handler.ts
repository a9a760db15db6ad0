/**
 * The raw Lambda function: validate the envelope, run the use case, return its result. An envelope that is
 * not a Kafka event (no known `eventSource`, `records` not an object of arrays) is a wiring error, with nothing
 * to dead-letter record by record: the invocation fails. Records themselves are checked one by one by the use
 * case, so a malformed record is dead-lettered on its own and never fails the invocation.
 */
import { ValidationError } from '#shared/errors.ts';
import { zodProblems } from '#shared/schemas/problems.ts';
import type { EnrichBatch } from './enrich-batch.ts';
import { KafkaEvent, type KafkaBatchResponse } from './kafka-event.ts';

export type EnrichFunction = (event: unknown) => Promise<KafkaBatchResponse | undefined>;

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
export function createEnrichFunction(useCase: EnrichBatch): EnrichFunction {
  return async (event: unknown) => useCase.handle(parseKafkaEvent(event));
}
