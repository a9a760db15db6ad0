/**
 * OTLP log requests as a real OpenTelemetry client writes them: logs emitted through the OpenTelemetry JS logs
 * SDK (`LoggerProvider`, one per resource, built with `resourceFromAttributes`), collected by its
 * `InMemoryLogRecordExporter`, and serialized by `@opentelemetry/otlp-transformer` (`ProtobufLogsSerializer`
 * for otlp_proto, `JsonLogsSerializer` for otlp_json): the same bytes its OTLP exporters send, and the same
 * message an OpenTelemetry Collector's Kafka exporter writes (an `ExportLogsServiceRequest`). Nothing here
 * builds OTLP by hand.
 *
 * Rules of the helper:
 * - A request is described as resources → scopes → logs; the serializer groups records by resource and scope,
 *   so the logs come out in the order described as long as the scopes of one resource differ (name, version
 *   or attributes). `logPositions` gives each log's index in the request (what the pipeline calls
 *   `source.index`), counted over every resourceLogs and scopeLogs in order.
 * - A log's `span` becomes the record's traceId, spanId and flags through the API's context, as an
 *   instrumented app's active span would.
 * - `produceOtlp` writes each request as one Kafka record, in order, with the header `content-type` only when
 *   asked (a Collector's Kafka exporter sends none: the pipeline then recognises the encoding by its content).
 *
 * @example
 * const value = await otlpRequest([{ attributes: { 'service.name': 'checkout', 'host.name': 'web-01' },
 *   scopes: [{ name: 'checkout.http', logs: [{ body: 'paid', severityNumber: SeverityNumber.INFO }] }] }], 'otlp_proto');
 * await produceOtlp(topics.raw, [{ value }]);
 */
import { type Attributes, context, type LogRecord, type SpanContext, trace } from '@opentelemetry/api';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import type { InputEncoding } from '../../functions/enrich/src/otlp/types.ts';

export { SeverityNumber } from '@opentelemetry/api';

export type OtlpEncoding = Exclude<InputEncoding, 'json'>;

/** One log as an app emits it (`logger.emit`), plus the span it was emitted under. */
export interface SdkLog extends Omit<LogRecord, 'context'> {
  span?: SpanContext;
}

export interface SdkScope {
  /** The instrumentation scope: the logger's name (`provider.getLogger(name, version)`). */
  name: string;
  version?: string;
  attributes?: Attributes;
  schemaUrl?: string;
  logs: readonly SdkLog[];
}

export interface SdkResource {
  /** Resource attributes (`resourceFromAttributes`), e.g. `service.name`, `host.name`, `host.ip`. */
  attributes: Attributes;
  scopes: readonly SdkScope[];
}

/** The content-type the OTLP/HTTP exporters send for each encoding (and the pipeline's header rule reads). */
export const CONTENT_TYPE: Record<OtlpEncoding, string> = {
  otlp_proto: 'application/x-protobuf',
  otlp_json: 'application/json',
};

/**
 * The SDK's finished log records for `resources`, in request order.
 *
 * @example
 * const records = await sdkLogRecords([{ attributes: { 'service.name': 'svc' }, scopes: [{ name: 'app', logs: [{ body: 'hi' }] }] }]);
 * records[0]?.body; // 'hi'
 */
export async function sdkLogRecords(resources: readonly SdkResource[]): Promise<ReadableLogRecord[]> {
  const records: ReadableLogRecord[] = [];
  for (const resource of resources) {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      resource: resourceFromAttributes(resource.attributes),
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    for (const scope of resource.scopes) {
      const logger = provider.getLogger(scope.name, scope.version, {
        ...(scope.attributes === undefined ? {} : { attributes: scope.attributes }),
        ...(scope.schemaUrl === undefined ? {} : { schemaUrl: scope.schemaUrl }),
      });
      for (const { span, ...log } of scope.logs) {
        logger.emit(span === undefined ? log : { ...log, context: trace.setSpanContext(context.active(), span) });
      }
    }
    // The simple processor exports on a later tick; flushing waits for it. Shutting down clears the in-memory
    // exporter, so the records are taken first.
    await provider.forceFlush();
    records.push(...exporter.getFinishedLogRecords());
    await provider.shutdown();
  }
  return records;
}

/**
 * The serializer's bytes for `records`: an `ExportLogsServiceRequest` in protobuf or in OTLP/JSON (UTF-8).
 *
 * @example
 * serializeLogs(await sdkLogRecords(resources), 'otlp_json').toString('utf8'); // '{"resourceLogs":[…]}'
 */
export function serializeLogs(records: ReadableLogRecord[], encoding: OtlpEncoding): Buffer {
  const bytes = (encoding === 'otlp_proto' ? ProtobufLogsSerializer : JsonLogsSerializer).serializeRequest(records);
  if (bytes === undefined) throw new Error(`the ${encoding} serializer wrote nothing for ${records.length} log records`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * One `ExportLogsServiceRequest` holding every log of `resources`, as the SDK serializes it.
 *
 * @example
 * const value = await otlpRequest([{ attributes: { 'host.name': 'web-01' }, scopes: [{ name: 'app', logs: [{ body: 'a' }, { body: 'b' }] }] }], 'otlp_json');
 */
export async function otlpRequest(resources: readonly SdkResource[], encoding: OtlpEncoding): Promise<Buffer> {
  return serializeLogs(await sdkLogRecords(resources), encoding);
}

/** Where each described log sits in its request. */
export interface LogPosition {
  /** Index in the request, over every resourceLogs and scopeLogs in order (`source.index`). */
  index: number;
  resource: number;
  scope: number;
  record: number;
  log: SdkLog;
}

/**
 * The position in the request of every log of `resources`, in order (valid when the scopes of each resource
 * differ, see the module comment).
 *
 * @example
 * logPositions([{ attributes: {}, scopes: [{ name: 'a', logs: [x, y] }, { name: 'b', logs: [z] }] }]).map((p) => p.index); // [0, 1, 2]
 */
export function logPositions(resources: readonly SdkResource[]): LogPosition[] {
  const positions: LogPosition[] = [];
  resources.forEach((resource, r) => {
    resource.scopes.forEach((scope, s) => {
      scope.logs.forEach((log, l) => {
        positions.push({ index: positions.length, resource: r, scope: s, record: l, log });
      });
    });
  });
  return positions;
}

export interface OtlpMessage {
  value: Buffer | string;
  /** Kafka record key; default none that matters (`otlp`): the Collector's exporter sends none by default. */
  key?: string;
  headers?: Record<string, string>;
}

/**
 * Produces the requests onto `topic`, one Kafka record each, in order (on a one-partition topic they get
 * consecutive offsets), acknowledged by the broker before it resolves.
 *
 * @example
 * await produceOtlp('raw-logs', [{ value, headers: { 'content-type': CONTENT_TYPE.otlp_proto } }]);
 */
export async function produceOtlp(topic: string, messages: readonly OtlpMessage[]): Promise<void> {
  const publisher = new KafkaPublisher(readConfig(kafkaEnv), 'otlp-sdk-test-producer');
  try {
    await publisher.publish(
      messages.map((message) => ({
        topic,
        key: message.key ?? 'otlp',
        value: message.value,
        ...(message.headers === undefined ? {} : { headers: message.headers }),
      })),
    );
  } finally {
    await publisher.close();
  }
}
