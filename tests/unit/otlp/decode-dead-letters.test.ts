/**
 * The dead letters of OTLP log records stay bounded whatever the request: the one-record requests kept by the
 * dead letters of one Kafka record stay within a budget (a resource problem shared by every log must not make
 * one copy of the resource per log), problem paths quote keys only in part, and no dead letter outgrows what
 * the dead-letter topic accepts (functions/enrich/src/otlp/decode-otlp.ts, functions/enrich/src/dead-letter.ts).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import { NESTING_RULE } from '#shared/schemas/log.ts';
import { DEAD_LETTER_LIMITS, type DeadLetter, deadLetterMessage, MAX_DEAD_LETTER_BYTES, VALUE_IN_SOURCE } from '../../../functions/enrich/src/dead-letter.ts';
import { type DecodeFailure, decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { MAX_RESOURCE_PROBLEMS, ORIGINALS_MIN_BUDGET } from '../../../functions/enrich/src/otlp/decode-otlp.ts';
import { attribute, otlpRecord, perLog, protoBytes, requestOf, text, textAttribute } from './decode-support.ts';

const FAILED_AT = '2024-01-15T10:30:00.000Z';
/** The broker's message.max.bytes by default. */
const BROKER_LIMIT = 1_048_588;

type AnyValue = Parameters<typeof attribute>[1];

function nestedValue(depth: number): AnyValue {
  let value: AnyValue = text('leaf');
  for (let i = 0; i < depth; i++) value = { value: { case: 'arrayValue', value: { values: [value] } } };
  return value;
}

function failures(decoded: ReturnType<typeof decodeRecord>): DecodeFailure[] {
  return perLog(decoded).map((each) => {
    if (each.ok) throw new Error('expected every log record to fail');
    return each;
  });
}

/** A request in the encoding asked for: protobuf, or the same in OTLP/JSON. */
function requestBytes(encoding: 'otlp_proto' | 'otlp_json', resource: { key: string; value: string }[], records: string[]): Uint8Array | string {
  if (encoding === 'otlp_proto') return protoBytes(requestOf(records.map((body) => ({ body: text(body) })), resource.map(({ key, value }) => textAttribute(key, value))));
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: resource.map(({ key, value }) => ({ key, value: { stringValue: value } })) },
        scopeLogs: [{ scope: { name: 'app' }, logRecords: records.map((body) => ({ body: { stringValue: body } })) }],
      },
    ],
  });
}

describe('the dead letters of a resource problem shared by many log records', () => {
  it.each(['otlp_proto', 'otlp_json'] as const)('keep their one-record requests (%s) within the size of the record, then point to it', (encoding) => {
    // Prepare: no service.name, a 300 KB resource attribute, 500 log records (was 200 MB of dead letters).
    const value = requestBytes(encoding, [{ key: 'host.name', value: 'web-01' }, { key: 'k8s.big', value: 'y'.repeat(300_000) }], Array.from({ length: 500 }, (_, i) => `m${i}`));
    const record = otlpRecord(value);
    const recordBytes = Buffer.byteLength(Buffer.from(value));
    // Act
    const failed = failures(decodeRecord(record));
    const letters = failed.map((failure) => deadLetterMessage(record, failure, 'dlq', FAILED_AT));
    // Assess
    expect(failed).toHaveLength(500);
    const kept = failed.filter((failure) => failure.value !== undefined);
    const keptBytes = kept.reduce((sum, failure) => sum + Buffer.from(failure.value ?? '', 'base64').length, 0);
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(keptBytes).toBeLessThanOrEqual(Math.max(recordBytes, ORIGINALS_MIN_BUDGET));
    const total = letters.reduce((sum, letter) => sum + Buffer.byteLength(String(letter.value)), 0);
    expect(total).toBeLessThan(2 * recordBytes + 500 * 1_024);
    // The first keeps its request (replayable); the others say where the log is.
    const [first, ...rest] = letters.map((letter) => JSON.parse(String(letter.value)) as DeadLetter);
    expect(first?.original.value).toBe(failed[0]?.value);
    expect(rest.at(-1)).toMatchObject({
      source: { topic: 'raw-logs', offset: record.offset, index: 499 },
      problems: [{ field: 'resourceLogs[0].resource.attributes["service.name"]', reason: 'is required' }],
      original: { key: null, value: null, truncated: true, value_omitted: VALUE_IN_SOURCE },
    });
  });

  it('keep every one-record request of a small request', () => {
    // Prepare
    const record = otlpRecord(protoBytes(requestOf([{ body: text('a') }, { body: text('b') }, { body: text('c') }], [textAttribute('host.name', 'web-01')])));
    // Act
    const failed = failures(decodeRecord(record));
    // Assess
    expect(failed.map((failure) => failure.valueOmitted)).toEqual([undefined, undefined, undefined]);
    const bodies = failed.map((failure) => fromBinary(ExportLogsServiceRequestSchema, Buffer.from(failure.value ?? '', 'base64')).resourceLogs[0]?.scopeLogs[0]?.logRecords[0]?.body?.value.value);
    expect(bodies).toEqual(['a', 'b', 'c']);
  });

  it('list at most MAX_RESOURCE_PROBLEMS of the resource problems in each, the last saying how many more', () => {
    // Prepare: 1,000 resource attributes too deep, 50 log records.
    const deep = nestedValue(40);
    const resource = [textAttribute('service.name', 'checkout'), textAttribute('host.name', 'web-01'), ...Array.from({ length: 1_000 }, (_, i) => attribute(`deep.${i}`, deep))];
    const record = otlpRecord(protoBytes(requestOf(Array.from({ length: 50 }, (_, i) => ({ body: text(`m${i}`) })), resource)));
    // Act
    const failed = failures(decodeRecord(record));
    // Assess
    for (const failure of failed) expect(failure.problems).toHaveLength(MAX_RESOURCE_PROBLEMS);
    expect(failed[0]?.problems[0]).toEqual({ field: 'resourceLogs[0].resource.attributes["deep.0"]', reason: NESTING_RULE });
    expect(failed[0]?.problems.at(-1)).toEqual({ field: 'resourceLogs[0].resource.attributes', reason: `and ${1_000 - MAX_RESOURCE_PROBLEMS + 1} more attributes nested deeper than 32 levels` });
  });

  it("keep the record's key in each only when it is small", () => {
    // Prepare
    const value = protoBytes(requestOf([{ body: text('a') }, { body: text('b') }], [textAttribute('host.name', 'web-01')]));
    const small = otlpRecord(value, {}, { key: Buffer.from('tenant-7').toString('base64') });
    const large = otlpRecord(value, {}, { key: Buffer.alloc(200_000, 0x6b).toString('base64') });
    // Act
    const letters = (record: typeof small) => failures(decodeRecord(record)).map((failure) => JSON.parse(String(deadLetterMessage(record, failure, 'dlq', FAILED_AT).value)) as DeadLetter);
    // Assess
    expect(letters(small).map((letter) => letter.original.key)).toEqual([small.key, small.key]);
    expect(letters(large).map((letter) => letter.original)).toEqual([expect.objectContaining({ key: null, key_bytes: 200_000, truncated: true }), expect.objectContaining({ key: null, key_bytes: 200_000 })]);
  });
});

describe('problem paths and the size of a dead letter', () => {
  it('quote a long attribute key only in part', () => {
    // Prepare: the same 240 KB key twice, too deep (was a 1.1 MB dead letter the broker refused).
    const key = 'k'.repeat(240_000);
    const record = otlpRecord(protoBytes(requestOf([{ body: text('x'), attributes: [attribute(key, nestedValue(40)), attribute(key, nestedValue(40))] }])));
    // Act
    const [failure] = failures(decodeRecord(record));
    // Assess
    const path = `resourceLogs[0].scopeLogs[0].logRecords[0].attributes["${'k'.repeat(128)}"…(240000 chars)]`;
    expect(failure?.problems).toEqual([
      { field: path, reason: NESTING_RULE },
      { field: path, reason: NESTING_RULE },
    ]);
    // Its dead letter (which keeps the request, 480 KB, as a prefix) is one the broker accepts.
    const letter = deadLetterMessage(record, failure as DecodeFailure, 'dlq', FAILED_AT);
    expect(Buffer.byteLength(String(letter.value))).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    expect(Buffer.byteLength(JSON.stringify((JSON.parse(String(letter.value)) as DeadLetter).problems))).toBeLessThan(1_024);
  });

  it('is never larger than MAX_DEAD_LETTER_BYTES, below what the broker accepts, whatever it holds', () => {
    // Prepare: the worst a record may bring: key and value of 512 KiB each, 40 KB of headers, and 10,000
    // problems each with a 10,000-character field and reason full of characters JSON escapes.
    const huge = '"\u0001'.repeat(5_000);
    const record = otlpRecord(Buffer.alloc(DEAD_LETTER_LIMITS.originalBytes, 0x61), {}, {
      key: Buffer.alloc(DEAD_LETTER_LIMITS.originalBytes, 0x6b).toString('base64'),
      headers: [{ big: Array.from({ length: 10_000 }, () => -128) }],
    });
    const problems = Array.from({ length: 10_000 }, (_, i) => ({ field: `${i}${huge}`, reason: huge }));
    // Act
    const letter = deadLetterMessage(record, { reason: 'invalid', problems, eventId: undefined }, 'dlq', FAILED_AT);
    // Assess
    const bytes = Buffer.byteLength(String(letter.value));
    expect(MAX_DEAD_LETTER_BYTES).toBeLessThan(BROKER_LIMIT);
    expect(bytes).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    const parsed = JSON.parse(String(letter.value)) as DeadLetter;
    expect(Buffer.byteLength(JSON.stringify(parsed.problems))).toBeLessThanOrEqual(DEAD_LETTER_LIMITS.problemsBytes + 200);
    expect(parsed.problems.at(-1)).toEqual({ field: '(problems)', reason: expect.stringMatching(/^and \d+ more, not kept/) });
    expect(parsed.original).toMatchObject({ truncated: true, key_bytes: DEAD_LETTER_LIMITS.originalBytes, value_bytes: DEAD_LETTER_LIMITS.originalBytes, headers: null });
  });

  it('keeps problems, key, value and headers as they are when they are small', () => {
    const record = otlpRecord('{"level":"INFO"}', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    const problems = [{ field: 'message', reason: 'is required' }];
    const letter = JSON.parse(String(deadLetterMessage(record, { reason: 'invalid', problems, eventId: undefined }, 'dlq', FAILED_AT).value)) as DeadLetter;
    expect(letter).toMatchObject({ problems, original: { key: null, value: record.value, headers: record.headers } });
    expect(letter.original.truncated).toBeUndefined();
  });
});
