import { decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { deadLetterMessage } from '../../../functions/enrich/src/dead-letter.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { kafkaRecord, rawLog } from './fakes.ts';

describe('decodeRecord', () => {
  it('returns the validated log of a record written by our ingest, with nothing derived', () => {
    // Prepare
    const log = rawLog({ level: 'WARN' });
    // Act
    const decoded = decodeRecord(kafkaRecord(log));
    // Assess
    expect(decoded).toEqual({ ok: true, log: { ...log, derived: [], dropped_attributes: [] } });
  });

  it('derives event_id from the coordinates and received_at and timestamp from the Kafka timestamp', () => {
    // Prepare: what kcat or Fluent Bit writes, without our pipeline fields
    const value = { level: 'info', message: 'hello', service: 'payment-api', source_ip: '10.0.0.1' };
    const record = kafkaRecord(value, { topic: 'raw-logs', partition: 2, offset: 41, timestamp: 1_705_314_600_123 });
    // Act
    const decoded = decodeRecord(record);
    const again = decodeRecord({ ...record });
    // Assess
    expect(decoded).toMatchObject({
      ok: true,
      log: {
        event_id: derivedEventId({ topic: 'raw-logs', partition: 2, offset: 41 }),
        level: 'INFO',
        received_at: '2024-01-15T10:30:00.123Z',
        timestamp: '2024-01-15T10:30:00.123Z',
        derived: ['event_id', 'received_at', 'timestamp'],
      },
    });
    // A redelivered record decodes to the same id (downstream dedupes on it).
    expect(again).toEqual(decoded);
  });

  it('keeps the log timestamp and lists only what it derived', () => {
    const value = { level: 'INFO', message: 'm', service: 's', hostname: 'web-1', timestamp: 1_705_314_600 };
    const decoded = decodeRecord(kafkaRecord(value));
    expect(decoded).toMatchObject({ ok: true, log: { timestamp: '2024-01-15T10:30:00.000Z', derived: ['event_id', 'received_at'] } });
  });

  it('decodes an ECS log and keeps its unmapped fields under attributes', () => {
    // Prepare
    const value = {
      '@timestamp': '2024-01-15T12:30:00.5+02:00',
      message: 'GET /health',
      log: { level: 'warning', logger: 'http' },
      service: { name: 'checkout', version: '1.2' },
      host: { name: 'web-1', ip: ['not-an-ip', '10.1.2.3'] },
      ecs: { version: '8.11.0' },
    };
    // Act
    const decoded = decodeRecord(kafkaRecord(value));
    // Assess
    expect(decoded).toMatchObject({
      ok: true,
      log: {
        level: 'WARN',
        service: 'checkout',
        source_ip: '10.1.2.3',
        hostname: 'web-1',
        timestamp: '2024-01-15T10:30:00.500Z',
        attributes: { log: { logger: 'http' }, service: { version: '1.2' }, ecs: { version: '8.11.0' } },
        dropped_attributes: [],
      },
    });
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

  it('dead-letters a log with neither source_ip nor hostname, under the id it would have had', () => {
    // Prepare
    const record = kafkaRecord({ level: 'INFO', message: 'm', service: 's' }, { partition: 1, offset: 9 });
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toMatchObject({
      ok: false,
      reason: 'invalid',
      eventId: derivedEventId(record),
      problems: [{ field: 'source_ip', reason: expect.stringContaining('hostname') }],
    });
  });

  it('names an aliased field as the log wrote it', () => {
    const decoded = decodeRecord(kafkaRecord({ 'log.level': 'LOUD', message: 'm', service: 's', host: 'web-1', '@timestamp': 'yesterday' }));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.problems.map((problem) => problem.field).sort()).toEqual(['@timestamp', 'log.level']);
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
