import { silentLog } from '#shared/log-port.ts';
import { logger } from '#shared/observability.ts';
import { ServiceUnavailableError, ValidationError } from '#shared/errors.ts';
import { RawLogRecord } from '#shared/schemas/log.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import type { Candidate } from '../../../functions/ingest/src/parse-body.ts';
import { paymentLog, RecordingPublisher, sequentialIds, uncountedIngest } from './fakes.ts';

const NOW = new Date('2026-11-27T16:45:00.123Z');

function setup() {
  const publisher = new RecordingPublisher();
  const acceptLogs = new AcceptLogs({
    publisher,
    topic: 'raw-logs',
    retryAfterSeconds: 7,
    clock: () => NOW,
    newId: sequentialIds(),
    log: silentLog,
    metrics: uncountedIngest,
  });
  return { publisher, acceptLogs };
}

const candidates = (...values: unknown[]): Candidate[] => values.map((value, index) => ({ index, value }));

beforeAll(() => logger.setLogLevel('SILENT'));

describe('AcceptLogs', () => {
  it('builds a RawLogRecord with event_id, received_at and a default timestamp of now', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();

    // Act
    await acceptLogs.execute(candidates(paymentLog()));

    // Assess
    const value = JSON.parse(String(publisher.messages[0]?.value));
    expect(RawLogRecord.safeParse(value).success).toBe(true);
    expect(value).toEqual({
      event_id: '00000000-0000-4000-8000-000000000001',
      level: 'ERROR',
      message: 'Payment processing failed',
      service: 'payment-service',
      source_ip: '192.168.1.100',
      timestamp: '2026-11-27T16:45:00.123Z',
      received_at: '2026-11-27T16:45:00.123Z',
    });
  });

  it('keeps a client timestamp, normalised to ISO UTC, and the optional fields', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();
    const log = paymentLog({
      level: 'warn',
      timestamp: '2026-11-27T18:00:00+02:00',
      hostname: 'payment-api-01',
      trace_id: 'abc123',
      attributes: { order_id: 42 },
    });

    // Act
    await acceptLogs.execute(candidates(log));

    // Assess
    const value = RawLogRecord.parse(JSON.parse(String(publisher.messages[0]?.value)));
    expect(value).toMatchObject({
      level: 'WARN',
      timestamp: '2026-11-27T16:00:00.000Z',
      hostname: 'payment-api-01',
      trace_id: 'abc123',
      attributes: { order_id: 42 },
    });
  });

  it('keys each record by source_ip and publishes the whole batch in one call', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();

    // Act
    await acceptLogs.execute(candidates(paymentLog(), paymentLog({ source_ip: '10.20.1.5' }), paymentLog()));

    // Assess
    expect(publisher.calls).toHaveLength(1);
    expect(publisher.messages.map((message) => [message.topic, message.key])).toEqual([
      ['raw-logs', '192.168.1.100'],
      ['raw-logs', '10.20.1.5'],
      ['raw-logs', '192.168.1.100'],
    ]);
  });

  it('writes an IPv6 source_ip the way PostgreSQL does, in the value and the key', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();

    // Act
    await acceptLogs.execute(candidates(paymentLog({ source_ip: '2001:0DB8:0:0:0:0:0:1' })));

    // Assess
    const value = RawLogRecord.parse(JSON.parse(String(publisher.messages[0]?.value)));
    expect([value.source_ip, publisher.messages[0]?.key]).toEqual(['2001:db8::1', '2001:db8::1']);
  });

  it('answers the ids of the stored records in request order', async () => {
    // Prepare
    const { acceptLogs } = setup();

    // Act
    const result = await acceptLogs.execute(candidates(paymentLog(), paymentLog()));

    // Assess
    expect(result).toEqual({
      accepted: 2,
      eventIds: ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
      rejected: [],
    });
  });

  it('stores the valid records of a batch and reports each problem of the others with index, field and reason', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();
    const batch = candidates(
      paymentLog(),
      paymentLog({ level: 'LOUD', source_ip: 'not-an-ip' }),
      paymentLog({ service: undefined }),
      'just a string',
    );

    // Act
    const result = await acceptLogs.execute(batch);

    // Assess
    expect(result.accepted).toBe(1);
    expect(publisher.messages).toHaveLength(1);
    expect(result.rejected).toEqual([
      { index: 1, field: 'level', reason: 'must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL' },
      { index: 1, field: 'source_ip', reason: 'must be an IPv4 or IPv6 address' },
      { index: 2, field: 'service', reason: 'is required' },
      { index: 3, field: '(record)', reason: 'must be a JSON object' },
    ]);
  });

  it('passes on a problem the parser found (a malformed NDJSON line) as a rejection', async () => {
    // Prepare
    const { acceptLogs } = setup();
    const batch: Candidate[] = [
      { index: 0, problem: { index: 0, field: '(record)', reason: 'is not valid JSON' } },
      { index: 1, value: paymentLog() },
    ];

    // Act
    const result = await acceptLogs.execute(batch);

    // Assess
    expect(result.accepted).toBe(1);
    expect(result.rejected).toEqual([{ index: 0, field: '(record)', reason: 'is not valid JSON' }]);
  });

  it('refuses with 422 listing every problem when no record is valid, and publishes nothing', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();

    // Act
    const act = acceptLogs.execute(candidates({ level: 'INFO' }, 42));

    // Assess
    await expect(act).rejects.toThrow(ValidationError);
    await expect(act).rejects.toMatchObject({
      statusCode: 422,
      problems: expect.arrayContaining([
        { index: 0, field: 'message', reason: 'is required' },
        { index: 1, field: '(record)', reason: 'must be a JSON object' },
      ]),
    });
    expect(publisher.calls).toHaveLength(0);
  });

  it('fails with 503 and the configured Retry-After when the publisher fails', async () => {
    // Prepare
    const { publisher, acceptLogs } = setup();
    publisher.failing = true;

    // Act
    const act = acceptLogs.execute(candidates(paymentLog()));

    // Assess
    await expect(act).rejects.toThrow(ServiceUnavailableError);
    await expect(act).rejects.toMatchObject({ statusCode: 503, retryAfterSeconds: 7 });
  });
});
