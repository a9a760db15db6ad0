import { MessageTooLargeError, type OutgoingMessage, PublishError } from '#shared/kafka/publisher.ts';
import { silentLog } from '#shared/log-port.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import type { KafkaEvent } from '../../../functions/enrich/src/kafka-event.ts';
import { BATCH_TOPICS, buildLookup, enrichBatchSetup, FakePublisher, FakeRemoteCache, FakeSource, fixture, host, kafkaEvent, kafkaRecord, RecordingMetrics, rawLog, service } from './fakes.ts';
import { expectValidEnrichedLog } from './schema.ts';

const setup = enrichBatchSetup;

/** A publisher that refuses, as KafkaPublisher does, any publish holding a value larger than `maxBytes`. */
class LimitedPublisher extends FakePublisher {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }
  override async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const indexes = messages.flatMap((message, index) => (Buffer.byteLength(message.value) > this.maxBytes ? [index] : []));
    if (indexes.length > 0) throw new MessageTooLargeError(indexes, this.maxBytes);
    await super.publish(messages);
  }
}

/** The use case over a publisher with a 16 KiB limit, and a host whose metadata alone is larger. */
function limitedSetup() {
  const source = new FakeSource();
  source.hosts = [host(), host({ ipAddress: '10.0.0.9', hostname: 'big-01', datacenter: 'd'.repeat(20_000) })];
  source.services = [service()];
  const publisher = new LimitedPublisher(16_384);
  const metrics = new RecordingMetrics();
  const { lookup } = buildLookup(new FakeRemoteCache(), source);
  return { publisher, metrics, useCase: new EnrichBatch({ lookup, publisher, metrics, topics: BATCH_TOPICS, reportBatchItemFailures: false, log: silentLog }) };
}

describe('EnrichBatch', () => {
  it('enriches the MSK sample event: known host → complete, unknown host → partial, keyed by event_id', async () => {
    // Prepare
    const { enrich, publisher } = setup();
    // Act
    const result = await enrich(fixture('msk-event.json'));
    // Assess
    expect(result).toBeUndefined();
    const [complete] = publisher.json('complete');
    const [partial] = publisher.json('partial');
    expect(complete).toMatchObject({
      event_id: '6f1c2b9e-3c1a-4f6e-9a51-2b7f0d8e4a10',
      host: { hostname: 'web-server-01', ip: '192.168.1.100' },
      service: { name: 'payment-api', team: 'payments' },
      source: { topic: 'raw-logs', partition: 0, offset: 15 },
    });
    expect(partial).toMatchObject({
      event_id: '0b9a7c55-8e0d-4d3f-a2b1-7c6e5f4d3c21',
      host: { hostname: null, datacenter: 'dc-net', zone: 'zone-a' },
      enrichment: { status: 'partial', missing: { 'host.hostname': 'not_found', 'host.cost_center': 'not_found' } },
    });
    expect(publisher.published.map((message) => message.key).sort()).toEqual(['0b9a7c55-8e0d-4d3f-a2b1-7c6e5f4d3c21', '6f1c2b9e-3c1a-4f6e-9a51-2b7f0d8e4a10']);
    for (const value of [complete, partial]) expectValidEnrichedLog(value);
  });

  it('accepts the self-managed Kafka sample event', async () => {
    const { enrich, publisher } = setup();
    await enrich(fixture('self-managed-kafka-event.json'));
    expect(publisher.published).toHaveLength(2);
  });

  it('sends an undecodable record to the dead-letter topic and enriches the rest of the batch', async () => {
    // Prepare
    const { useCase, publisher, metrics } = setup();
    const good = rawLog({ source_ip: '10.0.0.1' });
    const event = kafkaEvent([kafkaRecord(Buffer.from('not json').toString('base64')), kafkaRecord(good)]);
    // Act
    await useCase.handle(event);
    // Assess
    expect(publisher.json('dlq')).toEqual([expect.objectContaining({ reason: 'undecodable', problems: [expect.objectContaining({ field: '(value)' })] })]);
    expect(publisher.json('complete').map((value) => value.event_id)).toEqual([good.event_id]);
    expect(metrics.reports[0]).toMatchObject({ records: 2, complete: 1, partial: 0, deadLettered: 1, published: true });
  });

  it('looks up each distinct key once per batch', async () => {
    const { useCase, source } = setup();
    const event = kafkaEvent(Array.from({ length: 50 }, () => kafkaRecord(rawLog({ source_ip: '10.0.0.1' }))));
    await useCase.handle(event);
    expect(source.calls).toEqual([{ hostIps: ['10.0.0.1'], hostnames: [], services: ['payment-api'], networkIps: ['10.0.0.1'] }]);
  });

  it('throws when the outputs cannot be produced, so the whole batch is redelivered', async () => {
    const { useCase, publisher } = setup();
    publisher.failing = true;
    await expect(useCase.handle(kafkaEvent([kafkaRecord(rawLog())]))).rejects.toBeInstanceOf(PublishError);
  });

  it('reports every record of every partition as failed when producing fails and item failures are on', async () => {
    // Prepare
    const { useCase, publisher } = setup({ reportBatchItemFailures: true });
    publisher.failing = true;
    const event: KafkaEvent = kafkaEvent([
      kafkaRecord(rawLog(), { partition: 0, offset: 10 }),
      kafkaRecord(rawLog(), { partition: 0, offset: 11 }),
      kafkaRecord(rawLog(), { partition: 2, offset: 5 }),
    ]);
    // Act
    const result = await useCase.handle(event);
    // Assess
    expect(result).toEqual({
      batchItemFailures: [
        { itemIdentifier: { partition: 'raw-logs-0', offset: 10 } },
        { itemIdentifier: { partition: 'raw-logs-0', offset: 11 } },
        { itemIdentifier: { partition: 'raw-logs-2', offset: 5 } },
      ],
    });
  });

  it('returns an empty failure list on success when item failures are on', async () => {
    const { useCase } = setup({ reportBatchItemFailures: true });
    expect(await useCase.handle(kafkaEvent([kafkaRecord(rawLog())]))).toEqual({ batchItemFailures: [] });
  });

  it("dead-letters a JSON output larger than the brokers' limit, with its size and the limit, and publishes the rest", async () => {
    // Prepare
    const { useCase, publisher, metrics } = limitedSetup();
    const big = rawLog({ source_ip: '10.0.0.9' });
    const fine = rawLog();
    const record = kafkaRecord(big);
    // Act
    await useCase.handle(kafkaEvent([record, kafkaRecord(fine)]));
    // Assess
    expect(publisher.json('dlq')).toEqual([
      expect.objectContaining({
        reason: 'invalid',
        problems: [{ field: '(output)', reason: expect.stringMatching(/^is 2\d{4} bytes as json, larger than the brokers' limit of 16384 bytes/) }],
        event_id: big.event_id,
        source: expect.not.objectContaining({ index: expect.anything() }),
        original: expect.objectContaining({ value: record.value }),
      }),
    ]);
    expect(publisher.json('complete').map((event) => event.event_id)).toEqual([fine.event_id]);
    expect(metrics.reports[0]).toMatchObject({ records: 2, complete: 1, partial: 0, deadLettered: 1, published: true });
  });

  it('fails the batch when a dead letter itself is larger than the limit (a limit below the dead letters\' bound)', async () => {
    const { useCase } = limitedSetup();
    await expect(useCase.handle(kafkaEvent([kafkaRecord(Buffer.from('x'.repeat(20_000)).toString('base64'))]))).rejects.toBeInstanceOf(MessageTooLargeError);
  });

  it('rejects an event that is not a Kafka event', async () => {
    const { enrich } = setup();
    await expect(enrich({ Records: [] })).rejects.toThrow('eventSource');
  });
});
