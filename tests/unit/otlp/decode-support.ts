/**
 * What the OTLP input tests share: Kafka records holding OTLP requests (the OpenTelemetry JS SDK's, through
 * tests/support/otlp-sdk.ts, or hand-built with Protobuf-ES `create` for the edge cases no SDK writes), and
 * the per-log results of decoding one.
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import type { AnyValueSchema, KeyValueSchema } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import type { LogRecordSchema } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import type { Decoded, DecodedLog, DecodeFailure } from '../../../functions/enrich/src/decode.ts';
import type { KafkaEventRecord } from '../../../functions/enrich/src/kafka-event.ts';

export type RequestInit = MessageInitShape<typeof ExportLogsServiceRequestSchema>;
export type LogRecordInit = MessageInitShape<typeof LogRecordSchema>;
type KeyValueInit = MessageInitShape<typeof KeyValueSchema>;
type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;

let offset = 1_000;

/** A raw-logs record whose value is `value` (bytes or text), with `headers` as the poller sends them. */
export function otlpRecord(value: Uint8Array | string, headers: Record<string, string> = {}, overrides: Partial<KafkaEventRecord> = {}): KafkaEventRecord {
  return {
    topic: 'raw-logs',
    partition: 0,
    offset: offset++,
    timestamp: 1_705_314_600_000,
    timestampType: 'CREATE_TIME',
    value: Buffer.from(value).toString('base64'),
    headers: Object.entries(headers).map(([name, text]) => ({ [name]: [...Buffer.from(text)] })),
    ...overrides,
  };
}

/** A hand-built request in protobuf. */
export function protoBytes(init: RequestInit): Uint8Array {
  return toBinary(ExportLogsServiceRequestSchema, create(ExportLogsServiceRequestSchema, init));
}

export const text = (value: string): AnyValueInit => ({ value: { case: 'stringValue', value } });
export const attribute = (key: string, value: AnyValueInit): KeyValueInit => ({ key, value });
export const textAttribute = (key: string, value: string): KeyValueInit => attribute(key, text(value));

/** A resource that passes the contract: a service and a host name. */
export const RESOURCE = [textAttribute('service.name', 'checkout'), textAttribute('host.name', 'web-01')];

/** A request of one resource and one scope holding `records`. */
export function requestOf(records: LogRecordInit[], resource = RESOURCE): RequestInit {
  return { resourceLogs: [{ resource: { attributes: resource }, scopeLogs: [{ scope: { name: 'app' }, logRecords: records }] }] };
}

/** The per-log results of a decoded OTLP request (fails the test when it is anything else). */
export function perLog(decoded: Decoded): (DecodedLog | DecodeFailure)[] {
  if (decoded.ok !== 'logs') throw new Error(`expected an OTLP request with log records, got ${JSON.stringify(decoded)}`);
  return decoded.logs;
}

/** The one log of a one-record request. */
export function onlyLog(decoded: Decoded): DecodedLog['log'] {
  const [only, ...rest] = perLog(decoded);
  if (only === undefined || rest.length > 0) throw new Error('expected exactly one log record');
  if (!only.ok) throw new Error(`expected a log, got ${JSON.stringify(only.problems)}`);
  return only.log;
}

/** The one failure of a one-record request. */
export function onlyFailure(decoded: Decoded): DecodeFailure {
  const [only, ...rest] = perLog(decoded);
  if (only === undefined || rest.length > 0) throw new Error('expected exactly one log record');
  if (only.ok) throw new Error('expected a failure');
  return only;
}
