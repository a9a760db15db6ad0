/** Test doubles for the ingest unit tests. */
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { PublishError } from '#shared/kafka/publisher.ts';
import type { IngestMetrics } from '../../../functions/ingest/src/ports.ts';

/** Records every publish call; fails each call with `PublishError` while `failing` is set. */
export class RecordingPublisher implements EventPublisher {
  readonly calls: OutgoingMessage[][] = [];
  failing = false;

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.failing) throw new PublishError(`could not publish ${messages.length} message(s) to Kafka`);
    this.calls.push([...messages]);
  }

  async close(): Promise<void> {}

  get messages(): OutgoingMessage[] {
    return this.calls.flat();
  }
}

/** Counts nothing: for the tests that do not watch metrics (those that do pass Powertools' and spy on it). */
export const uncountedIngest: IngestMetrics = Object.freeze({
  logsRejected: () => undefined,
  logsAccepted: () => undefined,
  publishFailed: () => undefined,
});

/** A valid log as a client sends it (the README's curl body). */
export const paymentLog = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  level: 'ERROR',
  message: 'Payment processing failed',
  service: 'payment-service',
  source_ip: '192.168.1.100',
  ...overrides,
});

/** Ids handed out in order: 00000000-0000-4000-8000-000000000001, …0002, … (valid v4 UUIDs). */
export function sequentialIds(): () => string {
  let next = 0;
  return () => {
    next += 1;
    return `00000000-0000-4000-8000-${String(next).padStart(12, '0')}`;
  };
}
