import { v5 as uuidV5, validate, version } from 'uuid';
import { derivedEventId, EVENT_ID_NAMESPACE, toLogEvent } from '../../../functions/enrich/src/log-event.ts';
import { rawLog } from './fakes.ts';

describe('derivedEventId', () => {
  it('uses the documented namespace: UUID v5 of the project URL in the URL namespace', () => {
    expect(EVENT_ID_NAMESPACE).toBe(uuidV5('https://log-enrichment.example/raw-logs', uuidV5.URL));
  });

  it('is the UUID v5 of topic/partition/offset, the same for the same coordinates only', () => {
    // Act
    const id = derivedEventId({ topic: 'raw-logs', partition: 3, offset: 1200 });
    // Assess
    expect([validate(id), version(id)]).toEqual([true, 5]);
    expect(id).toBe(uuidV5('raw-logs/3/1200', EVENT_ID_NAMESPACE));
    expect(derivedEventId({ topic: 'raw-logs', partition: 3, offset: 1200 })).toBe(id);
    expect(new Set([id, derivedEventId({ topic: 'raw-logs', partition: 3, offset: 1201 }), derivedEventId({ topic: 'raw-logs', partition: 31, offset: 200 })]).size).toBe(3);
  });
});

describe('toLogEvent', () => {
  const position = { topic: 'raw-logs', partition: 0, offset: 5, timestamp: 1_705_314_600_000 };

  it('derives nothing when ingest wrote the record', () => {
    const log = rawLog();
    expect(toLogEvent(log, position)).toEqual({ ...log, derived: [], dropped_attributes: [] });
  });

  it('falls back to the time of decoding when the Kafka record has no timestamp', () => {
    // Prepare
    const { event_id: _id, received_at: _at, ...log } = rawLog();
    const before = Date.now();
    // Act
    const event = toLogEvent(log, { ...position, timestamp: -1 });
    // Assess
    expect(Date.parse(event.received_at)).toBeGreaterThanOrEqual(before);
    expect(event.derived).toEqual(['event_id', 'received_at']);
  });
});
