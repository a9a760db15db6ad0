/**
 * The enrich use case against what the AWS poller actually sends: signed header bytes, the documented sample
 * events, and records that are not what the poller documents. Each record is handled on its own: a malformed
 * one is dead-lettered with its reason and never fails the invocation.
 */
import { PublishError } from '#shared/kafka/publisher.ts';
import { enrichBatchSetup, fixture, kafkaRecord, rawLog } from './fakes.ts';

const setup = enrichBatchSetup;

/** An envelope around raw (unchecked) entries, as the poller could deliver them. */
function envelope(records: Record<string, unknown[]>): unknown {
  return { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/c/x', records };
}

describe('EnrichBatch with the events the poller sends', () => {
  it('enriches every record of an event whose headers carry signed (Java) bytes', async () => {
    // Prepare
    const { enrich, publisher, metrics } = setup();
    // Act
    await enrich(fixture('poller-msk-event.json'));
    // Assess
    const enriched = [...publisher.json('complete'), ...publisher.json('partial')];
    expect(enriched.map((log) => log.source)).toEqual(
      expect.arrayContaining([
        { topic: 'raw-logs', partition: 0, offset: 100 },
        { topic: 'raw-logs', partition: 0, offset: 101 },
        { topic: 'raw-logs', partition: 3, offset: 7 },
      ]),
    );
    expect(publisher.json('dlq')).toEqual([]);
    expect(metrics.reports[0]).toMatchObject({ records: 3, deadLettered: 0 });
  });

  it.each([
    ['MSK', 'aws-msk-event.json'],
    ['self-managed Kafka', 'aws-self-managed-kafka-event.json'],
  ] as const)("handles AWS's %s sample: its value, not a log, is dead-lettered with its reason and coordinates", async (_label, name) => {
    // Prepare
    const { enrich, publisher } = setup();
    const event = fixture<{ records: Record<string, { key: string; value: string }[]> }>(name);
    // Act
    await enrich(event);
    // Assess
    expect(publisher.json('dlq')).toEqual([
      expect.objectContaining({
        reason: 'undecodable',
        problems: [expect.objectContaining({ field: '(value)' })],
        source: { topic: 'mytopic', partition: 0, offset: 15, timestamp: 1545084650987 },
        original: expect.objectContaining({ key: event.records['mytopic-0']?.[0]?.key, value: event.records['mytopic-0']?.[0]?.value }),
      }),
    ]);
  });

  it('dead-letters each malformed record on its own and enriches the rest of every partition', async () => {
    // Prepare
    const { enrich, publisher, metrics } = setup();
    const good = [rawLog({ source_ip: '10.0.0.1' }), rawLog({ source_ip: '10.0.0.1' })];
    const event = envelope({
      'raw-logs-0': [
        kafkaRecord(good[0], { partition: 0, offset: 10 }),
        { ...kafkaRecord(rawLog(), { partition: 0, offset: 11 }), timestamp: 'yesterday' },
        { ...kafkaRecord(rawLog(), { partition: 0 }), offset: undefined },
        null,
      ],
      'raw-logs-1': [
        { ...kafkaRecord(rawLog(), { partition: 1, offset: 5 }), value: 'not base64!' },
        kafkaRecord(good[1], { partition: 1, offset: 6, headers: [{ tenant: [122, -61, -87] }] }),
        kafkaRecord(rawLog(), { partition: 1, offset: 7, headers: [{ tenant: [122, -61, 300] }] }),
      ],
    });
    // Act
    const result = await enrich(event);
    // Assess
    expect(result).toBeUndefined();
    expect(publisher.json('complete').map((log) => log.event_id)).toEqual(good.map((log) => log.event_id));
    const letters = publisher.json('dlq') as { reason: string; problems: { field: string }[]; source: Record<string, unknown> }[];
    expect(letters.map((letter) => [letter.reason, letter.problems.map((problem) => problem.field), letter.source.partition, letter.source.offset])).toEqual([
      ['malformed', ['record.timestamp'], 0, 11],
      ['malformed', ['record.offset'], 0, null],
      ['malformed', ['record'], 0, null],
      ['malformed', ['record.value'], 1, 5],
      ['malformed', ['record.headers[0].tenant[2]'], 1, 7],
    ]);
    expect(metrics.reports[0]).toMatchObject({ records: 7, complete: 2, deadLettered: 5, published: true });
  });

  it('keys each dead letter so that none is undefined and records without an offset do not collide', async () => {
    const { enrich, publisher } = setup();
    await enrich(envelope({ 'raw-logs-2': [{ topic: 'raw-logs', value: 'eA==' }, { topic: 'raw-logs', value: 'eQ==' }] }));
    const keys = publisher.published.map((message) => message.key);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatch(/^raw-logs-2@\?#[0-9a-f]{16}$/);
    expect(new Set(keys).size).toBe(2);
  });

  it('reports no failure for a dead-lettered record when the batch is stored (item failures on)', async () => {
    const { enrich } = setup({ reportBatchItemFailures: true });
    const result = await enrich(envelope({ 'raw-logs-0': [{ ...kafkaRecord(rawLog()), value: 42 }, kafkaRecord(rawLog())] }));
    expect(result).toEqual({ batchItemFailures: [] });
  });

  it('names malformed records with a readable offset among the failed items when producing fails', async () => {
    // Prepare
    const { enrich, publisher } = setup({ reportBatchItemFailures: true });
    publisher.failing = true;
    const event = envelope({ 'raw-logs-0': [{ ...kafkaRecord(rawLog(), { offset: 20 }), value: 42 }, kafkaRecord(rawLog(), { offset: 21 })] });
    // Act
    const result = await enrich(event);
    // Assess
    expect(result).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: 'raw-logs-0', offset: 20 } }, { itemIdentifier: { partition: 'raw-logs-0', offset: 21 } }],
    });
  });

  it('fails the invocation when producing fails and a record has no offset to name it by', async () => {
    const { enrich, publisher } = setup({ reportBatchItemFailures: true });
    publisher.failing = true;
    const event = envelope({ 'raw-logs-0': [{ ...kafkaRecord(rawLog()), offset: 'x' }, kafkaRecord(rawLog(), { offset: 31 })] });
    await expect(enrich(event)).rejects.toBeInstanceOf(PublishError);
  });

  it('still fails the invocation for an envelope that is not a Kafka event', async () => {
    const { enrich, publisher } = setup();
    const notAnEvent: unknown = { eventSource: 'aws:kafka', eventSourceArn: 'arn', records: { 'raw-logs-0': 'one record' } };
    await expect(enrich(notAnEvent)).rejects.toThrow('records');
    expect(publisher.published).toEqual([]);
  });
});

