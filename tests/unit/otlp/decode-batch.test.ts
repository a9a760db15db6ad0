/**
 * OTLP records through the enrich use case (EnrichBatch over the unit fakes): every log record of a request is
 * enriched or dead-lettered on its own, outputs carry `source.index`, the batch counts logs, and with an OTLP
 * output encoding the outputs are OTLP requests, one per record, topic and resource (their content is proved
 * by tests/unit/otlp/encode-*), none larger than the brokers take (a publisher with a small limit).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { type EventPublisher, MessageTooLargeError, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { Log } from '#shared/log-port.ts';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { BATCH_TOPICS, buildLookup, enrichBatchSetup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, RecordingMetrics, rawLog, service } from '../enrich/fakes.ts';
import { expectValidEnrichedLog } from '../enrich/schema.ts';
import { otlpRequest, type SdkResource } from '../../support/otlp-sdk.ts';
import { otlpRecord, protoBytes, requestOf, text, textAttribute } from './decode-support.ts';
import { decodeOtlpProto, type OtlpRequest } from '../../support/otlp-proto.ts';
import { VALUE_IN_SOURCE } from '../../../functions/enrich/src/dead-letter.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Two logs from a registered host and service (complete), one from an unknown service (partial). */
const RESOURCES: SdkResource[] = [
  { attributes: { 'service.name': 'payment-api', 'host.ip': '10.0.0.1' }, scopes: [{ name: 'pay', logs: [{ body: 'one' }, { body: 'two' }] }] },
  { attributes: { 'service.name': 'unknown-api', 'host.name': 'web-99' }, scopes: [{ name: 'other', logs: [{ body: 'three' }] }] },
];

/** Log lines, for the batch accounting. */
class RecordingLog implements Log {
  readonly lines: { level: string; message: string; attributes: Record<string, unknown> }[] = [];
  debug(message: string, ...attributes: Record<string, unknown>[]) {
    this.lines.push({ level: 'debug', message, attributes: Object.assign({}, ...attributes) });
  }
  info(message: string, ...attributes: Record<string, unknown>[]) {
    this.lines.push({ level: 'info', message, attributes: Object.assign({}, ...attributes) });
  }
  warn(message: string, ...attributes: Record<string, unknown>[]) {
    this.lines.push({ level: 'warn', message, attributes: Object.assign({}, ...attributes) });
  }
  error(message: string, ...attributes: Record<string, unknown>[]) {
    this.lines.push({ level: 'error', message, attributes: Object.assign({}, ...attributes) });
  }
}

/**
 * The publisher's rule with a limit of our choosing: a publish holding a message larger than `maxBytes`
 * (value, key and headers) is refused whole with MessageTooLargeError naming the offending ones, nothing sent.
 */
class LimitedPublisher extends FakePublisher implements EventPublisher {
  readonly refused: number[][] = [];
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }
  override async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const indexes = messages.flatMap((message, index) => (messageBytes(message) > this.maxBytes ? [index] : []));
    if (indexes.length > 0) {
      this.refused.push(indexes);
      throw new MessageTooLargeError(indexes, this.maxBytes);
    }
    await super.publish(messages);
  }
}

function messageBytes(message: OutgoingMessage): number {
  const headers = Object.entries(message.headers ?? {}).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
  return Buffer.byteLength(message.value) + Buffer.byteLength(message.key) + headers;
}

/** The log records of an OTLP output, in order, by their `enrichment.source.index`. */
function indexesOf(message: OutgoingMessage): number[] {
  const request = fromBinary(ExportLogsServiceRequestSchema, message.value as Buffer);
  return request.resourceLogs.flatMap((r) =>
    r.scopeLogs.flatMap((s) => s.logRecords.map((l) => Number((l.attributes.find((a) => a.key === 'enrichment.source.index')?.value?.value.value as bigint | undefined) ?? -1))),
  );
}

function setupWithLog(outputEncoding?: 'json' | 'otlp_proto' | 'otlp_json', publisher: FakePublisher = new FakePublisher(), options: { provenance?: boolean } = {}) {
  const source = new FakeSource();
  source.hosts = [host()];
  source.services = [service()];
  const metrics = new RecordingMetrics();
  const log = new RecordingLog();
  const { lookup } = buildLookup(new FakeRemoteCache(), source, options);
  const useCase = new EnrichBatch({ lookup, publisher, metrics, topics: BATCH_TOPICS, reportBatchItemFailures: false, log, ...(outputEncoding === undefined ? {} : { outputEncoding }) });
  return { useCase, publisher, metrics, log };
}

describe('EnrichBatch with OTLP records', () => {
  it('enriches each log record on its own and counts logs, not records', async () => {
    // Prepare
    const { useCase, publisher, metrics, log } = setupWithLog();
    const otlp = otlpRecord(await otlpRequest(RESOURCES, 'otlp_proto'));
    const oursLog = rawLog();
    const ours = kafkaRecord(oursLog);
    const garbage = kafkaRecord(Buffer.from('not json').toString('base64'));
    // Act
    await useCase.handle(kafkaEvent([otlp, ours, garbage]));
    // Assess
    const complete = publisher.json('complete');
    const partial = publisher.json('partial');
    expect(complete.map((event) => [event.message, event.event_id, event.source])).toEqual([
      ['one', derivedEventId(otlp, 0), { topic: 'raw-logs', partition: 0, offset: otlp.offset, index: 0 }],
      ['two', derivedEventId(otlp, 1), { topic: 'raw-logs', partition: 0, offset: otlp.offset, index: 1 }],
      ['hello', oursLog.event_id, { topic: 'raw-logs', partition: 0, offset: ours.offset }],
    ]);
    expect(partial.map((event) => [event.message, event.source])).toEqual([['three', { topic: 'raw-logs', partition: 0, offset: otlp.offset, index: 2 }]]);
    for (const event of [...complete, ...partial]) expectValidEnrichedLog(event);
    expect(publisher.json('dlq')).toHaveLength(1);
    expect(metrics.reports[0]).toMatchObject({ records: 5, complete: 3, partial: 1, deadLettered: 1 });
    expect(log.lines.find((line) => line.message === 'batch enriched')?.attributes).toMatchObject({ records: 3, logs: 5, complete: 3, partial: 1, deadLettered: 1 });
  });

  it('dead-letters one failing log record on its own: keyed by its event id, with source.index and a value of that record alone', async () => {
    // Prepare
    const { useCase, publisher, metrics } = setupWithLog();
    const resource = [textAttribute('service.name', 'payment-api'), textAttribute('host.ip', '10.0.0.1')];
    const record = otlpRecord(protoBytes(requestOf([{ body: text('first') }, { severityText: 'warn' }, { body: text('third') }], resource)), { traceparent: TRACEPARENT });
    // Act
    await useCase.handle(kafkaEvent([record]));
    // Assess
    expect(publisher.json('complete').map((event) => event.message)).toEqual(['first', 'third']);
    const letters = publisher.published.filter((message) => message.topic === 'dlq');
    expect(letters.map((message) => [message.key, message.headers])).toEqual([[derivedEventId(record, 1), { traceparent: TRACEPARENT }]]);
    const letter = JSON.parse(String(letters[0]?.value));
    expect(letter).toMatchObject({
      reason: 'invalid',
      problems: [{ field: 'resourceLogs[0].scopeLogs[0].logRecords[1].body' }],
      event_id: derivedEventId(record, 1),
      source: { topic: 'raw-logs', partition: 0, offset: record.offset, index: 1 },
      original: { key: null, headers: record.headers },
    });
    const alone = fromBinary(ExportLogsServiceRequestSchema, Buffer.from(letter.original.value, 'base64'));
    expect(alone.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.severityText)))).toEqual(['warn']);
    expect(metrics.reports[0]).toMatchObject({ records: 3, complete: 2, partial: 0, deadLettered: 1 });
  });

  it("enriches the logs of an app that set no service name (the SDK's unknown_service:<process>) as partial", async () => {
    // Prepare
    const { useCase, publisher, metrics } = setupWithLog();
    const resource = [textAttribute('service.name', 'unknown_service:node'), textAttribute('host.ip', '10.0.0.1')];
    // Act
    await useCase.handle(kafkaEvent([otlpRecord(protoBytes(requestOf([{ body: text('started') }], resource)))]));
    // Assess
    expect(publisher.json('partial')).toEqual([expect.objectContaining({ message: 'started', service: expect.objectContaining({ name: 'unknown_service' }), attributes: expect.objectContaining({ 'otlp.service_name': 'unknown_service:node' }) })]);
    expect(metrics.reports[0]).toMatchObject({ records: 1, complete: 0, partial: 1, deadLettered: 0 });
  });

  it('dead-letters the logs of a resource without service.name each, their dead letters together about the size of the record', async () => {
    // Prepare: a 100 KB resource attribute shared by 200 log records.
    const { useCase, publisher, metrics, log } = setupWithLog();
    const value = protoBytes(requestOf(Array.from({ length: 200 }, (_, i) => ({ body: text(`m${i}`) })), [textAttribute('host.ip', '10.0.0.1'), textAttribute('k8s.big', 'y'.repeat(100_000))]));
    // Act
    await useCase.handle(kafkaEvent([otlpRecord(value)]));
    // Assess
    const letters = publisher.json('dlq');
    expect(letters).toHaveLength(200);
    const bytes = publisher.published.reduce((sum, message) => sum + Buffer.byteLength(String(message.value)), 0);
    expect(bytes).toBeLessThan(2 * value.length + 200 * 1_024);
    expect(letters.at(-1)).toMatchObject({ source: { index: 199 }, original: { value: null, truncated: true, value_omitted: 'in the source record (source + index)' } });
    expect(metrics.reports[0]).toMatchObject({ records: 200, complete: 0, partial: 0, deadLettered: 200 });
    // One log line for the record, not one per log
    const lines = log.lines.filter((line) => line.level === 'warn');
    expect(lines.map((line) => line.attributes)).toEqual([
      { record: expect.stringMatching(/^raw-logs-0@\d+$/), logs: 200, firstIndex: 0, reason: 'invalid', problems: [expect.objectContaining({ field: 'resourceLogs[0].resource.attributes["service.name"]' })] },
    ]);
  });

  it('dead-letters a request with zero log records once, counted as one', async () => {
    const { useCase, publisher, metrics } = setupWithLog();
    const record = otlpRecord('{"resourceLogs":[]}');
    await useCase.handle(kafkaEvent([record]));
    expect(publisher.json('dlq')).toEqual([expect.objectContaining({ reason: 'invalid', event_id: null, source: expect.not.objectContaining({ index: expect.anything() }) })]);
    expect(metrics.reports[0]).toMatchObject({ records: 1, complete: 0, partial: 0, deadLettered: 1 });
  });

  it('publishes the same keys when the batch is delivered again', async () => {
    // Prepare
    const { useCase, publisher } = setupWithLog();
    const event = kafkaEvent([otlpRecord(await otlpRequest(RESOURCES, 'otlp_json'))]);
    // Act
    await useCase.handle(event);
    const first = publisher.published.map((message) => message.key);
    await useCase.handle(event);
    // Assess
    expect(publisher.published.slice(first.length).map((message) => message.key)).toEqual(first);
  });

  it.each([
    ['otlp_proto', 'application/x-protobuf'],
    ['otlp_json', 'application/json'],
  ] as const)('with outputEncoding %s, publishes the logs of one record, topic and resource as one OTLP request (%s), dead letters as JSON', async (encoding, contentType) => {
    // Prepare
    const { useCase, publisher, metrics } = enrichBatchSetup({ outputEncoding: encoding });
    const otlp = otlpRecord(await otlpRequest(RESOURCES, 'otlp_proto'), { traceparent: TRACEPARENT });
    const ours = kafkaRecord(rawLog());
    const garbage = kafkaRecord(Buffer.from('not json').toString('base64'));
    // Act
    await useCase.handle(kafkaEvent([otlp, ours, garbage]));
    // Assess: the request's two logs of payment-api (complete) together, its unknown-api log (partial) alone, our JSON log alone
    const outputs = publisher.published.filter((message) => message.topic !== 'dlq');
    expect(outputs.map((output) => [output.topic, output.key])).toEqual([
      ['complete', derivedEventId(otlp, 0)],
      ['partial', derivedEventId(otlp, 2)],
      ['complete', expect.any(String)],
    ]);
    for (const output of outputs) expect(output.headers).toMatchObject({ 'content-type': contentType });
    expect(outputs.map((output) => output.headers?.traceparent)).toEqual([TRACEPARENT, TRACEPARENT, undefined]);
    const requests = outputs.map((output) => (encoding === 'otlp_proto' ? decodeOtlpProto(output.value as Buffer) : (JSON.parse(String(output.value)) as OtlpRequest)));
    expect(requests.map((request) => request.resourceLogs?.map((r) => r.scopeLogs?.map((scope) => scope.logRecords?.map((record) => record.body?.stringValue))))).toEqual([
      [[['one', 'two']]],
      [[['three']]],
      [[['hello']]],
    ]);
    expect(publisher.json('dlq')).toEqual([expect.objectContaining({ reason: 'undecodable' })]);
    expect(metrics.reports[0]).toMatchObject({ records: 5, complete: 3, partial: 1, deadLettered: 1 });
  });

  it('keeps the scopes of a resource apart, in input order, in its one request', async () => {
    // Prepare: one resource, three scopes
    const { useCase, publisher } = enrichBatchSetup({ outputEncoding: 'otlp_proto' });
    const resources: SdkResource[] = [
      { attributes: { 'service.name': 'payment-api', 'host.ip': '10.0.0.1' }, scopes: [{ name: 'a', logs: [{ body: 'a1' }, { body: 'a2' }] }, { name: 'b', logs: [{ body: 'b1' }] }, { name: 'c', logs: [{ body: 'c1' }] }] },
    ];
    // Act
    await useCase.handle(kafkaEvent([otlpRecord(await otlpRequest(resources, 'otlp_proto'))]));
    // Assess
    expect(publisher.published).toHaveLength(1);
    const request = decodeOtlpProto(publisher.published[0]?.value as Buffer);
    expect(request.resourceLogs?.map((r) => r.scopeLogs?.map((scope) => [scope.scope?.name, scope.logRecords?.map((record) => record.body?.stringValue)]))).toEqual([
      [
        ['a', ['a1', 'a2']],
        ['b', ['b1']],
        ['c', ['c1']],
      ],
    ]);
  });

  it("repeats a 300 KB resource once per request, not once per log (the reviewer's 2,000 records)", async () => {
    // Prepare: pA.ts case B, a 300 KB resource attribute shared by 2,000 tiny log records; the brokers' default
    // limit; without provenance (its nine record attributes per log would change the arithmetic below)
    const publisher = new LimitedPublisher(1_048_588);
    const { useCase, metrics } = setupWithLog('otlp_proto', publisher, { provenance: false });
    const records = Array.from({ length: 2_000 }, (_, i) => ({ body: text(`m${i}`), timeUnixNano: 1_705_314_600_000_000_000n, severityNumber: 9 }));
    const value = protoBytes(requestOf(records, [textAttribute('service.name', 'payment-api'), textAttribute('host.ip', '10.0.0.1'), textAttribute('k8s.big', 'y'.repeat(300_000))]));
    // Act
    await useCase.handle(kafkaEvent([otlpRecord(value)]));
    // Assess: one request of all of them would be 1.24 MB, so two (602 MB in 2,000 messages before grouping)
    expect(publisher.published).toHaveLength(2);
    const bytes = publisher.published.reduce((sum, message) => sum + messageBytes(message), 0);
    expect(bytes).toBeLessThan(5 * value.length);
    for (const message of publisher.published) expect(messageBytes(message)).toBeLessThanOrEqual(publisher.maxBytes);
    expect(publisher.published.flatMap(indexesOf)).toEqual(records.map((_, i) => i));
    expect(metrics.reports[0]).toMatchObject({ records: 2_000, complete: 2_000, partial: 0, deadLettered: 0 });
  });

  it('publishes the same groups, keys and bytes when the batch is delivered again', async () => {
    // Prepare: fixed clocks, so that the per-batch times are the same too; no provenance, which tells which tier
    // answered, and that differs on a redelivery (the in-process cache the second time)
    const { useCase, publisher } = enrichBatchSetup({ outputEncoding: 'otlp_proto', provenance: false, monotonic: () => 0, wallClock: () => new Date('2024-01-15T10:30:01.000Z') });
    const event = kafkaEvent([otlpRecord(await otlpRequest(RESOURCES, 'otlp_proto'))]);
    // Act
    await useCase.handle(event);
    const first = publisher.published.splice(0);
    await useCase.handle(event);
    // Assess
    expect(first).toHaveLength(2);
    expect(publisher.published.map((message) => [message.topic, message.key, Buffer.from(message.value).toString('base64')])).toEqual(
      first.map((message) => [message.topic, message.key, Buffer.from(message.value).toString('base64')]),
    );
  });
});

describe('EnrichBatch with outputs larger than the brokers take', () => {
  const resource = [textAttribute('service.name', 'payment-api'), textAttribute('host.ip', '10.0.0.1')];

  it('splits a request of many logs in two, and again, until each fits, every log once and in order', async () => {
    // Prepare: 400 logs of ~200 bytes each, a limit of 16 KiB
    const publisher = new LimitedPublisher(16_384);
    const { useCase, metrics } = setupWithLog('otlp_proto', publisher);
    const record = otlpRecord(protoBytes(requestOf(Array.from({ length: 400 }, (_, i) => ({ body: text(`${i} ${'x'.repeat(200)}`) })), resource)));
    // Act
    const result = await useCase.handle(kafkaEvent([record]));
    // Assess
    expect(result).toBeUndefined();
    expect(publisher.refused.length).toBeGreaterThan(1);
    expect(publisher.published.length).toBeGreaterThan(4);
    for (const message of publisher.published) expect(messageBytes(message)).toBeLessThanOrEqual(publisher.maxBytes);
    expect(publisher.published.flatMap(indexesOf)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(publisher.published.map((message) => message.key)).toEqual(publisher.published.map((message) => derivedEventId(record, indexesOf(message)[0] as number)));
    expect(metrics.reports[0]).toMatchObject({ records: 400, complete: 400, partial: 0, deadLettered: 0, published: true });
  });

  it.each(['otlp_proto', 'otlp_json'] as const)('dead-letters a single log whose %s output is too large, with its size and the limit, and publishes the rest', async (encoding) => {
    // Prepare: the second of three logs carries 20 KB, the limit is 16 KiB
    const publisher = new LimitedPublisher(16_384);
    const { useCase, metrics, log } = setupWithLog(encoding, publisher);
    const record = otlpRecord(protoBytes(requestOf([{ body: text('small') }, { body: text('big'), attributes: [textAttribute('payload', 'p'.repeat(20_000))] }, { body: text('last') }], resource)), { traceparent: TRACEPARENT });
    // Act
    const result = await useCase.handle(kafkaEvent([record]));
    // Assess
    expect(result).toBeUndefined();
    const letters = publisher.published.filter((message) => message.topic === 'dlq');
    expect(letters.map((letter) => [letter.key, letter.headers?.traceparent])).toEqual([[derivedEventId(record, 1), TRACEPARENT]]);
    expect(JSON.parse(String(letters[0]?.value))).toMatchObject({
      reason: 'invalid',
      problems: [{ field: '(output)', reason: expect.stringMatching(new RegExp(`^is \\d+ bytes as ${encoding}, larger than the brokers' limit of 16384 bytes`)) }],
      event_id: derivedEventId(record, 1),
      source: { offset: record.offset, index: 1 },
      // The record's value would not fit the limit beside the letter: the log is in the source record.
      original: { value: null, value_omitted: VALUE_IN_SOURCE },
    });
    const outputs = publisher.published.filter((message) => message.topic !== 'dlq');
    expect(outputs.map((output) => output.key)).toEqual([derivedEventId(record, 0), derivedEventId(record, 2)]);
    expect(metrics.reports[0]).toMatchObject({ records: 3, complete: 2, partial: 0, deadLettered: 1, published: true });
    expect(log.lines.filter((line) => line.message === 'record dead-lettered').map((line) => line.attributes)).toEqual([
      { record: `raw-logs-0@${record.offset}`, logs: 1, firstIndex: 1, reason: 'invalid', problems: [expect.objectContaining({ field: '(output)' })] },
    ]);
  });

  it('dead-letters every log at once when their resource alone is too large, without a copy of the record each', async () => {
    // Prepare: a 20 KB resource attribute, 50 logs, a limit of 16 KiB
    const publisher = new LimitedPublisher(16_384);
    const { useCase, metrics, log } = setupWithLog('otlp_proto', publisher);
    const record = otlpRecord(protoBytes(requestOf(Array.from({ length: 50 }, (_, i) => ({ body: text(`m${i}`) })), [...resource, textAttribute('k8s.big', 'y'.repeat(20_000))])));
    // Act
    await useCase.handle(kafkaEvent([record]));
    // Assess: no split was tried
    expect(publisher.refused).toHaveLength(1);
    const letters = publisher.json('dlq');
    expect(letters).toHaveLength(50);
    expect(letters[0]).toMatchObject({ problems: [{ field: '(output)', reason: expect.stringMatching(/^its resource alone is \d+ bytes as otlp_proto, larger than the brokers' limit of 16384 bytes/) }] });
    expect(letters.map((letter) => (letter.original as { value_omitted?: string }).value_omitted)).toEqual(letters.map(() => VALUE_IN_SOURCE));
    for (const message of publisher.published) expect(messageBytes(message)).toBeLessThanOrEqual(publisher.maxBytes);
    expect(metrics.reports[0]).toMatchObject({ records: 50, complete: 0, partial: 0, deadLettered: 50, published: true });
    expect(log.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
  });

  it("dead-letters the reviewer's 800 KB request (otlp_json output of 1,068,656 bytes) at the brokers' default limit, on every delivery", async () => {
    // Prepare: pA3.ts, under the Collector exporter's default max message size of 1,000,000 bytes
    const publisher = new LimitedPublisher(1_048_588);
    const { useCase, metrics } = setupWithLog('otlp_json', publisher);
    const bytes = protoBytes(requestOf([{ body: text('upload'), attributes: [{ key: 'payload', value: { value: { case: 'bytesValue', value: new Uint8Array(800_000).fill(7) } } }] }], resource));
    const event = kafkaEvent([otlpRecord(bytes)]);
    for (const delivery of [1, 2]) {
      // Act
      const result = await useCase.handle(event);
      // Assess
      expect({ delivery, result }).toEqual({ delivery, result: undefined });
      expect(metrics.reports.at(-1)).toMatchObject({ records: 1, complete: 0, deadLettered: 1, published: true });
    }
    const letters = publisher.json('dlq');
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({ problems: [{ field: '(output)', reason: expect.stringMatching(/^is 10\d{5} bytes as otlp_json, larger than the brokers' limit of 1048588 bytes/) }], original: { truncated: true } });
    for (const message of publisher.published) expect(messageBytes(message)).toBeLessThanOrEqual(publisher.maxBytes);
  });
});
