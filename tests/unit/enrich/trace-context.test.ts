/**
 * Enrich forwards the W3C trace headers a raw record came with onto every output made from it: complete,
 * partial and dead letters. Absent or invalid ones mean no trace headers, never a failed record.
 */
import { toPollerHeaderBytes } from '../../../functions/enrich/src/kafka-event.ts';
import { forwardedTrace } from '../../../functions/enrich/src/trace-context.ts';
import { enrichBatchSetup, fixture, kafkaEvent, kafkaRecord, rawLog } from './fakes.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const header = (name: string, value: string) => ({ [name]: toPollerHeaderBytes(Buffer.from(value)) });

describe('enrich: trace headers on the outputs', () => {
  it('puts the input traceparent, exactly, on complete and partial outputs (poller fixture, signed bytes)', async () => {
    // Prepare
    const { enrich, publisher } = enrichBatchSetup();
    // Act
    await enrich(fixture('poller-msk-event.json'));
    // Assess: offset 100 carries W3C's example traceparent; 101 and raw-logs-3@7 carry none.
    const bySource = new Map(publisher.published.map((message) => [JSON.parse(String(message.value)).source.offset as number, message]));
    expect(bySource.get(100)?.headers).toEqual({ traceparent: TRACEPARENT });
    expect(bySource.get(101)?.headers).toBeUndefined();
    expect(bySource.get(7)?.headers).toBeUndefined();
  });

  it('forwards the tracestate that came with a valid traceparent, whatever the header names’ case', async () => {
    const { useCase, publisher } = enrichBatchSetup();
    const headers = [header('TraceParent', TRACEPARENT), header('tracestate', 'congo=t61rcWkgMzE'), header('tenant', 'zé')];
    await useCase.handle(kafkaEvent([kafkaRecord(rawLog({ source_ip: '10.0.0.1' }), { headers }), kafkaRecord(rawLog({ source_ip: '203.0.113.5' }), { headers })]));
    expect(publisher.published.map((message) => [message.topic, message.headers])).toEqual([
      ['complete', { traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' }],
      ['partial', { traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' }],
    ]);
  });

  it('enriches a record with an invalid traceparent as any other, without trace headers', async () => {
    const { useCase, publisher } = enrichBatchSetup();
    const headers = [header('traceparent', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'), header('tracestate', 'congo=x')];
    await useCase.handle(kafkaEvent([kafkaRecord(rawLog(), { headers }), kafkaRecord(rawLog(), { headers: [{ traceparent: null }] })]));
    expect(publisher.published.map((message) => [message.topic, message.headers])).toEqual([
      ['complete', undefined],
      ['complete', undefined],
    ]);
  });

  it('enriches a record whose trace header is huge (a foreign producer\'s 200 kB) as any other, without trace headers', async () => {
    const { useCase, publisher } = enrichBatchSetup();
    const huge = `${TRACEPARENT}-${'a'.repeat(200_000)}`.replace(/^00/, 'cc');
    const headers = [header('traceparent', huge), header('tracestate', 'x'.repeat(200_000))];
    await useCase.handle(kafkaEvent([kafkaRecord(rawLog(), { headers })]));
    expect(publisher.published.map((message) => [message.topic, message.headers])).toEqual([['complete', undefined]]);
  });

  it('puts it on dead letters too, which keep every original header in their body as received', async () => {
    // Prepare
    const { useCase, publisher } = enrichBatchSetup();
    const headers = [header('traceparent', TRACEPARENT), header('tenant', 'zé')];
    const undecodable = kafkaRecord(Buffer.from('not json').toString('base64'), { headers });
    const invalid = kafkaRecord({ level: 'NOISY' }, { headers });
    const malformed = { ...kafkaRecord(rawLog(), { headers }), offset: 'seven' };
    // Act
    await useCase.handle(kafkaEvent([undecodable, invalid, malformed as unknown as typeof invalid]));
    // Assess
    const letters = publisher.published.filter((message) => message.topic === 'dlq');
    expect(letters.map((letter) => JSON.parse(String(letter.value)).reason)).toEqual(['undecodable', 'invalid', 'malformed']);
    for (const letter of letters) {
      expect(letter.headers).toEqual({ traceparent: TRACEPARENT });
      expect(JSON.parse(String(letter.value)).original.headers).toEqual(headers);
    }
  });
});

describe('forwardedTrace', () => {
  it('reads signed and unsigned bytes alike, the last of a repeated name, and nothing without a traceparent', () => {
    const unsigned = { traceparent: [...Buffer.from(TRACEPARENT)] };
    expect(forwardedTrace([unsigned])).toEqual({ traceparent: TRACEPARENT });
    expect(forwardedTrace([header('traceparent', 'garbage'), header('traceparent', TRACEPARENT)])).toEqual({ traceparent: TRACEPARENT });
    expect(forwardedTrace([header('tracestate', 'congo=x')])).toBeUndefined();
    expect(forwardedTrace([])).toBeUndefined();
    expect(forwardedTrace(null)).toBeUndefined();
  });
});
