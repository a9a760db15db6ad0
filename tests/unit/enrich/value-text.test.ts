/**
 * decode's shortcut for ASCII values (atob's bytes are the text, reused from checkRecord) gives exactly what
 * the strict UTF-8 decode of the value's bytes gives, for any bytes: ASCII, UTF-8, invalid UTF-8, a BOM.
 */
import fc from 'fast-check';
import { decodeUtf8 } from '#shared/text/utf8.ts';
import { valueText } from '../../../functions/enrich/src/decode.ts';
import { checkRecord, type KafkaEventRecord } from '../../../functions/enrich/src/kafka-event.ts';
import { kafkaRecord } from './fakes.ts';

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40, max: 0x7f }),
  fc.string({ unit: 'binary', maxLength: 20 }).map((text) => new Uint8Array(Buffer.from(text))),
  fc.tuple(fc.constantFrom([0xef, 0xbb, 0xbf], [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], [0xc3], [0xe9]), fc.uint8Array({ maxLength: 10, max: 0x7f })).map(([head, tail]) => new Uint8Array([...head, ...tail])),
);

describe('valueText', () => {
  it('is the strict UTF-8 decode of the bytes, after checkRecord and without it', () => {
    fc.assert(
      fc.property(bytes, fc.boolean(), (raw, checked) => {
        const value = Buffer.from(raw).toString('base64');
        if (checked) expect(checkRecord(kafkaRecord(value), 'raw-logs-0')).not.toHaveProperty('problems');
        expect(valueText(value)).toEqual(decodeUtf8(Buffer.from(raw)));
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes a value other than the one checkRecord checked last', () => {
    // Prepare
    const first = Buffer.from('{"a":1}').toString('base64');
    const other = Buffer.from('{"b":2}').toString('base64');
    checkRecord(kafkaRecord(first), 'raw-logs-0');
    // Act / Assess
    expect(valueText(other)).toEqual({ ok: true, text: '{"b":2}' });
  });

  it('decodes leniently what is not strict base64, as decodeRecord always did for callers that skip checkRecord', () => {
    const record: KafkaEventRecord = kafkaRecord('eyJhIjoxfQ');
    expect(valueText(record.value as string)).toEqual({ ok: true, text: '{"a":1}' });
  });
});
