/**
 * The enrich use case, one Kafka batch at a time: decode → look up (all distinct keys at once) → merge →
 * branch → produce. It returns only when every output of the batch, dead letters included, is acknowledged.
 *
 * Failure semantics (at-least-once, zero loss): a record that can never succeed goes to the dead-letter topic
 * and the batch goes on; a lookup source that is down makes records partial (never fails the batch); a produce
 * failure fails the batch (throw), or, with ReportBatchItemFailures, reports every record of it as failed so
 * the event source mapping redelivers them. Outputs are keyed by event_id (dead letters without one by their
 * coordinates), so a redelivered batch produces the same keys and downstream dedupes on event_id.
 *
 * No correlation id of its own is added: log lines name a dead-lettered record by `<topic>-<partition>@<offset>`
 * (`recordId`) and a batch by its offset span per partition; every output, dead letters included, carries its
 * `source` coordinates and the log's event_id where there is one; enriched outputs pass trace_id through, and
 * every output carries the W3C trace headers its raw record came with (./trace-context.ts).
 *
 * A record may hold many logs (an OTLP request: ./otlp/decode-otlp.ts); each is enriched, or dead-lettered,
 * on its own, and the batch's counts are of logs: a record of N log records counts N (`BatchOutcome`).
 * Outputs are our JSON, or with `outputEncoding` OTLP (./otlp/encode-otlp.ts); dead letters are always JSON.
 */
import type { Log } from '#shared/log-port.ts';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { deadLetterMessage, malformedRecordMessage, unwritableRecordMessage } from './dead-letter.ts';
import { type DecodeFailure, decodeRecord } from './decode.ts';
import { BlockCache, type EnrichmentStatus, Merger, topicFor } from './enriched-log.ts';
import type { LogEvent } from './log-event.ts';
import { checkRecord, type KafkaBatchResponse, type KafkaEvent, type KafkaEventRecord, MalformedRecord, readOffset, recordId } from './kafka-event.ts';
import { encodeOutput } from './otlp/encode-otlp.ts';
import type { OutputEncoding } from './otlp/types.ts';
import type { EnrichMetrics, MetadataLookup, ResolvedMetadata } from './ports.ts';
import { emptyTally } from './tiered-lookup.ts';
import { forwardedTrace, withTrace } from './trace-context.ts';

export interface EnrichTopics {
  complete: string;
  partial: string;
  deadLetter: string;
}

export interface EnrichBatchDeps {
  lookup: MetadataLookup;
  publisher: EventPublisher;
  metrics: EnrichMetrics;
  topics: EnrichTopics;
  log: Log;
  /** Return `batchItemFailures` instead of throwing when producing fails. */
  reportBatchItemFailures: boolean;
  /** How complete and partial outputs are written (`OUTPUT_ENCODING`); our JSON by default. */
  outputEncoding?: OutputEncoding;
  /** Monotonic milliseconds (latency) and wall clock (enriched_at); injectable for tests. */
  monotonic?: () => number;
  wallClock?: () => Date;
}

/**
 * Counts of one handled batch. `logs` = complete + partial + deadLettered, always: a record of an OTLP request
 * counts one log per log record (each is enriched or dead-lettered on its own), any other record one.
 */
export interface BatchOutcome {
  /** Kafka records. */
  records: number;
  logs: number;
  complete: number;
  partial: number;
  deadLettered: number;
}

export class EnrichBatch {
  readonly #deps: EnrichBatchDeps;
  readonly #encoding: OutputEncoding;
  readonly #monotonic: () => number;
  readonly #wallClock: () => Date;
  /** Host and service blocks of earlier batches, reused while their metadata is the same. */
  readonly #blocks = new BlockCache();

  constructor(deps: EnrichBatchDeps) {
    this.#deps = deps;
    this.#encoding = deps.outputEncoding ?? 'json';
    this.#monotonic = deps.monotonic ?? performance.now.bind(performance);
    this.#wallClock = deps.wallClock ?? (() => new Date());
  }

  /**
   * @returns `undefined`, or `{ batchItemFailures }` (empty on success) when reporting item failures.
   * @throws PublishError when the outputs could not be stored and item failures are not reported.
   */
  async handle(event: KafkaEvent): Promise<KafkaBatchResponse | undefined> {
    const started = this.#monotonic();
    const { topics, lookup, publisher } = this.#deps;
    const encoding = this.#encoding;
    const enrichedAt = this.#wallClock().toISOString();
    const messages: OutgoingMessage[] = [];
    const logs: LogEvent[] = [];
    const sources: KafkaEventRecord[] = [];
    const ips = new Set<string>();
    const hostnames = new Set<string>();
    const services = new Set<string>();
    let records = 0;
    let deadLettered = 0;
    const deadLetter = (record: KafkaEventRecord, failure: DecodeFailure) => {
      const at = failure.index === undefined ? recordId(record) : `${recordId(record)}#${failure.index}`;
      this.#deps.log.warn('record dead-lettered', { record: at, reason: failure.reason, problems: failure.problems });
      messages.push(withTrace(deadLetterMessage(record, failure, topics.deadLetter, enrichedAt), forwardedTrace(record.headers)));
      deadLettered++;
    };
    const accept = (log: LogEvent, record: KafkaEventRecord) => {
      logs.push(log);
      sources.push(record);
      // A log may name its host only by hostname (no source_ip): it is then looked up by name only.
      if (log.source_ip !== undefined) ips.add(log.source_ip);
      if (log.hostname !== undefined) hostnames.add(log.hostname);
      services.add(log.service);
    };

    for (const partitionKey in event.records) {
      const batch = event.records[partitionKey];
      if (batch === undefined) continue;
      for (const entry of batch) {
        records++;
        // One cheap pass per record: a malformed one is dead-lettered on its own and never fails the batch.
        const record = checkRecord(entry, partitionKey);
        if (record instanceof MalformedRecord) {
          let letter: OutgoingMessage;
          try {
            letter = malformedRecordMessage(record, topics.deadLetter, enrichedAt);
          } catch (error) {
            // What arrived cannot even be written as JSON (nested too deep): dead-lettered without it.
            letter = unwritableRecordMessage(record, error, topics.deadLetter, enrichedAt);
          }
          this.#deps.log.warn('record dead-lettered', { record: recordId(record.source), reason: 'malformed', problems: record.problems });
          messages.push(withTrace(letter, forwardedTrace(record.headers)));
          deadLettered++;
          continue;
        }
        const decoded = decodeRecord(record);
        if (decoded.ok === true) accept(decoded.log, record);
        else if (decoded.ok === false) deadLetter(record, decoded);
        else for (const each of decoded.logs) each.ok ? accept(each.log, record) : deadLetter(record, each);
      }
    }

    const metadata: ResolvedMetadata | undefined = logs.length > 0 ? await lookup.resolve({ ips, hostnames, services }) : undefined;
    let complete = 0;
    let partial = 0;
    if (metadata !== undefined) {
      const latencyMs = Math.round((this.#monotonic() - started) * 1000) / 1000;
      const merger = new Merger(metadata, enrichedAt, latencyMs, this.#blocks);
      for (let i = 0; i < logs.length; i++) {
        const log = logs[i] as LogEvent;
        const record = sources[i] as KafkaEventRecord;
        let status: EnrichmentStatus;
        let output: OutgoingMessage;
        try {
          if (encoding === 'json') {
            // The record is its own coordinates (serialize reads topic, partition and offset only).
            const enriched = merger.serialize(log, record);
            status = enriched.status;
            output = { topic: topicFor(status, topics), key: log.event_id, value: enriched.json };
          } else {
            // One OTLP request per log, from the merged event and (an OTLP log's) origin.
            const enriched = merger.merge(log, record);
            status = enriched.enrichment.status;
            const { value, headers } = encodeOutput(enriched, log.origin, encoding);
            output = { topic: topicFor(status, topics), key: log.event_id, value, headers };
          }
        } catch (error) {
          // One log's content (a value JSON cannot write) must not fail its batch: it is dead-lettered (an
          // OTLP log with its index; its value is then the whole record's, which holds it).
          const problems = [{ field: '(record)', reason: `could not be enriched: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` }];
          deadLetter(record, { ok: false, reason: 'invalid', problems, eventId: log.event_id, index: log.origin?.index });
          continue;
        }
        if (status === 'complete') complete++;
        else partial++;
        messages.push(withTrace(output, forwardedTrace(record.headers)));
      }
    }
    const outcome: BatchOutcome = { records, logs: complete + partial + deadLettered, complete, partial, deadLettered };

    let failure: unknown;
    try {
      await publisher.publish(messages);
    } catch (error) {
      failure = error;
    }
    const latencyMs = this.#monotonic() - started;
    this.#deps.metrics.batch({
      // The metrics count logs: attempts = complete + partial + dead-lettered, whatever a record holds.
      records: outcome.logs,
      complete,
      partial,
      deadLettered,
      latencyMs,
      published: failure === undefined,
      tally: metadata?.tally ?? emptyTally(),
      breakers: lookup.breakers(),
    });
    const span = partitionSpans(event);
    if (failure !== undefined) {
      this.#deps.log.error('could not publish the batch; it will be redelivered', { partitions: span, outputs: messages.length, error: failure });
      if (!this.#deps.reportBatchItemFailures) throw failure;
      const items = allItems(event);
      // A record whose offset cannot be read cannot be named in a partial response; only failing the whole
      // invocation is sure to redeliver it (and its dead letter, which may not have been stored).
      if (items === undefined) throw failure;
      return { batchItemFailures: items };
    }
    this.#deps.log.info('batch enriched', { partitions: span, ...outcome, latencyMs: Math.round(latencyMs) });
    return this.#deps.reportBatchItemFailures ? { batchItemFailures: [] } : undefined;
  }
}

/** `{ "raw-logs-0": "120-219" }`: the offsets of the batch per partition, for logs. */
function partitionSpans(event: KafkaEvent): Record<string, string> {
  const spans: Record<string, string> = {};
  for (const key in event.records) {
    const batch = event.records[key];
    if (batch === undefined || batch.length === 0) continue;
    spans[key] = `${readOffset(batch[0]) ?? '?'}-${readOffset(batch[batch.length - 1]) ?? '?'}`;
  }
  return spans;
}

/**
 * A failed produce promises nothing about which messages were stored, so the first failed record of each
 * partition is its first record, and everything after it is reported too. `undefined` when a record's offset
 * cannot be read (a malformed record): no identifier can name it.
 */
function allItems(event: KafkaEvent): KafkaBatchResponse['batchItemFailures'] | undefined {
  const items: KafkaBatchResponse['batchItemFailures'] = [];
  for (const partition in event.records) {
    for (const record of event.records[partition] ?? []) {
      const offset = readOffset(record);
      if (offset === undefined) return undefined;
      items.push({ itemIdentifier: { partition, offset } });
    }
  }
  return items;
}
