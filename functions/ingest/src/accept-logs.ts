/**
 * The ingest use case: validate each candidate log, give the valid ones an id and a receive time, and
 * store them on `raw-logs` in one publish call. It answers only after the broker acknowledged every
 * record, so a client never hears "accepted" for a log that was not stored.
 */
import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { type FieldProblem, ServiceUnavailableError, ValidationError } from '#shared/errors.ts';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { METRIC } from '#shared/metric-names.ts';
import { logger, metrics } from '#shared/observability.ts';
import { LogInput, type RawLogRecord, zodProblems } from '#shared/schemas/log.ts';
import type { Candidate } from './parse-body.ts';
import { canonicalIp } from '#shared/net/ip.ts';

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
  /** Injected so tests can fix time and ids. */
  clock?: () => Date;
  newId?: () => string;
}

/**
 * @example
 * const acceptLogs = new AcceptLogs({ publisher, topic: 'raw-logs', retryAfterSeconds: 5 });
 * const result = await acceptLogs.execute([{ index: 0, value: { level: 'INFO', ... } }]);
 */
export class AcceptLogs {
  readonly #publisher: EventPublisher;
  readonly #topic: string;
  readonly #retryAfterSeconds: number;
  readonly #clock: () => Date;
  readonly #newId: () => string;

  constructor(options: AcceptLogsOptions) {
    this.#publisher = options.publisher;
    this.#topic = options.topic;
    this.#retryAfterSeconds = options.retryAfterSeconds;
    this.#clock = options.clock ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
  }

  /**
   * Stores the valid records and reports the others. Throws `ValidationError` (422) when no record is
   * valid, `ServiceUnavailableError` (503) when the records could not be stored.
   */
  async execute(candidates: readonly Candidate[]): Promise<AcceptedLogs> {
    const receivedAt = this.#clock().toISOString();
    const records: RawLogRecord[] = [];
    const rejected: Rejection[] = [];
    let rejectedRecords = 0;

    for (const candidate of candidates) {
      const outcome = 'problem' in candidate ? { problems: [candidate.problem] } : validate(candidate.value, candidate.index);
      if ('log' in outcome) {
        const { log } = outcome;
        // One spelling per address (PostgreSQL's), so cache keys and metadata invalidation agree on IPv6.
        const sourceIp = canonicalIp(log.source_ip);
        records.push({ event_id: this.#newId(), ...log, source_ip: sourceIp, timestamp: log.timestamp ?? receivedAt, received_at: receivedAt });
        continue;
      }
      rejectedRecords += 1;
      for (const { field, reason } of outcome.problems) rejected.push({ index: candidate.index, field, reason });
    }

    if (rejectedRecords > 0) metrics.addMetric(METRIC.logsRejected, MetricUnit.Count, rejectedRecords);
    if (records.length === 0) throw new ValidationError(rejected, 422);

    try {
      await this.#publisher.publish(records.map((record) => this.#message(record)));
    } catch (error) {
      metrics.addMetric(METRIC.ingestPublishFailures, MetricUnit.Count, 1);
      logger.error('could not store logs on Kafka', { error, topic: this.#topic, records: records.length });
      throw new ServiceUnavailableError('logs could not be stored', this.#retryAfterSeconds, { cause: error });
    }

    metrics.addMetric(METRIC.logsAccepted, MetricUnit.Count, records.length);
    logger.info('logs accepted', { accepted: records.length, rejected: rejectedRecords });
    return { accepted: records.length, eventIds: records.map((record) => record.event_id), rejected };
  }

  /**
   * Keyed by source_ip: Kafka keeps order only within a partition, and the key picks the partition, so
   * all logs of one source stay in the order they were accepted (and the enricher, which looks metadata
   * up by that IP, sees one source's logs on one partition).
   */
  #message(record: RawLogRecord): OutgoingMessage {
    return {
      topic: this.#topic,
      key: record.source_ip,
      value: JSON.stringify(record),
      headers: { 'content-type': 'application/json' },
    };
  }
}

/** The normalised log (level upper case, timestamp ISO UTC), or every problem with it. */
function validate(value: unknown, index: number): { log: LogInput } | { problems: FieldProblem[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [{ index, field: '(record)', reason: 'must be a JSON object' }] };
  }
  const parsed = LogInput.safeParse(value);
  return parsed.success ? { log: parsed.data } : { problems: zodProblems(parsed.error, value, index) };
}
