/**
 * Reading the enrich outputs back when they may be OTLP: the three output topics of a test's throwaway set,
 * each record kept as bytes (an otlp_proto value is not text), with its headers and coordinates. Dead letters
 * stay our JSON whatever OUTPUT_ENCODING says, so they are parsed. Same rules as `collectOutputs` of
 * ../enrich/support.ts (fresh consumer group, from the start of the throwaway topics, stop when `done`),
 * except that redeliveries are all kept: the tests count them. `readRawUntil` reads one shared topic the same
 * way from a snapshot of its ends; `otlpViews` turns an OTLP output of either encoding into plain values, one
 * view per log record it holds (an output holds the logs of one raw record, topic and resource), `otlpView`
 * the first of them.
 */
import { type Message, MessagesStreamModes } from '@platformatic/kafka';
import { decodeOtlpProto } from '../../support/otlp-proto.ts';
import { readTopicsUntil, type Topics } from '../enrich/support.ts';

/** One enriched output as read from its topic. */
export interface RawOutput {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface RawOutputs {
  complete: RawOutput[];
  partial: RawOutput[];
  dlq: Record<string, unknown>[];
}

/**
 * Reads the complete, partial and dead-letter topics of `topics` until `done(outputs)` or the timeout.
 *
 * @example
 * const outputs = await collectRawOutputs(topics, (out) => out.complete.length + out.partial.length >= 5);
 */
export async function collectRawOutputs(topics: Topics, done: (outputs: RawOutputs) => boolean, timeoutMs = 30_000): Promise<RawOutputs> {
  const outputs: RawOutputs = { complete: [], partial: [], dlq: [] };
  const stream = { topics: [topics.complete, topics.partial, topics.dlq], autocommit: false, mode: MessagesStreamModes.EARLIEST };
  await readTopicsUntil(
    stream,
    (message) => {
      if (message.topic === topics.dlq) outputs.dlq.push(JSON.parse(message.value.toString('utf8')) as Record<string, unknown>);
      else (message.topic === topics.complete ? outputs.complete : outputs.partial).push(rawOutput(message));
      return done(outputs);
    },
    { done: () => done(outputs), timeoutMs },
  );
  return outputs;
}

/**
 * Reads one topic from `fromOffsets` (from `latestOffsets` of tests/support/kafka.ts) until `count` records
 * `accepts` took, or the timeout; values stay bytes.
 *
 * @example
 * const before = await latestOffsets('enriched-logs-complete');
 * const [mine] = await readRawUntil({ topic: 'enriched-logs-complete', fromOffsets: before, accepts: (o) => o.value.includes(marker) });
 */
export async function readRawUntil(options: {
  topic: string;
  fromOffsets: readonly bigint[];
  accepts: (output: RawOutput) => boolean;
  count?: number;
  timeoutMs?: number;
}): Promise<RawOutput[]> {
  const { topic, fromOffsets, accepts } = options;
  const count = options.count ?? 1;
  const collected: RawOutput[] = [];
  const stream = { topics: [topic], autocommit: false, mode: MessagesStreamModes.MANUAL, offsets: fromOffsets.map((offset, partition) => ({ topic, partition, offset })) };
  await readTopicsUntil(
    stream,
    (message) => {
      const output = rawOutput(message);
      if (!accepts(output)) return false;
      collected.push(output);
      return collected.length >= count;
    },
    { timeoutMs: options.timeoutMs },
  );
  return collected;
}

export function rawOutput(message: Message): RawOutput {
  const headers: Record<string, string> = {};
  for (const [name, value] of message.headers) headers[name.toString('utf8')] = value.toString('utf8');
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key === undefined || message.key === null ? null : message.key.toString('utf8'),
    value: Buffer.from(message.value),
    headers,
  };
}

// ---------------------------------------------------------------- what an OTLP output says

type Json = Record<string, unknown>;

/** An AnyValue as a plain value: int64 → bigint (so an int and a double stay apart), kvlist → object, bytes → Buffer. */
export type PlainValue = string | boolean | bigint | number | Buffer | null | PlainValue[] | { [key: string]: PlainValue };

/** One log record of an ExportLogsServiceRequest, with its resource and scope, read the way a Collector reads it, as plain values. */
export interface OtlpLogView {
  /** Of the whole request. */
  resourceCount: number;
  scopeCount: number;
  recordCount: number;
  /** Resource attributes of the log's resourceLogs. */
  resource: Record<string, PlainValue>;
  scope: { name: string; version?: string; attributes?: Record<string, PlainValue> } | undefined;
  record: {
    timeUnixNano?: string;
    observedTimeUnixNano?: string;
    severityNumber?: number;
    severityText?: string;
    body?: PlainValue;
    eventName?: string;
    attributes: Record<string, PlainValue>;
    /** Hex, as OTLP/JSON writes them. */
    traceId?: string;
    spanId?: string;
    flags?: number;
  };
}

/**
 * An OTLP output as the plain views above, one per log record in request order: otlp_proto decoded by
 * `decodeOtlpProto` (protobufjs over the vendored official .proto text, tests/support/otlp-proto.ts) into the
 * OTLP/JSON form, otlp_json parsed as it is (hex ids, 64-bit integers as strings, enums as integers).
 *
 * @example
 * otlpViews(output.value, 'otlp_proto').map((log) => log.record.body); // ['paid', 'slow', …]
 */
export function otlpViews(value: Buffer, encoding: 'otlp_proto' | 'otlp_json'): OtlpLogView[] {
  return viewsOfJson((encoding === 'otlp_proto' ? decodeOtlpProto(value) : JSON.parse(value.toString('utf8'))) as Json);
}

/**
 * The first log record of an OTLP output (`otlpViews`).
 *
 * @example
 * otlpView(output.value, 'otlp_proto').resource['host.name']; // 'web-01'
 */
export function otlpView(value: Buffer, encoding: 'otlp_proto' | 'otlp_json'): OtlpLogView {
  const [first] = otlpViews(value, encoding);
  if (first === undefined) throw new Error('an OTLP output without log records');
  return first;
}

function viewsOfJson(request: Json): OtlpLogView[] {
  const resourceLogs = (request.resourceLogs as Json[] | undefined) ?? [];
  const scopesOf = (r: Json) => (r.scopeLogs as Json[] | undefined) ?? [];
  const recordsOf = (s: Json) => (s.logRecords as Json[] | undefined) ?? [];
  const counts = {
    resourceCount: resourceLogs.length,
    scopeCount: resourceLogs.reduce((sum, r) => sum + scopesOf(r).length, 0),
    recordCount: resourceLogs.reduce((sum, r) => sum + scopesOf(r).reduce((n, s) => n + recordsOf(s).length, 0), 0),
  };
  return resourceLogs.flatMap((r) => scopesOf(r).flatMap((s) => recordsOf(s).map((record) => viewOf(counts, r, s, record))));
}

function viewOf(counts: Pick<OtlpLogView, 'resourceCount' | 'scopeCount' | 'recordCount'>, resourceLogs: Json, scopeLogs: Json, record: Json): OtlpLogView {
  const scope = scopeLogs.scope as Json | undefined;
  const view: OtlpLogView = {
    ...counts,
    resource: attributesOf((resourceLogs.resource as Json | undefined)?.attributes),
    scope:
      scope === undefined
        ? undefined
        : {
            name: String(scope.name ?? ''),
            ...(scope.version === undefined ? {} : { version: String(scope.version) }),
            ...(scope.attributes === undefined ? {} : { attributes: attributesOf(scope.attributes) }),
          },
    record: { attributes: attributesOf(record.attributes) },
  };
  for (const key of ['timeUnixNano', 'observedTimeUnixNano', 'severityText', 'eventName', 'traceId', 'spanId'] as const) {
    if (record[key] !== undefined) view.record[key] = String(record[key]);
  }
  if (record.severityNumber !== undefined) view.record.severityNumber = Number(record.severityNumber);
  if (record.flags !== undefined) view.record.flags = Number(record.flags);
  if (record.body !== undefined) view.record.body = plain(record.body as Json);
  return view;
}

function attributesOf(list: unknown): Record<string, PlainValue> {
  const out: Record<string, PlainValue> = {};
  for (const kv of (list as Json[] | undefined) ?? []) out[String(kv.key)] = plain((kv.value as Json | undefined) ?? {});
  return out;
}

function plain(value: Json): PlainValue {
  if ('stringValue' in value) return String(value.stringValue);
  if ('boolValue' in value) return Boolean(value.boolValue);
  if ('intValue' in value) return BigInt(value.intValue as string | number);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('bytesValue' in value) return Buffer.from(String(value.bytesValue), 'base64');
  if ('arrayValue' in value) return (((value.arrayValue as Json).values as Json[] | undefined) ?? []).map(plain);
  if ('kvlistValue' in value) return attributesOf((value.kvlistValue as Json).values);
  return null;
}
