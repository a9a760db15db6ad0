import { readFileSync } from 'node:fs';
import { ValidationError } from '#shared/errors.ts';
import { malformedRecordMessage, type DeadLetter } from '../../../functions/enrich/src/dead-letter.ts';
import { parseKafkaEvent } from '../../../functions/enrich/src/enrich-handler.ts';
import {
  checkRecord,
  decodeHeaders,
  type KafkaEventRecord,
  MalformedRecord,
  parsePartitionKey,
  toPollerHeaderBytes,
} from '../../../functions/enrich/src/kafka-event.ts';

const FIXTURES = new URL('../../fixtures/', import.meta.url);
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));

/** A well-formed record as the poller sends it (signed header bytes included), cloned per call. */
function pollerRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    topic: 'raw-logs',
    partition: 3,
    offset: 41,
    timestamp: 1_705_314_600_120,
    timestampType: 'CREATE_TIME',
    key: Buffer.from('k').toString('base64'),
    value: Buffer.from('{"event_id":"e-1"}').toString('base64'),
    headers: [{ tenant: [122, -61, -87] }],
    ...overrides,
  };
}

function malformed(raw: unknown, partitionKey = 'raw-logs-3'): MalformedRecord {
  const checked = checkRecord(raw, partitionKey);
  if (!(checked instanceof MalformedRecord)) throw new Error(`expected a malformed record, got ${JSON.stringify(checked)}`);
  return checked;
}

describe('parseKafkaEvent (the envelope)', () => {
  it.each([
    ['the AWS MSK sample', 'aws-msk-event.json'],
    ['the AWS self-managed Kafka sample', 'aws-self-managed-kafka-event.json'],
    ['the poller event with signed header bytes', 'poller-msk-event.json'],
  ])('accepts %s', (_label, name) => {
    const event = load(name);
    expect(parseKafkaEvent(event).records).toBe(event.records);
  });

  it.each([
    ['no eventSource', { records: {} }, 'eventSource'],
    ['an unknown eventSource', { eventSource: 'aws:sqs', records: {} }, 'eventSource'],
    ['an MSK event without its ARN', { eventSource: 'aws:kafka', records: {} }, 'eventSourceArn'],
    ['records that are not an object', { eventSource: 'SelfManagedKafka', records: [] }, 'records'],
    ['records missing', { eventSource: 'SelfManagedKafka' }, 'records'],
    ['a records-map entry that is not an array', { eventSource: 'SelfManagedKafka', records: { 'raw-logs-0': { offset: 1 } } }, 'records'],
  ])('throws a 400 ValidationError for %s', (_label, event, field) => {
    let error: unknown;
    try {
      parseKafkaEvent(event);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).statusCode).toBe(400);
    expect((error as ValidationError).problems.map((problem) => problem.field)).toContain(field);
  });

  it('leaves malformed records to the record check instead of failing the envelope', () => {
    const event = { eventSource: 'SelfManagedKafka', records: { 'raw-logs-0': [null, 'x', { offset: -1 }] } };
    expect(parseKafkaEvent(event).records['raw-logs-0']).toHaveLength(3);
  });
});

describe('checkRecord', () => {
  it('returns a well-formed record itself, signed header bytes included', () => {
    const raw = pollerRecord();
    expect(checkRecord(raw, 'raw-logs-3')).toBe(raw);
  });

  it.each([
    ['no key', { key: undefined }],
    ['a null key', { key: null }],
    ['no value (a tombstone, dead-lettered later as empty)', { value: undefined }],
    ['a null value', { value: null }],
    ['no headers', { headers: undefined }],
    ['empty headers', { headers: [] }],
    ['unsigned header bytes', { headers: [{ tenant: [122, 195, 169] }] }],
    ['the bounds -128 and 255', { headers: [{ a: [-128, 255, 0, 127] }] }],
    ['a header whose value is null', { headers: [{ tombstone: null }] }],
    ['LOG_APPEND_TIME', { timestampType: 'LOG_APPEND_TIME' }],
    ['Kafka\'s "no timestamp" (-1)', { timestamp: -1 }],
  ])('accepts %s', (_label, overrides) => {
    const raw = pollerRecord(overrides);
    expect(checkRecord(raw, 'raw-logs-3')).toBe(raw);
  });

  it.each([
    ['topic missing', { topic: undefined }, 'record.topic', 'is required'],
    ['topic empty', { topic: '' }, 'record.topic', 'must be a non-empty string'],
    ['partition missing', { partition: undefined }, 'record.partition', 'is required'],
    ['partition a string (as in an old AWS doc sample)', { partition: '0' }, 'record.partition', 'must be a non-negative integer'],
    ['partition negative', { partition: -1 }, 'record.partition', 'must be a non-negative integer'],
    ['offset missing', { offset: undefined }, 'record.offset', 'is required'],
    ['offset fractional', { offset: 1.5 }, 'record.offset', 'must be a non-negative integer'],
    ['offset beyond 2^53 (precision lost)', { offset: 2 ** 53 }, 'record.offset', 'must be a non-negative integer'],
    ['timestamp missing', { timestamp: undefined }, 'record.timestamp', 'is required'],
    ['timestamp a string', { timestamp: '2024-01-15T10:30:00Z' }, 'record.timestamp', 'must be epoch milliseconds (a finite number)'],
    ['timestampType missing', { timestampType: undefined }, 'record.timestampType', 'is required'],
    ['value a number', { value: 42 }, 'record.value', 'must be a base64 string or null'],
    ['value an object', { value: { level: 'INFO' } }, 'record.value', 'must be a base64 string or null'],
    ['value not base64', { value: 'not base64!' }, 'record.value', 'is not base64'],
    ['value base64 without its padding', { value: 'eyJhIjoxfQ' }, 'record.value', 'is not base64'],
    ['value base64url', { value: 'ab-_' }, 'record.value', 'is not base64'],
    ['key not base64', { key: 'k e y' }, 'record.key', 'is not base64'],
    ['key a number', { key: 7 }, 'record.key', 'must be a base64 string or null'],
    ['headers an object', { headers: { tenant: [1] } }, 'record.headers', 'must be a list of { name: [bytes] } objects'],
    ['a header entry that is not an object', { headers: ['tenant'] }, 'record.headers[0]', 'must be a { name: [bytes] } object'],
    ['a header value that is a string', { headers: [{ ok: [1] }, { tenant: 'zé' }] }, 'record.headers[1].tenant', 'must be a list of bytes or null'],
    ['a header byte below -128', { headers: [{ tenant: [122, -129] }] }, 'record.headers[0].tenant[1]', 'must be a byte (-128..255)'],
    ['a header byte above 255', { headers: [{ tenant: [256] }] }, 'record.headers[0].tenant[0]', 'must be a byte (-128..255)'],
    ['a header byte that is not an integer', { headers: [{ tenant: [1.5] }] }, 'record.headers[0].tenant[0]', 'must be a byte (-128..255)'],
    ['a header byte that is a string', { headers: [{ tenant: ['7'] }] }, 'record.headers[0].tenant[0]', 'must be a byte (-128..255)'],
  ])('refuses %s, naming the field', (_label, overrides, field, reason) => {
    expect(malformed(pollerRecord(overrides)).problems).toEqual([{ field, reason }]);
  });

  it('lists every problem of a record at once', () => {
    const record = malformed(pollerRecord({ offset: 'x', value: 42, headers: [{ t: [999] }] }));
    expect(record.problems.map((problem) => problem.field)).toEqual(['record.offset', 'record.value', 'record.headers[0].t[0]']);
  });

  it.each([null, 'a string', 42, [1, 2]])('refuses an entry that is not an object (%p)', (raw) => {
    const record = malformed(raw, 'raw-logs-3');
    expect(record.problems).toEqual([{ field: 'record', reason: 'must be an object' }]);
    expect(record.source).toEqual({ topic: 'raw-logs', partition: 3, offset: null, timestamp: null });
    expect(record.malformed).toEqual({ record: raw });
  });

  it('keeps the coordinates it can read, and takes topic and partition from the records-map key when the record has none', () => {
    const record = malformed(pollerRecord({ topic: undefined, partition: 'three', timestamp: 'late' }), 'app-raw-logs-3');
    expect(record.source).toEqual({ topic: 'app-raw-logs', partition: 3, offset: 41, timestamp: null });
    expect(record.id).toBe('app-raw-logs-3@41');
  });

  it('keeps well-formed key/value/headers and every refused field as received', () => {
    const record = malformed(pollerRecord({ offset: '41', headers: [{ t: [300] }] }));
    expect(record.key).toBe(Buffer.from('k').toString('base64'));
    expect(record.value).toBe(Buffer.from('{"event_id":"e-1"}').toString('base64'));
    expect(record.headers).toBeNull();
    expect(record.malformed).toEqual({ offset: '41', headers: [{ t: [300] }] });
  });

  it('identifies a record without a readable offset by its bytes: stable for the same record, distinct for another', () => {
    const first = malformed(pollerRecord({ offset: undefined, value: Buffer.from('a').toString('base64') }));
    const again = malformed(pollerRecord({ offset: undefined, value: Buffer.from('a').toString('base64') }));
    const other = malformed(pollerRecord({ offset: undefined, value: Buffer.from('b').toString('base64') }));
    expect(first.id).toMatch(/^raw-logs-3@\?#[0-9a-f]{16}$/);
    expect(again.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
  });

  it('does not throw on values JSON cannot write (a bigint offset from a local caller)', () => {
    const record = malformed(pollerRecord({ offset: 41n }));
    expect(record.problems).toEqual([{ field: 'record.offset', reason: 'must be a non-negative integer' }]);
    expect(record.id).toMatch(/^raw-logs-3@\?#/);
    expect(JSON.parse(String(malformedRecordMessage(record, 'dlq', '2024-01-15T10:30:00.000Z').value)).original.malformed).toEqual({ offset: '41' });
  });
});

describe('malformedRecordMessage', () => {
  it('dead-letters a malformed record with its reason, coordinates and original fields, keyed by its event id', () => {
    // Prepare
    const record = malformed(pollerRecord({ partition: undefined, headers: [{ tenant: [122, -61, 999] }] }));
    // Act
    const message = malformedRecordMessage(record, 'raw-logs-dlq', '2024-01-15T10:30:00.000Z');
    // Assess
    expect(message.topic).toBe('raw-logs-dlq');
    expect(message.key).toBe('e-1');
    const letter = JSON.parse(String(message.value)) as DeadLetter;
    expect(letter).toEqual({
      reason: 'malformed',
      problems: [
        { field: 'record.partition', reason: 'is required' },
        { field: 'record.headers[0].tenant[2]', reason: 'must be a byte (-128..255)' },
      ],
      event_id: 'e-1',
      source: { topic: 'raw-logs', partition: 3, offset: 41, timestamp: 1_705_314_600_120 },
      original: {
        key: Buffer.from('k').toString('base64'),
        value: Buffer.from('{"event_id":"e-1"}').toString('base64'),
        headers: null,
        malformed: { headers: [{ tenant: [122, -61, 999] }] },
      },
      failed_at: '2024-01-15T10:30:00.000Z',
    });
  });

  it('keys a dead letter without an event id by its coordinates', () => {
    const record = malformed(pollerRecord({ value: 'not base64!' }));
    const message = malformedRecordMessage(record, 'dlq', '2024-01-15T10:30:00.000Z');
    expect(message.key).toBe('raw-logs-3@41');
    expect(JSON.parse(String(message.value))).toMatchObject({ event_id: null, original: { value: null, malformed: { value: 'not base64!' } } });
  });
});

describe('header bytes', () => {
  it('decodes signed (Java) and unsigned bytes to the same text', () => {
    expect(decodeHeaders([{ tenant: [122, -61, -87] }, { plain: [122, 195, 169] }])).toEqual({ tenant: 'zé', plain: 'zé' });
  });

  it('decodes a null header value as empty', () => {
    expect(decodeHeaders([{ empty: null }])).toEqual({ empty: '' });
  });

  it('decodes each negative byte as the byte 256 above it, and ASCII as itself', () => {
    for (let byte = 128; byte <= 255; byte++) {
      // Two-byte UTF-8 sequences (0xC3 then a continuation byte) so that every byte value reaches the text.
      expect(decodeHeaders([{ h: [0xc3 - 256, byte - 256] }])).toEqual(decodeHeaders([{ h: [0xc3, byte] }]));
    }
    for (let byte = 0; byte <= 127; byte++) expect(decodeHeaders([{ h: [byte] }])).toEqual({ h: String.fromCharCode(byte) });
  });

  it('decodes the traceparent of the AWS-shaped fixture', () => {
    const event = load('poller-msk-event.json') as { records: Record<string, KafkaEventRecord[]> };
    const headers = decodeHeaders(event.records['raw-logs-0']?.[0]?.headers);
    expect(headers).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tenant: 'zé' });
  });

  it('maps bytes to the signed bytes the poller sends, and back', () => {
    const bytes = Buffer.from([0, 1, 127, 128, 195, 169, 255]);
    const signed = toPollerHeaderBytes(bytes);
    expect(signed).toEqual([0, 1, 127, -128, -61, -87, -1]);
    expect(toPollerHeaderBytes(Buffer.from('zé'))).toEqual([122, -61, -87]);
    expect(decodeHeaders([{ h: toPollerHeaderBytes(Buffer.from('zé')) }])).toEqual({ h: 'zé' });
  });

  it('reads a view into a larger buffer from its own offset', () => {
    const pool = Buffer.from('xxzéyy');
    expect(toPollerHeaderBytes(pool.subarray(2, 5))).toEqual([122, -61, -87]);
  });
});

describe('parsePartitionKey', () => {
  it.each([
    ['raw-logs-0', { topic: 'raw-logs', partition: 0 }],
    ['my-topic-with-dashes-12', { topic: 'my-topic-with-dashes', partition: 12 }],
    ['mytopic-0', { topic: 'mytopic', partition: 0 }],
    ['no-partition-', undefined],
    ['-3', undefined],
    ['raw-logs-x', undefined],
    ['rawlogs', undefined],
  ])('%s → %p', (key, expected) => {
    expect(parsePartitionKey(key)).toEqual(expected);
  });
});
