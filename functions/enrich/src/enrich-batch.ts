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
 *
 * Grouping (OTLP outputs): the logs of ONE Kafka record that go to the same topic and share the same built
 * resource (the same host block, service block and input resource: encode-otlp's `OtlpLog.resource`, by
 * identity) are ONE ExportLogsServiceRequest: one ResourceLogs, its ScopeLogs per input scope in input
 * order, the log records in input order. One message per log repeated the resource N times (a 343 KB
 * request with a 300 KB resource and 2,000 records made 602 MB of outputs). Logs of different records are
 * never grouped, so a redelivered record gives the same groups, keys and bytes again (per-batch times
 * aside). A group is keyed by the event_id of its first log; its headers are the content-type and the
 * record's trace headers. Our JSON output stays one message per log.
 *
 * Size: no output may exceed the brokers' limit. The publisher refuses a publish holding a message larger
 * than KAFKA_MESSAGE_MAX_BYTES up front (`MessageTooLargeError`, nothing sent, `indexes` the offending
 * ones); then a message of more than one log is split in two (by log count, order kept) and a message of
 * one log becomes that log's dead letter (`invalid`, problem field `(output)` saying the size and the
 * limit), and the whole publish is tried again, until it goes through or fails otherwise. Logs whose
 * resource alone exceeds the limit are dead-lettered at once (no split could help). Without this a
 * too-large output failed its batch on every redelivery, forever. A dead letter itself too large (only
 * possible with a limit below MAX_DEAD_LETTER_BYTES of ./dead-letter.ts) still fails the batch.
 *
 * Log lines: one `record dead-lettered` warning per Kafka record (not per log: one bad request of 7,000
 * records made 7,000 lines), with how many of its logs were dead-lettered and the first one's problems,
 * bounded as a dead letter bounds them.
 */
import type { FieldProblem } from '#shared/errors.ts';
import { type EventPublisher, MessageTooLargeError, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import type { Resource } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';
import { boundedProblems, deadLetterMessage, malformedRecordMessage, unwritableRecordMessage } from './dead-letter.ts';
import { type DecodeFailure, decodeRecord } from './decode.ts';
import { BlockCache, Merger, topicFor } from './enriched-log.ts';
import type { LogEvent } from './log-event.ts';
import { checkRecord, type KafkaBatchResponse, type KafkaEvent, type KafkaEventRecord, MalformedRecord, readOffset, recordId } from './kafka-event.ts';
import { encodeLogs, type OtlpLog, otlpLog, resourceBytes } from './otlp/encode-otlp.ts';
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
 * The Kafka header that says which attempt at a log an output is, on every output after the first attempt
 * (the re-enricher's); absent means 1. A header, not only `enrichment.attempt`, because enriched-log v1
 * (ENRICH_PROVENANCE=false) has no room for it, and the re-enricher reads it without parsing the value.
 */
export const ATTEMPT_HEADER = 'enrichment-attempt';

export interface EnrichOptions {
  /**
   * Which attempt at its logs each record's outputs are (the re-enricher's and a replay's are above 1);
   * 1, enrich's own pass, when absent or when it answers undefined. Per record, so that one batch of many
   * attempts is ONE publish: acknowledged or failed as a whole, never half published and then redelivered.
   */
  attemptOf?: (record: KafkaEventRecord) => number | undefined;
  /**
   * Of a record holding many logs (an OTLP request), the indices of the logs to enrich; the others are
   * left out (not published, not counted, not dead-lettered again). The re-enricher reads a request back
   * whole to retry one of its logs: its siblings, complete or retried on their own, must not be published
   * again (each retry would multiply them). Undefined for a record: all its logs.
   */
  logsOf?: (record: KafkaEventRecord) => ReadonlySet<number> | undefined;
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

/**
 * One enriched output message: logs of one Kafka record that go to one topic (with OTLP, under one
 * resource), in input order; with our JSON, one log. Kept beside its message until the batch is published,
 * so that a message the brokers cannot take can be split or dead-lettered.
 */
interface Output {
  record: KafkaEventRecord;
  topic: string;
  complete: boolean;
  logs: LogEvent[];
  /** The logs' OTLP resource, scope and record, one per log (OTLP encodings only). */
  otlp: OtlpLog[] | undefined;
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
    try {
      await this.enrich(event);
    } catch (failure) {
      if (!this.#deps.reportBatchItemFailures) throw failure;
      const items = allItems(event);
      // A record whose offset cannot be read cannot be named in a partial response; only failing the whole
      // invocation is sure to redeliver it (and its dead letter, which may not have been stored).
      if (items === undefined) throw failure;
      return { batchItemFailures: items };
    }
    return this.#deps.reportBatchItemFailures ? { batchItemFailures: [] } : undefined;
  }

  /**
   * The batch enriched and published (metrics and log lines included), and its counts.
   *
   * @param options.attemptOf which attempt at its logs a record's outputs are (the re-enricher's: ./reenrich/),
   *   1 for enrich's own; above 1 every output carries it (ATTEMPT_HEADER, and `enrichment.attempt` in v2
   *   events and OTLP). `options.logsOf`: the logs of a record to enrich, when not all.
   * @throws PublishError when the outputs could not be stored (whatever `reportBatchItemFailures` says).
   * @example
   * const outcome = await enrichBatch.enrich(event, { attemptOf: () => 3 }); // { records, logs, complete, partial, deadLettered }
   */
  async enrich(event: KafkaEvent, options: EnrichOptions = {}): Promise<BatchOutcome> {
    const { attemptOf, logsOf } = options;
    /** The attempt of each record that is not 1 (none in enrich's own batches). */
    const attempts = new Map<KafkaEventRecord, number>();
    const started = this.#monotonic();
    const { topics, lookup, publisher } = this.#deps;
    const encoding = this.#encoding;
    const wallStart = this.#wallClock();
    const enrichedAt = wallStart.toISOString();
    const messages: OutgoingMessage[] = [];
    /** Beside each message, the output it holds; undefined for a dead letter. */
    const held: (Output | undefined)[] = [];
    const logs: LogEvent[] = [];
    const sources: KafkaEventRecord[] = [];
    const ips = new Set<string>();
    const hostnames = new Set<string>();
    const services = new Set<string>();
    const notes = new DeadLetterNotes();
    /** Records one of whose logs' enrichment-side dead letters kept the record's value (the others do not). */
    const valueKept = new Set<KafkaEventRecord>();
    let records = 0;
    let deadLettered = 0;
    let complete = 0;
    let partial = 0;
    /** An output's message, with its record's trace headers (and the attempt, after the first). */
    const push = (message: OutgoingMessage, output: Output) => {
      const traced = withTrace(message, forwardedTrace(output.record.headers));
      const attempt = attempts.get(output.record);
      messages.push(attempt === undefined ? traced : { ...traced, headers: { ...traced.headers, [ATTEMPT_HEADER]: String(attempt) } });
      held.push(output);
    };
    const deadLetter = (record: KafkaEventRecord, failure: DecodeFailure) => {
      notes.add(record, failure);
      messages.push(withTrace(deadLetterMessage(record, failure, topics.deadLetter, enrichedAt), forwardedTrace(record.headers)));
      held.push(undefined);
      deadLettered++;
    };
    /**
     * A log that was decoded but cannot be published: its dead letter keeps the record's value (bounded by
     * the dead-letter module) for the first such log of the record only, and only when that fits `maxBytes`;
     * the others say that their log is in the source record (at `source.index`).
     */
    const lostLog = (record: KafkaEventRecord, log: LogEvent, problems: FieldProblem[], maxBytes?: number) => {
      const failure: DecodeFailure = { ok: false, reason: 'invalid', problems, eventId: log.event_id, index: log.origin?.index };
      if (failure.index !== undefined && valueKept.has(record)) failure.valueOmitted = true;
      valueKept.add(record);
      let letter = deadLetterMessage(record, failure, topics.deadLetter, enrichedAt);
      // Room for the key, the headers and the record framing beside the value.
      if (failure.index !== undefined && maxBytes !== undefined && Buffer.byteLength(letter.value) + 4096 > maxBytes) {
        letter = deadLetterMessage(record, { ...failure, valueOmitted: true }, topics.deadLetter, enrichedAt);
      }
      notes.add(record, failure);
      messages.push(withTrace(letter, forwardedTrace(record.headers)));
      held.push(undefined);
      deadLettered++;
    };
    /** Every log of an output, which was counted complete or partial, as a dead letter. */
    const lostOutput = (output: Output, problems: FieldProblem[], maxBytes?: number) => {
      for (const log of output.logs) {
        if (output.complete) complete--;
        else partial--;
        lostLog(output.record, log, problems, maxBytes);
      }
    };
    /** An OTLP output as one message; one that cannot be written is tried log by log (the culprit is dead-lettered). */
    const publishOtlp = (output: Output) => {
      const otlp = output.otlp as OtlpLog[];
      let encoded: ReturnType<typeof encodeLogs>;
      try {
        encoded = encodeLogs(otlp, encoding as Exclude<OutputEncoding, 'json'>);
      } catch (error) {
        if (output.logs.length > 1) {
          for (let i = 0; i < output.logs.length; i++) publishOtlp(slice(output, i, i + 1));
          return;
        }
        lostOutput(output, [{ field: '(record)', reason: `could not be enriched: ${messageOf(error)}` }]);
        return;
      }
      push({ topic: output.topic, key: (output.logs[0] as LogEvent).event_id, value: encoded.value, headers: encoded.headers }, output);
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
          this.#deps.log.warn('record dead-lettered', { record: recordId(record.source), reason: 'malformed', problems: boundedProblems(record.problems) });
          messages.push(withTrace(letter, forwardedTrace(record.headers)));
          held.push(undefined);
          deadLettered++;
          continue;
        }
        if (attemptOf !== undefined) {
          const attempt = attemptOf(record);
          if (attempt !== undefined && attempt > 1) attempts.set(record, attempt);
        }
        const decoded = decodeRecord(record);
        if (decoded.ok === true) accept(decoded.log, record);
        else if (decoded.ok === false) deadLetter(record, decoded);
        else {
          const wanted = logsOf?.(record);
          for (const each of decoded.logs) {
            if (wanted !== undefined && !wanted.has((each.ok ? each.log.origin?.index : each.index) ?? -1)) continue;
            each.ok ? accept(each.log, record) : deadLetter(record, each);
          }
        }
      }
    }
    notes.flush(this.#deps.log);

    const metadata: ResolvedMetadata | undefined = logs.length > 0 ? await lookup.resolve({ ips, hostnames, services }) : undefined;
    if (metadata !== undefined) {
      const latencyMs = Math.round((this.#monotonic() - started) * 1000) / 1000;
      const first = new Merger(metadata, enrichedAt, latencyMs, this.#blocks);
      /** One merger per attempt (a merger writes one attempt); enrich's own batches have one. */
      const mergers = new Map<number, Merger>();
      const mergerOf = (record: KafkaEventRecord): Merger => {
        const attempt = attempts.get(record);
        if (attempt === undefined) return first;
        let merger = mergers.get(attempt);
        if (merger === undefined) {
          merger = new Merger(metadata, enrichedAt, latencyMs, this.#blocks, attempt);
          mergers.set(attempt, merger);
        }
        return merger;
      };
      // The logs of one record follow one another (`accept`): each record's run is grouped on its own.
      for (let start = 0, end = 0; start < logs.length; start = end) {
        const record = sources[start] as KafkaEventRecord;
        const merger = mergerOf(record);
        end = start + 1;
        while (end < logs.length && sources[end] === record) end++;
        /** This record's OTLP outputs in order of their first log, and by resource (then topic). */
        const groups: Output[] = [];
        // The logs of one ResourceLogs follow one another: most find the output of the log before theirs;
        // the map is made only for a record whose outputs are more than one.
        let byResource: Map<Resource, Output[]> | undefined;
        let last: Output | undefined;
        for (let i = start; i < end; i++) {
          const log = logs[i] as LogEvent;
          try {
            if (encoding === 'json') {
              // The record is its own coordinates (serialize reads topic, partition and offset only).
              const enriched = merger.serialize(log, record);
              const output: Output = { record, topic: topicFor(enriched.status, topics), complete: enriched.status === 'complete', logs: [log], otlp: undefined };
              if (output.complete) complete++;
              else partial++;
              push({ topic: output.topic, key: log.event_id, value: enriched.json }, output);
              continue;
            }
            const enriched = merger.merge(log, record);
            const otlp = otlpLog(enriched, log.origin);
            const topic = topicFor(enriched.enrichment.status, topics);
            let output = last !== undefined && last.topic === topic && last.otlp?.[0]?.resource === otlp.resource ? last : undefined;
            if (output === undefined) {
              if (last !== undefined && byResource === undefined) byResource = new Map([[last.otlp?.[0]?.resource as Resource, [last]]]);
              const outputs = byResource?.get(otlp.resource);
              output = outputs?.find((candidate) => candidate.topic === topic);
              if (output === undefined) {
                output = { record, topic, complete: enriched.enrichment.status === 'complete', logs: [], otlp: [] };
                groups.push(output);
                if (byResource !== undefined) {
                  if (outputs === undefined) byResource.set(otlp.resource, [output]);
                  else outputs.push(output);
                }
              }
              last = output;
            }
            output.logs.push(log);
            output.otlp?.push(otlp);
            if (output.complete) complete++;
            else partial++;
          } catch (error) {
            // One log's content (a value JSON cannot write) must not fail its batch: it is dead-lettered (an
            // OTLP log with its index; its value is then the whole record's, which holds it).
            lostLog(record, log, [{ field: '(record)', reason: `could not be enriched: ${messageOf(error)}` }]);
          }
        }
        for (const output of groups) publishOtlp(output);
      }
    }

    let failure: unknown;
    for (;;) {
      try {
        await publisher.publish(messages);
        failure = undefined;
        break;
      } catch (error) {
        failure = error;
        // Too large for the brokers (nothing was sent): split or dead-letter the offending outputs, publish again.
        if (!(error instanceof MessageTooLargeError) || error.indexes.some((index) => held[index] === undefined)) break;
        const offending = new Set(error.indexes);
        const [before, outputs] = [messages.splice(0), held.splice(0)];
        for (let i = 0; i < before.length; i++) {
          const output = outputs[i];
          if (!offending.has(i) || output === undefined) {
            messages.push(before[i] as OutgoingMessage);
            held.push(output);
            continue;
          }
          const bytes = Buffer.byteLength((before[i] as OutgoingMessage).value);
          const limit = `the brokers' limit of ${error.maxBytes} bytes (KAFKA_MESSAGE_MAX_BYTES)`;
          const resource = output.otlp === undefined || output.logs.length === 1 ? 0 : resourceBytes(output.otlp[0] as OtlpLog, encoding as Exclude<OutputEncoding, 'json'>);
          if (output.logs.length === 1) lostOutput(output, [{ field: '(output)', reason: `is ${bytes} bytes as ${encoding}, larger than ${limit}` }], error.maxBytes);
          else if (resource >= error.maxBytes) {
            lostOutput(output, [{ field: '(output)', reason: `its resource alone is ${resource} bytes as ${encoding}, larger than ${limit}` }], error.maxBytes);
          } else {
            const half = Math.ceil(output.logs.length / 2);
            publishOtlp(slice(output, 0, half));
            publishOtlp(slice(output, half, output.logs.length));
          }
        }
      }
    }
    notes.flush(this.#deps.log);
    const outcome: BatchOutcome = { records, logs: complete + partial + deadLettered, complete, partial, deadLettered };
    const latencyMs = this.#monotonic() - started;
    // The wall clock once per batch (at its start) plus the monotonic time since: acknowledged, in wall-clock ms.
    const endToEndMs = failure === undefined && attempts.size === 0 && sources.length > 0 ? endToEnd(sources, wallStart.getTime() + latencyMs) : undefined;
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
      ...(endToEndMs === undefined ? {} : { endToEndMs }),
    });
    const span = partitionSpans(event);
    const attempted = attempts.size === 0 ? {} : { attempts: [...new Set(attempts.values())].sort((a, b) => a - b) };
    if (failure !== undefined) {
      this.#deps.log.error('could not publish the batch; it will be redelivered', { partitions: span, ...attempted, outputs: messages.length, error: failure });
      throw failure;
    }
    this.#deps.log.info('batch enriched', { partitions: span, ...attempted, ...outcome, outputs: messages.length, latencyMs: Math.round(latencyMs) });
    return outcome;
  }
}

/**
 * Receipt → acknowledged, per Kafka record (not per log: the logs of one record follow one another in
 * `sources`), from the record's Kafka timestamp: one subtraction per record, no date parsing.
 */
function endToEnd(sources: readonly KafkaEventRecord[], now: number): number[] {
  const out: number[] = [];
  let previous: KafkaEventRecord | undefined;
  for (const record of sources) {
    if (record === previous) continue;
    previous = record;
    // A producer clock ahead of ours would make it negative: counted as immediate.
    if (record.timestamp > 0) out.push(Math.max(0, now - record.timestamp));
  }
  return out;
}

/** Part of an OTLP output: its logs from `from` to `to` (exclusive), same record, topic and resource. */
function slice(output: Output, from: number, to: number): Output {
  return { ...output, logs: output.logs.slice(from, to), otlp: output.otlp?.slice(from, to) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * The dead letters of a batch as its log lines: one per Kafka record, however many of its logs were
 * dead-lettered, with their number (OTLP logs) and the first one's reason and problems (bounded).
 */
class DeadLetterNotes {
  readonly #notes = new Map<KafkaEventRecord, { count: number; first: Pick<DecodeFailure, 'reason' | 'problems' | 'index'> }>();

  add(record: KafkaEventRecord, failure: Pick<DecodeFailure, 'reason' | 'problems' | 'index'>): void {
    const note = this.#notes.get(record);
    if (note === undefined) this.#notes.set(record, { count: 1, first: failure });
    else note.count++;
  }

  /** Logs one line per record noted since the last flush. */
  flush(log: Log): void {
    for (const [record, { count, first }] of this.#notes) {
      const logs = first.index === undefined ? {} : { logs: count, firstIndex: first.index };
      log.warn('record dead-lettered', { record: recordId(record), ...logs, reason: first.reason, problems: boundedProblems(first.problems) });
    }
    this.#notes.clear();
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
