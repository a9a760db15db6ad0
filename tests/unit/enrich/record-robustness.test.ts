/**
 * One record's content never fails its batch (a failed batch is retried forever and stalls its partition):
 * whatever a value holds, it is enriched or dead-lettered on its own, and its dead letter fits on the broker.
 * The cases of a review of the decode path, each with the input that used to fail.
 */
import { createHash } from 'node:crypto';
import { silentLog } from '#shared/log-port.ts';
import { DEAD_LETTER_LIMITS, deadLetterMessage } from '../../../functions/enrich/src/dead-letter.ts';
import { decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { checkRecord, decodeHeaders, MalformedRecord } from '../../../functions/enrich/src/kafka-event.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { buildLookup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, RecordingMetrics, rawLog, service } from './fakes.ts';
import { expectValidEnrichedLog } from './schema.ts';

const TOPICS = { complete: 'complete', partial: 'partial', deadLetter: 'dlq' };
const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64');
const foreignLog = { level: 'INFO', message: 'from kcat', service: 'payment-api', hostname: 'web-1' };
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** JSON.parse reads these; JSON.stringify of the nested member (the contract's, the fast path's) overflows the stack. */
const deepValues = {
  'an extra field nested 5,000 deep': `{"level":"INFO","message":"m","service":"s","hostname":"h","a":${nested(5000)}}`,
  'attributes nested 5,000 deep in a record of our own shape (the fast path)': JSON.stringify(rawLog({ attributes: { a: '#' } })).replace('"#"', nested(5000)),
};
const deepValue = deepValues['attributes nested 5,000 deep in a record of our own shape (the fast path)'];

function setup() {
  const source = new FakeSource();
  source.hosts = [host({ hostname: 'web-1' })];
  source.services = [service({ name: 'payment-api' })];
  const publisher = new FakePublisher();
  const { lookup } = buildLookup(new FakeRemoteCache(), source);
  const useCase = new EnrichBatch({ lookup, publisher, metrics: new RecordingMetrics(), topics: TOPICS, reportBatchItemFailures: true, log: silentLog });
  return { publisher, useCase };
}

describe('a value that makes decoding throw', () => {
  it.each(Object.entries(deepValues))('is dead-lettered instead of throwing: %s', (_label, value) => {
    // Prepare
    const record = kafkaRecord(b64(value));
    // Act
    const act = () => decodeRecord(record);
    // Assess
    expect(act).not.toThrow();
    expect(act()).toMatchObject({ ok: false, problems: [expect.objectContaining({ field: expect.any(String), reason: expect.any(String) })] });
  });

  it('does not fail the batch: the good records of it are published and the bad one dead-lettered', async () => {
    // Prepare
    const { publisher, useCase } = setup();
    const good = kafkaRecord(foreignLog, { offset: 1 });
    const bad = kafkaRecord(b64(deepValue), { offset: 2 });
    // Act
    const result = await useCase.handle(kafkaEvent([good, bad]));
    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    expect(publisher.json('complete').map((log) => log.event_id)).toEqual([derivedEventId(good)]);
    expect(publisher.json('dlq')).toEqual([
      expect.objectContaining({ reason: 'invalid', event_id: JSON.parse(deepValue).event_id, source: expect.objectContaining({ offset: 2 }), original: expect.objectContaining({ value: bad.value }) }),
    ]);
  });
});

describe('a Kafka record timestamp outside 0000..9999', () => {
  it.each([[8_640_000_000_000_001], [8.64e15], [253_402_300_800_000], [1e300]])(
    'gives received_at the decode time (as a record without one) for %d, and a schema-valid event',
    async (timestamp) => {
      // Prepare
      const { publisher, useCase } = setup();
      const before = Date.now();
      // Act
      const result = await useCase.handle(kafkaEvent([kafkaRecord(foreignLog, { timestamp })]));
      // Assess
      expect(result).toEqual({ batchItemFailures: [] });
      const [event] = publisher.json('complete');
      expectValidEnrichedLog(event);
      const receivedAt = Date.parse(String(event?.received_at));
      expect(receivedAt).toBeGreaterThanOrEqual(before);
      expect(receivedAt).toBeLessThanOrEqual(Date.now());
      expect(event).toMatchObject({ enrichment: { derived: ['event_id', 'received_at', 'timestamp'] } });
    },
  );

  it('keeps the last instant of year 9999', () => {
    const decoded = decodeRecord(kafkaRecord(foreignLog, { timestamp: 253_402_300_799_999 }));
    expect(decoded).toMatchObject({ ok: true, log: { received_at: '9999-12-31T23:59:59.999Z' } });
  });
});

describe('dead letters of large values', () => {
  /** An invalid log (its message is over the contract's 32,768 characters) of about 900 KB. */
  const large = JSON.stringify({ ...foreignLog, message: 'x'.repeat(900_000) });

  it('keep a prefix, the byte length and the sha256 of a value over the limit, well under 1 MiB', () => {
    // Prepare
    const record = kafkaRecord(b64(large), { key: b64('k') });
    const decoded = decodeRecord(record);
    if (decoded.ok) throw new Error('expected a failure');
    // Act
    const message = deadLetterMessage(record, decoded, 'dlq', '2024-01-15T10:30:00.000Z');
    // Assess
    const bytes = Buffer.byteLength(String(message.value));
    expect(bytes).toBeLessThan(DEAD_LETTER_LIMITS.originalBytes);
    const letter = JSON.parse(String(message.value));
    expect(letter).toMatchObject({
      reason: 'invalid',
      problems: [expect.objectContaining({ field: 'message' })],
      original: { key: b64('k'), truncated: true, value_bytes: Buffer.byteLength(large), value_sha256: createHash('sha256').update(large).digest('hex') },
    });
    expect(Buffer.from(letter.original.value, 'base64').toString()).toBe(large.slice(0, DEAD_LETTER_LIMITS.prefixBytes));
  });

  it('keep a value at the limit whole', () => {
    // Prepare
    const value = JSON.stringify({ ...foreignLog, message: 'x'.repeat(DEAD_LETTER_LIMITS.originalBytes - 80) });
    const padded = value.slice(0, -2) + 'x'.repeat(DEAD_LETTER_LIMITS.originalBytes - Buffer.byteLength(value)) + value.slice(-2);
    expect(Buffer.byteLength(padded)).toBe(DEAD_LETTER_LIMITS.originalBytes);
    const record = kafkaRecord(b64(padded));
    const decoded = decodeRecord(record);
    if (decoded.ok) throw new Error('expected a failure');
    // Act
    const letter = JSON.parse(String(deadLetterMessage(record, decoded, 'dlq', '2024-01-15T10:30:00.000Z').value));
    // Assess
    expect(letter.original).toEqual({ key: null, value: record.value, headers: [] });
  });
});

describe('bytes that are not UTF-8', () => {
  it('dead-letter a Latin-1 value as undecodable, naming the byte, with the original bytes kept', () => {
    // Prepare: a Latin-1 producer's "café"
    const bytes = Buffer.concat([Buffer.from('{"level":"INFO","service":"s","hostname":"h","message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const record = kafkaRecord(b64(bytes));
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toEqual({ ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: `is not valid UTF-8 (byte 0xe9 at offset ${bytes.indexOf(0xe9)})` }], eventId: undefined });
    if (decoded.ok) return;
    const letter = JSON.parse(String(deadLetterMessage(record, decoded, 'dlq', '2024-01-15T10:30:00.000Z').value));
    expect(Buffer.from(letter.original.value, 'base64')).toEqual(bytes);
  });

  it.each([
    ['a lone continuation byte', [0x80]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuse %s', (_label, bad) => {
    const decoded = decodeRecord(kafkaRecord(b64(Buffer.from([...Buffer.from('{"a":"'), ...bad, ...Buffer.from('"}')]))));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable', problems: [{ reason: `is not valid UTF-8 (byte 0x${bad[0]?.toString(16)} at offset 6)` }] });
  });

  it('decode every well-formed sequence, up to four bytes', () => {
    const decoded = decodeRecord(kafkaRecord({ ...foreignLog, message: 'é € 😀 \u{10FFFF}' }));
    expect(decoded).toMatchObject({ ok: true, log: { message: 'é € 😀 \u{10FFFF}' } });
  });
});

describe('a UTF-8 byte order mark', () => {
  it('is dropped at the start of a value', () => {
    const decoded = decodeRecord(kafkaRecord(b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(foreignLog))]))));
    expect(decoded).toMatchObject({ ok: true, log: { message: 'from kcat' } });
  });

  it('is dropped once only: a second one is data (and not JSON)', () => {
    const decoded = decodeRecord(kafkaRecord(b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(foreignLog))]))));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable' });
  });
});

describe('headers: null', () => {
  it('is a record without headers, as key: null and value: null are accepted', async () => {
    // Prepare
    const { publisher, useCase } = setup();
    const record = { ...kafkaRecord(foreignLog), headers: null };
    // Act
    const checked = checkRecord(record, 'raw-logs-0');
    const result = await useCase.handle(kafkaEvent([record]));
    // Assess
    expect(checked).not.toBeInstanceOf(MalformedRecord);
    expect(decodeHeaders(null)).toBeUndefined();
    expect(result).toEqual({ batchItemFailures: [] });
    expect(publisher.json('complete')).toHaveLength(1);
    expect(publisher.json('dlq')).toEqual([]);
  });
});

describe('base64 with whitespace', () => {
  const value = b64(JSON.stringify(foreignLog));
  it.each([
    ['a length that is a multiple of 4', `${value.slice(0, 4)} \n  ${value.slice(4)}`],
    ['any other length', `${value.slice(0, 8)}\n${value.slice(8)}`],
    ['a trailing newline', `${value}\n`],
  ])('is refused whatever its length: %s', (_label, spaced) => {
    // Act
    const checked = checkRecord(kafkaRecord(spaced), 'raw-logs-0');
    // Assess
    expect(checked).toBeInstanceOf(MalformedRecord);
    expect((checked as MalformedRecord).problems).toEqual([{ field: 'record.value', reason: 'is not base64' }]);
    expect((checked as MalformedRecord).malformed).toEqual({ value: spaced });
  });

  it('is not needed: padded values of every length are accepted', () => {
    for (const text of ['a', 'ab', 'abc', 'abcd']) expect(checkRecord(kafkaRecord(b64(text), { key: b64(text) }), 'raw-logs-0')).not.toBeInstanceOf(MalformedRecord);
  });
});

describe('a foreign record whose event_id is not a UUID', () => {
  it('is enriched as ingest would have it: the id kept under attributes, event_id derived and listed', () => {
    // Prepare
    const record = kafkaRecord({ ...foreignLog, event_id: 'evt-123', attributes: { tenant: 'a' } });
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toMatchObject({
      ok: true,
      log: { event_id: derivedEventId(record), attributes: { tenant: 'a', event_id: 'evt-123' }, derived: ['event_id', 'received_at', 'timestamp'], dropped_attributes: [] },
    });
  });

  it('keeps a non-string id too, and names it in dropped_attributes when attributes already has one', () => {
    const numeric = decodeRecord(kafkaRecord({ ...foreignLog, event_id: 123 }));
    const taken = decodeRecord(kafkaRecord({ ...foreignLog, event_id: 'evt-123', attributes: { event_id: 'mine' } }));
    expect(numeric).toMatchObject({ ok: true, log: { attributes: { event_id: 123 } } });
    expect(taken).toMatchObject({ ok: true, log: { attributes: { event_id: 'mine' }, dropped_attributes: ['event_id'] } });
  });

  it('names it in dropped_attributes when it does not fit in the attributes budget', () => {
    const decoded = decodeRecord(kafkaRecord({ ...foreignLog, event_id: 'evt-123', attributes: { big: 'x'.repeat(16_370) } }));
    expect(decoded).toMatchObject({ ok: true, log: { dropped_attributes: ['event_id'] } });
    if (decoded.ok === true) expect(decoded.log.attributes).toEqual({ big: 'x'.repeat(16_370) });
  });

  it('keeps a UUID event_id as the event id', () => {
    const log = rawLog();
    expect(decodeRecord(kafkaRecord(log))).toMatchObject({ ok: true, log: { event_id: log.event_id, derived: [] } });
  });

  it('is dead-lettered, when invalid, under the id it would have had', () => {
    const record = kafkaRecord({ ...foreignLog, level: 'LOUD', event_id: 'evt-123' });
    expect(decodeRecord(record)).toMatchObject({ ok: false, reason: 'invalid', eventId: derivedEventId(record), problems: [{ field: 'level' }] });
  });
});

describe('dead letters of large or unwritable malformed records', () => {
  it('bound a field kept as received: a 900 KB value that is not base64', async () => {
    // Prepare
    const { publisher, useCase } = setup();
    const notBase64 = `!${'x'.repeat(900_000)}`;
    // Act
    const result = await useCase.handle(kafkaEvent([{ ...kafkaRecord(foreignLog), value: notBase64 }]));
    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    const [message] = publisher.published;
    expect(Buffer.byteLength(String(message?.value))).toBeLessThan(DEAD_LETTER_LIMITS.originalBytes);
    const json = JSON.stringify(notBase64);
    expect(JSON.parse(String(message?.value))).toMatchObject({
      reason: 'malformed',
      problems: [{ field: 'record.value', reason: 'is not base64' }],
      original: { truncated: true, malformed: { value: { json_prefix: json.slice(0, DEAD_LETTER_LIMITS.prefixBytes), json_bytes: json.length, json_sha256: createHash('sha256').update(json).digest('hex') } } },
    });
  });

  it('dead-letter a malformed record that cannot be written as JSON (headers nested 5,000 deep, no offset) instead of throwing', async () => {
    // Prepare
    const { publisher, useCase } = setup();
    const { offset: _none, ...withoutOffset } = kafkaRecord(foreignLog);
    const deep = { ...withoutOffset, headers: JSON.parse(nested(5000)) };
    // Act
    const result = await useCase.handle({ eventSource: 'SelfManagedKafka', records: { 'raw-logs-0': [deep, kafkaRecord(foreignLog, { offset: 5 })] } });
    // Assess: the other record is enriched; nothing is redelivered (the dead letter has no offset to name anyway)
    expect(result).toEqual({ batchItemFailures: [] });
    expect(publisher.json('complete')).toHaveLength(1);
    expect(publisher.json('dlq')).toEqual([
      expect.objectContaining({
        reason: 'malformed',
        problems: [expect.objectContaining({ field: 'record.offset' }), expect.objectContaining({ field: 'record.headers[0]' }), { field: 'record', reason: expect.stringMatching(/^could not be kept as received: RangeError/) }],
        original: { key: null, value: deep.value, headers: null },
      }),
    ]);
  });
});
