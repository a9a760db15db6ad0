import { decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { deadLetterMessage } from '../../../functions/enrich/src/dead-letter.ts';
import { kafkaRecord, rawLog } from './fakes.ts';

describe('decodeRecord', () => {
  it('returns the validated raw log of a well-formed record', () => {
    // Prepare
    const log = rawLog({ level: 'WARN' });
    // Act
    const decoded = decodeRecord(kafkaRecord(log));
    // Assess
    expect(decoded).toEqual({ ok: true, log });
  });

  it('reports a value that is not JSON as undecodable', () => {
    const decoded = decodeRecord(kafkaRecord(Buffer.from('{"level":').toString('base64')));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.reason).toBe('undecodable');
    expect(decoded.problems[0]?.field).toBe('(value)');
  });

  it('reports an absent value as undecodable', () => {
    const decoded = decodeRecord(kafkaRecord('', { value: null }));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable' });
  });

  it('lists every invalid field and keeps the event id for accounting', () => {
    // Prepare
    const log = { ...rawLog(), source_ip: 'not-an-ip', level: 'LOUD' };
    // Act
    const decoded = decodeRecord(kafkaRecord(log));
    // Assess
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.reason).toBe('invalid');
    expect(decoded.eventId).toBe(log.event_id);
    expect(decoded.problems.map((problem) => problem.field).sort()).toEqual(['level', 'source_ip']);
  });
});

describe('deadLetterMessage', () => {
  it('carries the original bytes, the reasons and the source coordinates', () => {
    // Prepare
    const record = kafkaRecord(Buffer.from('garbage').toString('base64'), { key: 'a2V5', partition: 3, offset: 77 });
    const decoded = decodeRecord(record);
    if (decoded.ok) throw new Error('expected a failure');
    // Act
    const message = deadLetterMessage(record, decoded, 'raw-logs-dlq', '2024-01-15T10:30:00.000Z');
    // Assess
    expect(message.topic).toBe('raw-logs-dlq');
    expect(message.key).toBe('raw-logs-3@77');
    expect(JSON.parse(String(message.value))).toMatchObject({
      reason: 'undecodable',
      event_id: null,
      source: { topic: 'raw-logs', partition: 3, offset: 77 },
      original: { key: 'a2V5', value: record.value },
    });
  });
});
