/**
 * The ingest use case: validate each candidate log, give the valid ones an id and a receive time, and
 * store them on `raw-logs` in one publish call. It answers only after the broker acknowledged every
 * record, so a client never hears "accepted" for a log that was not stored. The records of a request carry
 * the W3C trace context the HTTP adapter derived for it, as Kafka headers (`traceparent`, `tracestate`).
 */
import { randomUUID } from 'node:crypto';
import { type FieldProblem, ServiceUnavailableError, ValidationError } from '#shared/errors.ts';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import type { TraceHeaders } from '#shared/tracing/traceparent.ts';
import { type IngestedLogRecord, type LogInput, parseLogInput } from '#shared/schemas/log.ts';
import type { Candidate } from './parse-body.ts';
import type { IngestMetrics } from './ports.ts';

/** One problem with one record of the request. */
export interface Rejection {
  index: number;
  field: string;
  reason: string;
}

/** The 202 body: how many logs were stored, their ids (in request order), and what was refused. */
export interface AcceptedLogs {
  accepted: number;
  eventIds: string[];
  rejected: Rejection[];
}

export interface AcceptLogsOptions {
  publisher: EventPublisher;
  /** The `raw-logs` topic. */
  topic: string;
  /** Sent as `Retry-After` when the publisher fails. */
  retryAfterSeconds: number;
  /** The wiring passes Powertools' logger and metrics; tests pass their own. */
  log: Log;
  metrics: IngestMetrics;
  /** Injected so tests can fix time and ids. */
  clock?: () => Date;
  newId?: () => string;
}

/**
 * @example
 * const acceptLogs = new AcceptLogs({ publisher, topic: 'raw-logs', retryAfterSeconds: 5, log, metrics });
 * const result = await acceptLogs.execute([{ index: 0, value: { level: 'INFO', ... } }]);
 */
export class AcceptLogs {
  readonly #publisher: EventPublisher;
  readonly #topic: string;
  readonly #retryAfterSeconds: number;
  readonly #log: Log;
  readonly #metrics: IngestMetrics;
  readonly #clock: () => Date;
  readonly #newId: () => string;

  constructor(options: AcceptLogsOptions) {
    this.#publisher = options.publisher;
    this.#topic = options.topic;
    this.#retryAfterSeconds = options.retryAfterSeconds;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
  }

  /**
   * Stores the valid records and reports the others. Throws `ValidationError` (422) when no record is
   * valid, `ServiceUnavailableError` (503) when the records could not be stored.
   *
   * @param trace the request's trace context, sent as headers of every record (the HTTP adapter derives it).
   */
  async execute(candidates: readonly Candidate[], trace?: TraceHeaders): Promise<AcceptedLogs> {
    const receivedAt = this.#clock().toISOString();
    const records: IngestedLogRecord[] = [];
    const rejected: Rejection[] = [];
    let rejectedRecords = 0;

    for (const candidate of candidates) {
      const outcome = 'problem' in candidate ? { problems: [candidate.problem] } : validate(candidate.value, candidate.index);
      if ('log' in outcome) {
        const { log } = outcome;
        // The contract already wrote source_ip in PostgreSQL's spelling (cache keys and invalidation agree on IPv6).
        records.push({ event_id: this.#newId(), ...log, timestamp: log.timestamp ?? receivedAt, received_at: receivedAt });
        continue;
      }
      rejectedRecords += 1;
      for (const { field, reason } of outcome.problems) rejected.push({ index: candidate.index, field, reason });
    }

    if (rejectedRecords > 0) this.#metrics.logsRejected(rejectedRecords);
    if (records.length === 0) throw new ValidationError(rejected, 422);

    try {
      const headers = { 'content-type': 'application/json', ...trace };
      await this.#publisher.publish(records.map((record) => this.#message(record, headers)));
    } catch (error) {
      this.#metrics.publishFailed();
      this.#log.error('could not store logs on Kafka', { error, topic: this.#topic, records: records.length });
      throw new ServiceUnavailableError('logs could not be stored', this.#retryAfterSeconds, { cause: error });
    }

    this.#metrics.logsAccepted(records.length);
    this.#log.info('logs accepted', { accepted: records.length, rejected: rejectedRecords });
    return { accepted: records.length, eventIds: records.map((record) => record.event_id), rejected };
  }

  /**
   * Keyed by source_ip: Kafka keeps order only within a partition, and the key picks the partition, so
   * all logs of one source stay in the order they were accepted (and the enricher, which looks metadata
   * up by that IP, sees one source's logs on one partition).
   */
  #message(record: IngestedLogRecord, headers: Record<string, string>): OutgoingMessage {
    return {
      topic: this.#topic,
      // A log without an address names its host: its hostname keeps that host's logs in order the same way.
      key: record.source_ip ?? record.hostname ?? record.service,
      value: JSON.stringify(record),
      headers,
    };
  }
}

/**
 * The log in our shape (any accepted input shape: ours, ECS, the common shippers' fields; level upper case,
 * timestamp ISO UTC, extra fields under attributes), or every problem with it. The one contract enrich applies too.
 */
function validate(value: unknown, index: number): { log: LogInput } | { problems: FieldProblem[] } {
  const parsed = parseLogInput(value, index);
  return parsed.ok ? { log: parsed.log } : { problems: parsed.problems };
}
