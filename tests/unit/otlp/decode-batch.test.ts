/**
 * OTLP records through the enrich use case (EnrichBatch over the unit fakes): every log record of a request is
 * enriched or dead-lettered on its own, outputs carry `source.index`, the batch counts logs, and with an OTLP
 * output encoding the outputs are OTLP requests (their content is helper B's to prove: tests/unit/otlp/encode-*).
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { Log } from '#shared/log-port.ts';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { BATCH_TOPICS, buildLookup, enrichBatchSetup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, RecordingMetrics, rawLog, service } from '../enrich/fakes.ts';
import { expectValidEnrichedLog } from '../enrich/schema.ts';
import { otlpRequest, type SdkResource } from '../../support/otlp-sdk.ts';
import { otlpRecord, protoBytes, requestOf, text, textAttribute } from './decode-support.ts';

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

function setupWithLog(outputEncoding?: 'json' | 'otlp_proto' | 'otlp_json') {
  const source = new FakeSource();
  source.hosts = [host()];
  source.services = [service()];
  const publisher = new FakePublisher();
  const metrics = new RecordingMetrics();
  const log = new RecordingLog();
  const { lookup } = buildLookup(new FakeRemoteCache(), source);
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
    const { useCase, publisher, metrics } = setupWithLog();
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
  ] as const)('with outputEncoding %s, publishes each output as an OTLP request (%s), dead letters as JSON', async (encoding, contentType) => {
    // Prepare
    const { useCase, publisher } = enrichBatchSetup({ outputEncoding: encoding });
    const otlp = otlpRecord(await otlpRequest(RESOURCES, 'otlp_proto'), { traceparent: TRACEPARENT });
    const ours = kafkaRecord(rawLog());
    const garbage = kafkaRecord(Buffer.from('not json').toString('base64'));
    // Act
    await useCase.handle(kafkaEvent([otlp, ours, garbage]));
    // Assess
    const outputs = publisher.published.filter((message) => message.topic !== 'dlq');
    expect(outputs).toHaveLength(4);
    for (const output of outputs) expect(output.headers).toMatchObject({ 'content-type': contentType });
    expect(outputs.filter((output) => output.headers?.traceparent === TRACEPARENT)).toHaveLength(3);
    const requests = outputs.map((output) =>
      encoding === 'otlp_proto' ? fromBinary(ExportLogsServiceRequestSchema, output.value as Buffer) : (JSON.parse(String(output.value)) as { resourceLogs: unknown[] }),
    );
    for (const request of requests) expect(request.resourceLogs).toHaveLength(1);
    expect(publisher.json('dlq')).toEqual([expect.objectContaining({ reason: 'undecodable' })]);
  });
});
