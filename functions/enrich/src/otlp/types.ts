/**
 * What the OTLP input side (./decode-otlp.ts) hands the OTLP output side (./encode-otlp.ts), and the two
 * encoding settings. A log decoded from an OTLP record carries its `OtlpOrigin`: the log record and its
 * resource and scope exactly as received (Protobuf-ES messages, whichever of the two OTLP encodings it came
 * in), so that an OTLP output keeps every attribute with its type (an int64 stays an int64, bytes stay bytes),
 * while the JSON output carries them as JSON under `attributes` (README, "OpenTelemetry").
 */
import type { InstrumentationScope } from '#shared/otlp/gen/opentelemetry/proto/common/v1/common_pb.js';
import type { LogRecord } from '#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js';
import type { Resource } from '#shared/otlp/gen/opentelemetry/proto/resource/v1/resource_pb.js';

/** How a raw-logs record's value is written: our JSON contract, or an OTLP `ExportLogsServiceRequest`. */
export type InputEncoding = 'json' | 'otlp_json' | 'otlp_proto';

/** How enriched outputs (complete and partial) are written: `OUTPUT_ENCODING`, per deployment. */
export const OUTPUT_ENCODINGS = ['json', 'otlp_json', 'otlp_proto'] as const;
export type OutputEncoding = (typeof OUTPUT_ENCODINGS)[number];

export interface OtlpOrigin {
  encoding: Exclude<InputEncoding, 'json'>;
  /** Position of the log record in its request, counted over every resourceLogs and scopeLogs in order. */
  index: number;
  resource: Resource | undefined;
  resourceSchemaUrl: string;
  scope: InstrumentationScope | undefined;
  scopeSchemaUrl: string;
  record: LogRecord;
}
