/**
 * The OTLP/JSON rules checker of tests/support/otlp-proto.ts catches each way an otlp_json value can break the
 * OTLP/JSON encoding (what proto3 JSON writes and OTLP does not accept, among others): a checker that never
 * fails would make the otlp_json tests prove nothing. Each broken value starts from a real output of the
 * encoder, which itself passes.
 */
import { Merger } from '../../../functions/enrich/src/enriched-log.ts';
import { NONE } from '../../../functions/enrich/src/log-event.ts';
import { encodeLogs, otlpLog } from '../../../functions/enrich/src/otlp/encode-otlp.ts';
import { NOT_FOUND, type ResolvedMetadata } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { otlpJsonProblems } from '../../support/otlp-proto.ts';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const RECORD = 'resourceLogs[0].scopeLogs[0].logRecords[0]';

interface Json {
  resourceLogs: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeLogs: { logRecords: Record<string, unknown>[] }[] }[];
}

/** A real otlp_json output (a JSON log, an int attribute, a trace id), parsed. */
function output(): Json {
  const metadata: ResolvedMetadata = { hostsByIp: new Map(), hostsByName: new Map(), services: new Map([['payment-api', NOT_FOUND]]), networks: new Map(), tally: emptyTally() };
  const enriched = new Merger(metadata, '2024-01-15T10:30:01.000Z', 2).merge(
    {
      level: 'INFO',
      message: 'paid',
      service: 'payment-api',
      source_ip: '10.0.0.1',
      timestamp: '2024-01-15T10:30:00.123Z',
      trace_id: TRACE_ID,
      attributes: { count: 42 },
      event_id: '6229f364-b388-56f8-85c6-3af2cc4cfd50',
      received_at: '2024-01-15T10:30:00.500Z',
      derived: NONE,
      dropped_attributes: NONE,
    },
    { topic: 'raw-logs', partition: 0, offset: 1 },
  );
  return JSON.parse(encodeLogs([otlpLog(enriched, undefined)], 'otlp_json').value as string) as Json;
}

function record(json: Json): Record<string, unknown> {
  const found = json.resourceLogs[0]?.scopeLogs[0]?.logRecords[0];
  if (found === undefined) throw new Error('no log record');
  return found;
}

it('passes the encoder\'s own output', () => {
  expect(otlpJsonProblems(output())).toEqual([]);
});

it.each<[string, (json: Json) => void, string]>([
  [
    'a base64 trace id (proto3 JSON\'s bytes)',
    (json) => {
      record(json).traceId = Buffer.from(TRACE_ID, 'hex').toString('base64');
    },
    `${RECORD}.traceId: must be 32 hex digits (not base64): "W47/95gDgQPSabYzgT/GDA=="`,
  ],
  [
    'a trace id of the wrong length',
    (json) => {
      record(json).traceId = TRACE_ID.slice(2);
    },
    `${RECORD}.traceId: must be 32 hex digits (not base64): "${TRACE_ID.slice(2)}"`,
  ],
  [
    'a 64-bit time as a JSON number',
    (json) => {
      record(json).timeUnixNano = 1705314600123000000;
    },
    `${RECORD}.timeUnixNano: a 64-bit integer must be a decimal string, not 1705314600123000000`,
  ],
  [
    'an int attribute as a JSON number (what the JS SDK\'s JsonLogsSerializer writes)',
    (json) => {
      const attribute = (record(json).attributes as { key: string; value: Record<string, unknown> }[]).find(({ key }) => key === 'count');
      if (attribute !== undefined) attribute.value.intValue = 42;
    },
    `${RECORD}.attributes[0].value.intValue: a 64-bit integer must be a decimal string, not 42`,
  ],
  [
    'the record\'s enrichment.source.offset (an int64) as a JSON number',
    (json) => {
      const attribute = (record(json).attributes as { key: string; value: Record<string, unknown> }[]).find(({ key }) => key === 'enrichment.source.offset');
      if (attribute !== undefined) attribute.value.intValue = 1;
    },
    `${RECORD}.attributes[7].value.intValue: a 64-bit integer must be a decimal string, not 1`,
  ],
  [
    'a time beyond fixed64 (2^64 ns: 2554-07-21T23:34:33.709551616Z)',
    (json) => {
      record(json).timeUnixNano = '18446744073709551616';
    },
    `${RECORD}.timeUnixNano: out of the range of fixed64: "18446744073709551616"`,
  ],
  [
    'an int attribute beyond int64',
    (json) => {
      const attribute = (record(json).attributes as { key: string; value: Record<string, unknown> }[]).find(({ key }) => key === 'count');
      if (attribute !== undefined) attribute.value.intValue = '9223372036854775808';
    },
    `${RECORD}.attributes[0].value.intValue: out of the range of int64: "9223372036854775808"`,
  ],
  [
    'an enum by name',
    (json) => {
      record(json).severityNumber = 'SEVERITY_NUMBER_INFO';
    },
    `${RECORD}.severityNumber: an enum must be an integer, not "SEVERITY_NUMBER_INFO"`,
  ],
  [
    'a proto field name as the key',
    (json) => {
      const fields = record(json);
      fields.time_unix_nano = fields.timeUnixNano;
      delete fields.timeUnixNano;
    },
    `${RECORD}.time_unix_nano: a proto field name: OTLP/JSON keys are lowerCamelCase (timeUnixNano)`,
  ],
  [
    'two members of a oneof',
    (json) => {
      record(json).body = { stringValue: 'paid', intValue: '1' };
    },
    `${RECORD}.body: one of value only, found stringValue, intValue`,
  ],
  [
    'an unknown field',
    (json) => {
      record(json).severity = 'INFO';
    },
    `${RECORD}.severity: not a field of LogRecord`,
  ],
])('fails %s', (_name, breakIt, problem) => {
  // Prepare
  const json = output();

  // Act
  breakIt(json);

  // Assess
  expect(otlpJsonProblems(json)).toEqual([problem]);
});
