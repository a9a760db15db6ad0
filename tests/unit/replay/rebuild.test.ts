import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { KafkaEventRecord } from '../../../functions/enrich/src/kafka-event.ts';
import { checkWhere, fromDeadLetter, fromOnFailure, fromPartial, type Plan, plan, type ReadRecord, SKIP, UNRECOVERABLE } from '../../../functions/enrich/src/replay/rebuild.ts';
import { parseWhere } from '../../../functions/enrich/src/replay/where.ts';
import { enrichBatchSetup, host, kafkaEvent, kafkaRecord, rawLog } from '../enrich/fakes.ts';

/** An output as the replay reads it back from its topic. */
function asRead(message: OutgoingMessage): ReadRecord {
  return { value: Buffer.from(message.value), headers: Object.entries(message.headers ?? {}).map(([name, value]) => [name, Buffer.from(value)] as const) };
}

function replayed(result: Plan | Plan[]): KafkaEventRecord {
  const [first] = Array.isArray(result) ? result : [result];
  if (first?.kind !== 'replay') throw new Error(`expected a replay, got ${JSON.stringify(first)}`);
  return first.record;
}

/** An enriched event without what changes from run to run (time of enrichment, latency, ages). */
function stable(event: Record<string, unknown>): Record<string, unknown> {
  const { enriched_at: _at, latency_ms: _ms, provenance: _p, ...enrichment } = event.enrichment as Record<string, unknown>;
  return { ...event, enrichment };
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('replay from partial', () => {
  it('rebuilds the raw record so that enrich writes the same event again, derived fields and trace headers included', async () => {
    // Prepare: an ingest log of an unknown host, and a foreign producer's log that lacks every pipeline field
    const first = enrichBatchSetup();
    const ours = kafkaRecord(rawLog({ source_ip: '203.0.113.7', hostname: 'late-01', trace_id: 't-1', attributes: { order: 42 }, dropped_attributes: ['huge'] }), {
      headers: [{ traceparent: [...Buffer.from(TRACEPARENT)] }],
    });
    const foreign = kafkaRecord({ level: 'warn', msg: 'disk almost full', service: 'payment-api', source_ip: '203.0.113.8', event_id: 'evt-123', extra: 'kept' }, { timestamp: 1_705_314_601_234 });
    await first.useCase.handle(kafkaEvent([ours, foreign]));
    const partials = first.publisher.published.filter((message) => message.topic === 'partial');
    expect(partials).toHaveLength(2);
    // Act
    const records = partials.map((message) => replayed(fromPartial(asRead(message), parseWhere(['missing=not_found']))));
    const second = enrichBatchSetup();
    await second.useCase.handle(kafkaEvent(records));
    // Assess: same coordinates, same event, same keys and trace header
    expect(records.map(({ topic, partition, offset }) => ({ topic, partition, offset }))).toEqual([ours, foreign].map(({ topic, partition, offset }) => ({ topic, partition, offset })));
    const again = second.publisher.published.filter((message) => message.topic === 'partial');
    expect(again.map((message) => message.key)).toEqual(partials.map((message) => message.key));
    expect(again.map((message) => message.headers?.traceparent)).toEqual([TRACEPARENT, undefined]);
    expect(second.publisher.json('partial').map(stable)).toEqual(first.publisher.json('partial').map(stable));
    expect(second.publisher.json('partial')[1]).toMatchObject({ enrichment: { derived: ['event_id', 'received_at', 'timestamp'] }, attributes: { extra: 'kept', event_id: 'evt-123' } });
  });

  it('gives the same event_id on complete once the host is registered', async () => {
    // Prepare
    const first = enrichBatchSetup();
    await first.useCase.handle(kafkaEvent([kafkaRecord(rawLog({ source_ip: '203.0.113.9' }))]));
    const [partial] = first.publisher.published;
    const record = replayed(fromPartial(asRead(partial as OutgoingMessage), []));
    // Act
    const second = enrichBatchSetup();
    second.source.hosts.push(host({ ipAddress: '203.0.113.9', hostname: 'late-02' }));
    await second.useCase.handle(kafkaEvent([record]));
    // Assess
    const [complete] = second.publisher.json('complete');
    expect(complete).toMatchObject({ event_id: partial?.key, host: { hostname: 'late-02' }, enrichment: { status: 'complete' } });
  });

  it('leaves what --where does not select, reads an OTLP log back from its source, and counts an OTLP partial as skipped', () => {
    const event = (extra: Record<string, unknown>) => ({
      value: Buffer.from(JSON.stringify({ level: 'INFO', message: 'm', service: { name: 's' }, event_id: 'e', timestamp: 't', received_at: '2026-12-01T00:00:00.000Z', enrichment: { missing: { 'service.team': 'unavailable' }, derived: [] }, source: { topic: 'raw-logs', partition: 1, offset: 7, ...extra } })),
      headers: [],
    });
    expect(fromPartial(event({}), parseWhere(['missing=not_found']))).toEqual({ kind: 'unmatched' });
    expect(fromPartial(event({ index: 3 }), [])).toEqual({ kind: 'reread', source: { topic: 'raw-logs', partition: 1, offset: 7 }, why: 'a log of an OTLP request', index: 3 });
    expect(fromPartial({ value: Buffer.from([0x0a, 0x01]), headers: [['content-type', Buffer.from('application/x-protobuf')]] }, [])).toEqual({ kind: 'skip', why: SKIP.otlpPartial });
    expect(fromPartial({ value: Buffer.from('{"resourceLogs":[]}'), headers: [['Content-Type', Buffer.from('application/json')]] }, [])).toEqual({ kind: 'skip', why: SKIP.otlpPartial });
    expect(fromPartial({ value: Buffer.from('{"hello":1}'), headers: [] }, [])).toEqual({ kind: 'skip', why: SKIP.notEvent });
  });
});

describe('replay from partial written as OTLP', () => {
  it.each(['otlp_proto', 'otlp_json'] as const)('reads the raw record back at enrichment.source.* (%s), selected by enrichment.missing', async (outputEncoding) => {
    // Prepare
    const { useCase, publisher } = enrichBatchSetup({ outputEncoding });
    const record = kafkaRecord(rawLog({ source_ip: '203.0.113.10' }), { partition: 3 });
    await useCase.handle(kafkaEvent([record]));
    const [partial] = publisher.published.filter((message) => message.topic === 'partial');
    // Act
    const selected = plan('partial', asRead(partial as OutgoingMessage), parseWhere(['missing=not_found']));
    const unselected = plan('partial', asRead(partial as OutgoingMessage), parseWhere(['missing=unavailable']));
    // Assess
    expect(selected).toEqual([{ kind: 'reread', source: { topic: record.topic, partition: 3, offset: record.offset }, why: 'an OTLP partial' }]);
    expect(unselected).toEqual([{ kind: 'unmatched' }]);
  });
});

describe('--where per source', () => {
  it('refuses a condition the source cannot test', () => {
    expect(() => checkWhere('dlq', parseWhere(['missing=not_found']))).toThrow('--where missing=… does not apply to --from dlq (it takes reason=)');
    expect(() => checkWhere('partial', parseWhere(['reason=invalid']))).toThrow(/does not apply to --from partial/);
    expect(() => checkWhere('unprocessed', parseWhere(['reason=invalid']))).toThrow(/it takes no --where/);
    expect(() => checkWhere('partial', parseWhere(['missing=stale', 'field=service.team']))).not.toThrow();
  });
});

describe('replay from the dead-letter topic', () => {
  it('presents the original bytes at their coordinates: an invalid one is dead-lettered again under the same key, a valid one is enriched', async () => {
    // Prepare: one invalid record; a dead letter whose original is valid (as after a contract fix)
    const first = enrichBatchSetup();
    const invalid = kafkaRecord({ level: 'LOUD', message: 'bad level', service: 'payment-api', source_ip: '10.0.0.1' });
    await first.useCase.handle(kafkaEvent([invalid]));
    const [letter] = first.publisher.published;
    const fixedLetter = { ...first.publisher.json('dlq')[0], original: { key: null, value: Buffer.from(JSON.stringify(rawLog({ source_ip: '10.0.0.1' }))).toString('base64'), headers: [] } };
    // Act
    const again = replayed(fromDeadLetter(JSON.parse(String(letter?.value)), []));
    const fixed = replayed(fromDeadLetter(fixedLetter, []));
    const second = enrichBatchSetup();
    await second.useCase.handle(kafkaEvent([again]));
    await second.useCase.handle(kafkaEvent([fixed]));
    // Assess
    expect(again).toMatchObject({ topic: invalid.topic, partition: invalid.partition, offset: invalid.offset, timestamp: invalid.timestamp, value: invalid.value });
    expect(second.publisher.published.filter((message) => message.topic === 'dlq').map((message) => message.key)).toEqual([letter?.key]);
    expect(second.publisher.json('complete')).toHaveLength(1);
  });

  it('reads back a truncated letter and one log of an OTLP request past index 0; a letter without coordinates is unrecoverable', () => {
    const source = { topic: 'raw-logs', partition: 2, offset: 9, timestamp: 1 };
    const letter = (original: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ reason: 'invalid', problems: [], event_id: null, source: { ...source, ...extra }, original, failed_at: 'x' });
    const at = { topic: 'raw-logs', partition: 2, offset: 9 };
    expect(fromDeadLetter(letter({ key: null, value: 'AAAA', truncated: true, value_bytes: 900_000 }), [])).toEqual({ kind: 'reread', source: at, why: 'original truncated' });
    expect(fromDeadLetter(letter({ key: null, value: null, truncated: true, value_omitted: 'x' }, { index: 4 }), [])).toEqual({ kind: 'reread', source: at, why: 'original value omitted', index: 4 });
    expect(fromDeadLetter(letter({ key: null, value: 'CgA=', headers: [] }, { index: 4 }), [])).toEqual({ kind: 'reread', source: at, why: 'a log of an OTLP request at index > 0', index: 4 });
    expect(replayed(fromDeadLetter(letter({ key: null, value: 'CgA=', headers: [] }, { index: 0 }), []))).toMatchObject({ ...at, value: 'CgA=' });
    expect(fromDeadLetter(letter({ key: null, value: 'AA==', headers: [] }, { offset: null }), [])).toEqual({ kind: 'unrecoverable', why: UNRECOVERABLE.noCoordinates });
    expect(fromDeadLetter(letter({ key: null, value: 'AA==' }), parseWhere(['reason=undecodable']))).toEqual({ kind: 'unmatched' });
    expect(fromDeadLetter({ hello: 1 }, [])).toEqual({ kind: 'skip', why: SKIP.notDeadLetter });
  });
});

describe('replay from the on-failure topic', () => {
  it("replays each record of the Lambda on-failure document's payload at its coordinates", () => {
    // Prepare: the record format AWS documents for a Kafka on-failure destination
    const record = { topic: 'raw-logs', partition: 0, offset: 100, timestamp: 1_749_116_692_330, timestampType: 'CREATE_TIME', key: 'dGVzdC1rZXk=', value: 'dGVzdC12YWx1ZQ==', headers: [] };
    const document = {
      requestContext: { requestId: 'e4b46cbf', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:enrich', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: '2026-12-01T18:16:05.568Z',
      KafkaBatchInfo: { batchSize: 1, eventSourceArn: 'arn:aws:kafka:…', bootstrapServers: 'b-1:9098', payloadSize: 1162, recordInfo: { offset: '100', timestamp: '2026-12-01T18:16:04.835Z' } },
      payload: { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:…', records: { 'raw-logs-0': [record] } },
    };
    // Act
    const plans = plan('unprocessed', { value: Buffer.from(JSON.stringify(document)), headers: [] }, []);
    // Assess
    expect(plans).toEqual([{ kind: 'replay', record }]);
    const { payload: _payload, ...withoutPayload } = document;
    expect(fromOnFailure(withoutPayload)).toEqual([{ kind: 'unrecoverable', why: UNRECOVERABLE.noPayload }]);
    expect(fromOnFailure({ level: 'INFO' })).toEqual([{ kind: 'skip', why: SKIP.notOnFailure }]);
    expect(fromOnFailure({ KafkaBatchInfo: {}, payload: { records: {} } })).toEqual([{ kind: 'unrecoverable', why: UNRECOVERABLE.noPayload }]);
    expect(plan('unprocessed', { value: Buffer.from('not json'), headers: [] }, [])).toEqual([{ kind: 'skip', why: SKIP.notJson }]);
  });
});
