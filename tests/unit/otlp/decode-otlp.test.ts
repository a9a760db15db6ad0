/**
 * The OTLP input (functions/enrich/src/otlp/decode-otlp.ts, through decodeRecord): requests written by the
 * OpenTelemetry JS SDK and its OTLP serializers (tests/support/otlp-sdk.ts), and hand-built ones for what no
 * SDK writes, become one log per log record through the contract, or per-record dead letters naming OTLP paths.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { defaultResource } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import fc from 'fast-check';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';
import { NESTING_RULE } from '#shared/schemas/log.ts';
import { decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { isOtlpJson } from '../../../functions/enrich/src/otlp/decode-otlp.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { CONTENT_TYPE, type OtlpEncoding, otlpRequest, type SdkResource, SeverityNumber } from '../../support/otlp-sdk.ts';
import { attribute, onlyFailure, onlyLog, otlpRecord, perLog, protoBytes, RESOURCE, requestOf, text, textAttribute } from './decode-support.ts';

const ENCODINGS: OtlpEncoding[] = ['otlp_proto', 'otlp_json'];
const TRACE = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
const FIRST = 'resourceLogs[0].scopeLogs[0].logRecords[0]';

/** Everything a log record can carry that the mapping reads, as an app emits it. */
const FULL: SdkResource[] = [
  {
    attributes: { 'service.name': 'checkout', 'host.name': 'web-01', 'host.ip': ['127.0.0.1', 'fe80::1', '10.0.0.5'], 'deployment.environment.name': 'prod' },
    scopes: [
      {
        name: 'checkout.http',
        version: '1.4.0',
        attributes: { 'scope.kind': 'http' },
        logs: [
          {
            body: 'payment accepted',
            severityNumber: SeverityNumber.WARN2,
            severityText: 'warning',
            eventName: 'payment.accepted',
            timestamp: [1_705_314_600, 123_456_789],
            attributes: { 'http.route': '/pay', attempts: 3, ratio: 0.5, retried: true, tags: ['a', 'b'], card: { brand: 'visa' } as never },
            span: TRACE,
          },
        ],
      },
    ],
  },
];

describe('OTLP input: recognition', () => {
  it.each(ENCODINGS)('decodes an SDK %s request without a content-type header, by its content', async (encoding) => {
    // Prepare
    const record = otlpRecord(await otlpRequest(FULL, encoding));
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toMatchObject({ ok: 'logs', encoding });
    expect(onlyLog(decoded)).toMatchObject({ message: 'payment accepted', service: 'checkout', origin: { encoding, index: 0 } });
  });

  it.each([
    ['content-type', 'application/x-protobuf'],
    ['Content-Type', 'application/protobuf'],
    ['CONTENT-TYPE', 'application/x-protobuf; proto=opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'],
  ])('reads protobuf when the %s header says %s', async (name, value) => {
    const decoded = decodeRecord(otlpRecord(await otlpRequest(FULL, 'otlp_proto'), { [name]: value }));
    expect(decoded).toMatchObject({ ok: 'logs', encoding: 'otlp_proto' });
  });

  it('reads application/json by its shape: an OTLP request, or a log of our contract', async () => {
    const otlp = decodeRecord(otlpRecord(await otlpRequest(FULL, 'otlp_json'), { 'content-type': CONTENT_TYPE.otlp_json }));
    const ours = decodeRecord(otlpRecord(JSON.stringify({ level: 'INFO', message: 'm', service: 's', hostname: 'h' }), { 'content-type': 'application/json; charset=utf-8' }));
    expect(otlp).toMatchObject({ ok: 'logs', encoding: 'otlp_json' });
    expect(ours).toMatchObject({ ok: true, log: { message: 'm' } });
    expect(ours.ok === true && ours.log.origin).toBeUndefined();
  });

  it.each([
    ['a string', { message: 'hi', service: 'payment-api', hostname: 'web-server-01', level: 'INFO', resourceLogs: 'n/a' }],
    ['an empty list', { message: 'hi', service: 'payment-api', hostname: 'web-server-01', level: 'INFO', resourceLogs: [] }],
    ['a list, next to msg', { msg: 'hi', level: 'INFO', service: 'payment-api', source_ip: '192.168.1.100', resourceLogs: [{ foo: 1 }] }],
    ['a list, next to short_message (GELF)', { short_message: 'hi', level: 'INFO', host: 'web-server-01', service: 'payment-api', resourceLogs: [] }],
    ['a list, next to log (Fluent Bit)', { log: 'hi', level: 'INFO', host: 'web-server-01', service: 'payment-api', resourceLogs: [] }],
  ])('keeps a log of our contract with a resourceLogs field that is %s on our contract, the field under attributes', (_kind, log) => {
    const decoded = decodeRecord(otlpRecord(JSON.stringify(log)));
    expect(decoded).toMatchObject({ ok: true, log: { message: 'hi', service: 'payment-api', attributes: { resourceLogs: log.resourceLogs } } });
  });

  it('leaves an object whose resourceLogs is no list to the contract, which says what a log lacks', () => {
    const decoded = decodeRecord(otlpRecord('{"resourceLogs":"n/a"}'));
    expect(decoded).toMatchObject({ ok: false, reason: 'invalid', problems: expect.arrayContaining([{ field: 'message', reason: 'is required' }]) });
  });

  it.each([
    [{ resourceLogs: [] }, true],
    [{ resourceLogs: [], partialSuccess: {} }, true],
    [{ resourceLogs: null }, false],
    [{ resourceLogs: {} }, false],
    [{ resourceLogs: [], message: 'hi' }, false],
    [{ resourceLogs: [], msg: null }, false],
    [[{ resourceLogs: [] }], false],
  ])('isOtlpJson(%j) is %s', (parsed, expected) => {
    expect(isOtlpJson(parsed)).toBe(expected);
  });

  it('ignores a content-type it does not know and recognises the content', async () => {
    const decoded = decodeRecord(otlpRecord(await otlpRequest(FULL, 'otlp_proto'), { 'content-type': 'text/plain' }));
    expect(decoded).toMatchObject({ ok: 'logs', encoding: 'otlp_proto' });
  });

  it('keeps a JSON log of ours that starts with a newline (byte 0x0A) on our contract', () => {
    // Prepare: 0x0A is also how a protobuf request begins; valid JSON decides first.
    const record = otlpRecord('\n{"level":"INFO","message":"m","service":"s","hostname":"h"}');
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toMatchObject({ ok: true, log: { message: 'm', event_id: derivedEventId(record) } });
  });

  it('dead-letters a value the header says is protobuf but is not, naming the header', () => {
    const decoded = decodeRecord(otlpRecord('{"resourceLogs":[]}', { 'content-type': 'application/x-protobuf' }));
    expect(decoded).toEqual({
      ok: false,
      reason: 'undecodable',
      problems: [{ field: '(value)', reason: expect.stringMatching(/^is not an OTLP protobuf ExportLogsServiceRequest: .* \(its content-type header says protobuf\)$/) }],
      eventId: undefined,
    });
  });

  it('does not try protobuf when the header says JSON', async () => {
    const decoded = decodeRecord(otlpRecord(await otlpRequest(FULL, 'otlp_proto'), { 'content-type': 'application/json' }));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable' });
    expect(decoded.ok === false && decoded.problems[0]?.reason).not.toMatch(/OTLP/);
  });

  it('dead-letters truncated protobuf once, saying that JSON and OTLP protobuf were both tried', async () => {
    // Prepare
    const bytes = await otlpRequest(FULL, 'otlp_proto');
    // Act
    const decoded = decodeRecord(otlpRecord(bytes.subarray(0, Math.floor(bytes.length / 2))));
    // Assess
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable', eventId: undefined });
    expect(decoded.ok === false && decoded.problems).toEqual([{ field: '(value)', reason: expect.stringMatching(/UTF-8|JSON.*; nor is it an OTLP protobuf ExportLogsServiceRequest: /) }]);
  });

  it('dead-letters garbage that starts with 0x0A once, as undecodable', () => {
    const decoded = decodeRecord(otlpRecord(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: expect.stringContaining('nor is it an OTLP protobuf') }] });
  });

  it('does not try protobuf for a value that is not JSON and does not start as a request does', () => {
    const decoded = decodeRecord(otlpRecord('not json'));
    expect(decoded).toMatchObject({ ok: false, reason: 'undecodable', problems: [{ field: '(value)', reason: expect.not.stringContaining('OTLP') }] });
  });

  it.each([
    ['otlp_proto', protoBytes({ resourceLogs: [{ resource: { attributes: RESOURCE }, scopeLogs: [{ scope: { name: 'app' } }] }] })],
    ['otlp_json', '{"resourceLogs":[]}'],
    ['otlp_json', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[]}]}]}'],
  ])('dead-letters a %s request with zero log records once, as invalid', (_encoding, value) => {
    const decoded = decodeRecord(otlpRecord(value));
    expect(decoded).toEqual({ ok: false, reason: 'invalid', problems: [{ field: 'resourceLogs', reason: 'holds no log records' }], eventId: undefined });
  });

  it('dead-letters an OTLP/JSON request whose containers are not lists or objects once, naming each', () => {
    const decoded = decodeRecord(otlpRecord('{"resourceLogs":[{"scopeLogs":{"logRecords":[]}}, 3]}'));
    expect(decoded).toEqual({
      ok: false,
      reason: 'invalid',
      problems: [
        { field: 'resourceLogs[0].scopeLogs', reason: 'must be a list' },
        { field: 'resourceLogs[1]', reason: 'must be an object' },
      ],
      eventId: undefined,
    });
  });

  it('never throws, whatever bytes follow a leading 0x0A', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        const decoded = decodeRecord(otlpRecord(Buffer.from([0x0a, ...tail])));
        expect(['logs', false]).toContain(decoded.ok);
      }),
      { numRuns: 500 },
    );
  });
});

describe('OTLP input: mapping', () => {
  it.each(ENCODINGS)('maps every field of an SDK %s log record', async (encoding) => {
    // Prepare
    const record = otlpRecord(await otlpRequest(FULL, encoding), {}, { timestamp: 1_705_314_601_000 });
    // Act
    const log = onlyLog(decodeRecord(record));
    // Assess
    expect(log).toEqual({
      level: 'WARN',
      message: 'payment accepted',
      service: 'checkout',
      // The first host.ip that is neither loopback nor link-local, as the contract's preferredIp picks.
      source_ip: '10.0.0.5',
      timestamp: '2024-01-15T10:30:00.123Z',
      hostname: 'web-01',
      trace_id: TRACE.traceId,
      attributes: {
        'http.route': '/pay',
        attempts: 3,
        ratio: 0.5,
        retried: true,
        tags: ['a', 'b'],
        card: { brand: 'visa' },
        'otel.scope.name': 'checkout.http',
        'otel.scope.version': '1.4.0',
        'otlp.scope.attributes': { 'scope.kind': 'http' },
        'otlp.resource': { 'host.ip': ['127.0.0.1', 'fe80::1', '10.0.0.5'], 'deployment.environment.name': 'prod' },
        'otlp.span_id': TRACE.spanId,
        'otlp.trace_flags': 1,
        'otlp.severity_number': SeverityNumber.WARN2,
        'otlp.severity_text': 'warning',
        'otlp.event_name': 'payment.accepted',
        'otlp.time_unix_nano': '1705314600123456789',
        'otlp.observed_time_unix_nano': expect.stringMatching(/^\d{19}$/),
      },
      event_id: derivedEventId(record, 0),
      received_at: '2024-01-15T10:30:01.000Z',
      derived: ['event_id', 'received_at'],
      dropped_attributes: [],
      origin: expect.objectContaining({ encoding, index: 0, resourceSchemaUrl: '', scopeSchemaUrl: '' }),
    });
    expect(log.origin?.record.severityNumber).toBe(SeverityNumber.WARN2);
    expect(log.origin?.scope?.name).toBe('checkout.http');
    expect(log.origin?.resource?.attributes.map((kv) => kv.key)).toEqual(['service.name', 'host.name', 'host.ip', 'deployment.environment.name']);
  });

  it.each(ENCODINGS)('gives each log record of a %s request across resources and scopes its own log, index and event id', async (encoding) => {
    // Prepare
    const resources: SdkResource[] = [
      {
        attributes: { 'service.name': 'checkout', 'host.name': 'web-01' },
        scopes: [
          { name: 'a', logs: [{ body: 'r0 a 0' }, { body: 'r0 a 1' }] },
          { name: 'b', logs: [{ body: 'r0 b 0' }] },
        ],
      },
      { attributes: { 'service.name': 'billing', 'host.name': 'web-02' }, scopes: [{ name: 'c', logs: [{ body: 'r1 c 0' }, { body: 'r1 c 1' }, { body: 'r1 c 2' }] }] },
    ];
    const record = otlpRecord(await otlpRequest(resources, encoding));
    // Act
    const logs = perLog(decodeRecord(record)).map((each) => (each.ok ? each.log : undefined));
    // Assess
    expect(logs.map((log) => [log?.message, log?.service, log?.hostname, log?.attributes?.['otel.scope.name'], log?.origin?.index])).toEqual([
      ['r0 a 0', 'checkout', 'web-01', 'a', 0],
      ['r0 a 1', 'checkout', 'web-01', 'a', 1],
      ['r0 b 0', 'checkout', 'web-01', 'b', 2],
      ['r1 c 0', 'billing', 'web-02', 'c', 3],
      ['r1 c 1', 'billing', 'web-02', 'c', 4],
      ['r1 c 2', 'billing', 'web-02', 'c', 5],
    ]);
    expect(logs.map((log) => log?.event_id)).toEqual([0, 1, 2, 3, 4, 5].map((index) => derivedEventId(record, index)));
  });

  it('derives the same event ids when the record is delivered again, and other ids at other coordinates', async () => {
    // Prepare
    const bytes = await otlpRequest([{ attributes: { 'service.name': 'checkout', 'host.name': 'web-01' }, scopes: [{ name: 'a', logs: [{ body: 'x' }, { body: 'y' }] }] }], 'otlp_proto');
    const record = otlpRecord(bytes);
    const ids = (decoded: ReturnType<typeof decodeRecord>) => perLog(decoded).map((each) => (each.ok ? each.log.event_id : each.eventId));
    // Act
    const first = ids(decodeRecord(record));
    const again = ids(decodeRecord({ ...record }));
    const elsewhere = ids(decodeRecord({ ...record, offset: record.offset + 1 }));
    // Assess
    expect(again).toEqual(first);
    expect(new Set([...first, ...elsewhere]).size).toBe(4);
    // A JSON record at these coordinates keeps the id it always had: the index makes OTLP ids other ones.
    expect(first).not.toContain(derivedEventId(record));
  });

  it.each([
    [SeverityNumber.TRACE, '', 'TRACE'],
    [SeverityNumber.TRACE4, '', 'TRACE'],
    [SeverityNumber.DEBUG, '', 'DEBUG'],
    [SeverityNumber.DEBUG4, '', 'DEBUG'],
    [SeverityNumber.INFO, '', 'INFO'],
    [SeverityNumber.INFO4, '', 'INFO'],
    [SeverityNumber.WARN, 'error', 'WARN'],
    [SeverityNumber.WARN4, '', 'WARN'],
    [SeverityNumber.ERROR, '', 'ERROR'],
    [SeverityNumber.ERROR4, '', 'ERROR'],
    [SeverityNumber.FATAL, '', 'FATAL'],
    [SeverityNumber.FATAL4, '', 'FATAL'],
    [SeverityNumber.UNSPECIFIED, 'warning', 'WARN'],
    [SeverityNumber.UNSPECIFIED, ' CRIT ', 'FATAL'],
    [SeverityNumber.UNSPECIFIED, '3', 'ERROR'],
    [99, 'debug', 'DEBUG'],
  ])('severityNumber %d with severityText %j is %s', (severityNumber, severityText, level) => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), severityNumber, severityText }])))));
    expect(log.level).toBe(level);
    expect(log.derived).not.toContain('level');
  });

  it.each([
    [SeverityNumber.UNSPECIFIED, ''],
    [SeverityNumber.UNSPECIFIED, 'Information'],
    [25, ''],
  ])('severityNumber %d with severityText %j is INFO, listed in derived', (severityNumber, severityText) => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), severityNumber, severityText }])))));
    expect(log.level).toBe('INFO');
    expect(log.derived).toEqual(['event_id', 'received_at', 'timestamp', 'level']);
  });

  it.each([
    ['an int', { value: { case: 'intValue' as const, value: 42n } }, '42', 42],
    ['a bool', { value: { case: 'boolValue' as const, value: false } }, 'false', false],
    ['a double', { value: { case: 'doubleValue' as const, value: 2.5 } }, '2.5', 2.5],
    ['bytes', { value: { case: 'bytesValue' as const, value: new Uint8Array([1, 2]) } }, '"AQI="', 'AQI='],
    ['an array', { value: { case: 'arrayValue' as const, value: { values: [text('a'), { value: { case: 'intValue' as const, value: 1n } }] } } }, '["a",1]', ['a', 1]],
    ['a kvlist', { value: { case: 'kvlistValue' as const, value: { values: [attribute('k', text('v')), attribute('n', { value: { case: 'doubleValue' as const, value: Number.NaN } })] } } }, '{"k":"v","n":"NaN"}', { k: 'v', n: 'NaN' }],
  ])('a body that is %s is its JSON text, and kept as otlp.body', (_kind, body, message, kept) => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body }])))));
    expect(log.message).toBe(message);
    expect(log.attributes?.['otlp.body']).toEqual(kept);
  });

  it.each([
    ['no body', {}],
    ['an empty string body', { body: text('') }],
  ])('a log record with %s takes its eventName as the message', (_kind, body) => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ ...body, eventName: 'session.start' }])))));
    expect(log.message).toBe('session.start');
    expect(log.attributes?.['otlp.event_name']).toBe('session.start');
  });

  it('dead-letters a log record with neither a body nor an eventName, naming its body', () => {
    const failure = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ severityNumber: SeverityNumber.INFO }])))));
    expect(failure.problems).toEqual([{ field: `${FIRST}.body`, reason: 'is required: a log record needs a body, or an eventName when it has none' }]);
  });

  it('dead-letters the log records of a resource without service.name, and only those', async () => {
    // Prepare
    const resources: SdkResource[] = [
      { attributes: { 'host.name': 'web-01' }, scopes: [{ name: 'a', logs: [{ body: 'no service' }] }] },
      { attributes: { 'service.name': 'checkout', 'host.name': 'web-01' }, scopes: [{ name: 'a', logs: [{ body: 'fine' }] }] },
    ];
    const record = otlpRecord(await otlpRequest(resources, 'otlp_proto'));
    // Act
    const [orphan, fine] = perLog(decodeRecord(record));
    // Assess
    expect(orphan).toMatchObject({
      ok: false,
      reason: 'invalid',
      problems: [{ field: 'resourceLogs[0].resource.attributes["service.name"]', reason: 'is required' }],
      eventId: derivedEventId(record, 0),
      index: 0,
    });
    expect(fine).toMatchObject({ ok: true, log: { message: 'fine', event_id: derivedEventId(record, 1) } });
  });

  it.each(ENCODINGS)('takes the SDK default service name (an app that sets none) as the service unknown_service, from %s', async (encoding) => {
    // Prepare: what @opentelemetry/resources writes, `unknown_service:<process>`.
    const written = defaultResource().attributes[ATTR_SERVICE_NAME];
    expect(written).toMatch(/^unknown_service:/);
    const record = otlpRecord(await otlpRequest([{ attributes: { 'service.name': written, 'host.name': 'web-01' }, scopes: [{ name: 'app', logs: [{ body: 'm' }] }] }], encoding));
    // Act
    const log = onlyLog(decodeRecord(record));
    // Assess
    expect(log).toMatchObject({ service: 'unknown_service', hostname: 'web-01', attributes: { 'otlp.service_name': written } });
  });

  it.each([
    ['unknown_service', undefined],
    ['unknown_service:', 'unknown_service:'],
    ['unknown_service:/usr/local/bin/node server.js', 'unknown_service:/usr/local/bin/node server.js'],
  ])('maps the service name %j to unknown_service, the name as written kept when it differs', (name, kept) => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m') }], [textAttribute('service.name', name), textAttribute('host.name', 'web-01')])))));
    expect(log.service).toBe('unknown_service');
    expect(log.attributes?.['otlp.service_name']).toBe(kept);
  });

  it.each([
    ['empty', [textAttribute('service.name', ''), textAttribute('host.name', 'web-01')], expect.stringContaining('letters, digits')],
    ['absent', [textAttribute('host.name', 'web-01')], 'is required'],
    ['another name the contract refuses', [textAttribute('service.name', 'unknown service'), textAttribute('host.name', 'web-01')], expect.stringContaining('letters, digits')],
  ])('dead-letters a log whose service.name is %s, naming it', (_kind, resource, reason) => {
    const failure = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m') }], resource)))));
    expect(failure.problems).toEqual([{ field: 'resourceLogs[0].resource.attributes["service.name"]', reason }]);
  });

  it('takes source_ip from the resource, skipping addresses that are names or socket paths', () => {
    // Prepare
    const resource = [textAttribute('service.name', 'checkout'), textAttribute('source.address', '/var/run/app.sock'), textAttribute('client.address', '2001:0db8::0005')];
    const records = [{ body: text('m'), attributes: [textAttribute('source.address', '10.9.9.9')] }];
    // Act
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf(records, resource)))));
    // Assess: the resource's client.address, in the contract's (PostgreSQL's) spelling; the record's stays an attribute.
    expect(log.source_ip).toBe('2001:db8::5');
    expect(log.hostname).toBeUndefined();
    expect(log.attributes?.['source.address']).toBe('10.9.9.9');
  });

  it("keeps a log record's client.address as an attribute, never as a lookup key (an HTTP server logs its client)", () => {
    // Prepare: server api-02 logs a request from 192.168.1.100.
    const resource = [textAttribute('service.name', 'payment-api'), textAttribute('host.name', 'api-02')];
    const records = [{ body: text('GET /health 200'), attributes: [textAttribute('http.request.method', 'GET'), textAttribute('client.address', '192.168.1.100')] }];
    // Act
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf(records, resource)))));
    // Assess
    expect(log).toMatchObject({ hostname: 'api-02', attributes: { 'client.address': '192.168.1.100' } });
    expect(log.source_ip).toBeUndefined();
  });

  it('names host.name and the address attributes when the resource has neither an address nor a host name, whatever the record holds', () => {
    const resource = [textAttribute('service.name', 'checkout'), textAttribute('client.address', 'front.example.com')];
    const failure = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), attributes: [textAttribute('client.address', '10.0.0.7')] }], resource)))));
    expect(failure.problems).toEqual([
      { field: 'resourceLogs[0].resource.attributes["host.name"]', reason: 'is required when no host.ip, source.address, client.address attribute of the resource holds an IP address' },
    ]);
  });

  it('drops a trace id of zeros and dead-letters ids of the wrong length in protobuf', () => {
    const zeros = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), traceId: new Uint8Array(16) }])))));
    const wrong = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), traceId: new Uint8Array(5), spanId: new Uint8Array(3) }])))));
    expect(zeros.trace_id).toBeUndefined();
    expect(wrong.problems.map((problem) => problem.field)).toEqual([`${FIRST}.traceId`, `${FIRST}.spanId`]);
  });

  it('keeps attributes while they fit in 16384 bytes and names the rest in dropped_attributes', () => {
    const attributes = Array.from({ length: 20 }, (_, i) => textAttribute(`big.${i}`, 'x'.repeat(1_000)));
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), attributes, severityText: 'info' }])))));
    expect(Buffer.byteLength(JSON.stringify(log.attributes))).toBeLessThanOrEqual(16_384);
    // The smaller ones after them still fit, and are kept.
    expect(log.dropped_attributes).toEqual(['big.16', 'big.17', 'big.18', 'big.19']);
    expect(log.attributes).toMatchObject({ 'otel.scope.name': 'app', 'otlp.severity_text': 'info' });
  });

  it('names a resource or scope larger than the attributes limit in dropped_attributes, for each of its logs', () => {
    // Prepare
    const request = {
      resourceLogs: [
        {
          resource: { attributes: [...RESOURCE, textAttribute('k8s.big', 'y'.repeat(20_000))] },
          scopeLogs: [{ scope: { name: 'app', attributes: [textAttribute('scope.big', 'z'.repeat(20_000))] }, logRecords: [{ body: text('a') }, { body: text('b') }] }],
        },
      ],
    };
    // Act
    const logs = perLog(decodeRecord(otlpRecord(protoBytes(request))));
    // Assess
    for (const each of logs) {
      expect(each).toMatchObject({ ok: true, log: { dropped_attributes: ['otlp.scope.attributes', 'otlp.resource'], attributes: { 'otel.scope.name': 'app' } } });
    }
  });

  it('keeps the first of a repeated attribute key and names the repeat', () => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), attributes: [textAttribute('k', 'first'), textAttribute('k', 'second')] }])))));
    expect(log.attributes?.k).toBe('first');
    expect(log.dropped_attributes).toEqual(['k']);
  });

  it('dead-letters an attribute nested deeper than the contract allows, naming it', () => {
    let value: Parameters<typeof attribute>[1] = text('leaf');
    for (let i = 0; i < 40; i++) value = { value: { case: 'arrayValue', value: { values: [value] } } };
    const failure = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), attributes: [attribute('deep', value)] }])))));
    expect(failure.problems).toEqual([{ field: `${FIRST}.attributes["deep"]`, reason: NESTING_RULE }]);
  });

  it('names a resource attribute that otlp.resource would hold deeper than the contract allows', () => {
    // 32 levels are allowed for each attribute, but otlp.resource holds them one level deeper.
    let value: Parameters<typeof attribute>[1] = text('leaf');
    for (let i = 0; i < 32; i++) value = { value: { case: 'arrayValue', value: { values: [value] } } };
    const resource = [...RESOURCE, attribute('deep', value)];
    const failure = onlyFailure(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m') }], resource)))));
    expect(failure.problems).toEqual([{ field: 'resourceLogs[0].resource.attributes["deep"]', reason: NESTING_RULE }]);
  });

  it('keeps an attribute named __proto__ out of attributes and names it, as the contract does', () => {
    const log = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), attributes: [textAttribute('__proto__', 'x'), textAttribute('a', 'b')] }])))));
    expect(log.attributes?.a).toBe('b');
    expect(Object.hasOwn(log.attributes ?? {}, '__proto__')).toBe(false);
    expect(log.dropped_attributes).toEqual(['__proto__']);
  });

  it('gives the same event whether the contract or its fast path read it (an IPv6 address takes the contract)', () => {
    const decode = (ip: string) => onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), timeUnixNano: 1_705_314_600_000_000_000n }], [...RESOURCE, textAttribute('host.ip', ip)])), {}, { offset: 7 })));
    const { source_ip: v4, attributes: a4, origin: _o4, ...fast } = decode('10.0.0.5');
    const { source_ip: v6, attributes: a6, origin: _o6, ...slow } = decode('2001:db8::5');
    expect([v4, v6]).toEqual(['10.0.0.5', '2001:db8::5']);
    expect(slow).toEqual(fast);
    expect(Object.keys(a6 ?? {})).toEqual(Object.keys(a4 ?? {}));
  });

  it('takes observedTimeUnixNano when timeUnixNano is unset, and derives the timestamp when both are', () => {
    const observed = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m'), observedTimeUnixNano: 1_705_314_600_999_000_000n }])))));
    const neither = onlyLog(decodeRecord(otlpRecord(protoBytes(requestOf([{ body: text('m') }])), {}, { timestamp: 1_705_314_605_000 })));
    expect(observed.timestamp).toBe('2024-01-15T10:30:00.999Z');
    expect(neither).toMatchObject({ timestamp: '2024-01-15T10:30:05.000Z', derived: ['event_id', 'received_at', 'timestamp', 'level'] });
  });

  it('dead-letters a failing log record with its index and a value that is that record alone, which replays alone', () => {
    // Prepare
    const records = [{ body: text('ok 0') }, { severityText: 'warn' }, { body: text('ok 2') }];
    const record = otlpRecord(protoBytes(requestOf(records)));
    // Act
    const failure = perLog(decodeRecord(record))[1];
    // Assess
    expect(failure).toMatchObject({ ok: false, index: 1, eventId: derivedEventId(record, 1) });
    const value = failure?.ok === false ? failure.value : undefined;
    const alone = fromBinary(ExportLogsServiceRequestSchema, Buffer.from(value ?? '', 'base64'));
    expect(alone.resourceLogs).toHaveLength(1);
    expect(alone.resourceLogs[0]?.resource?.attributes.map((kv) => kv.key)).toEqual(['service.name', 'host.name']);
    expect(alone.resourceLogs[0]?.scopeLogs[0]?.scope?.name).toBe('app');
    expect(alone.resourceLogs[0]?.scopeLogs[0]?.logRecords.map((log) => log.severityText)).toEqual(['warn']);
    // Replayed alone, it is the first record of its request, with the same problem.
    expect(onlyFailure(decodeRecord(otlpRecord(Buffer.from(value ?? '', 'base64')))).problems).toEqual([{ field: `${FIRST}.body`, reason: expect.stringContaining('is required') }]);
  });
});

describe('OTLP input: OTLP/JSON', () => {
  const JSON_RESOURCE = { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'web-01' } }] };
  const jsonRequest = (record: Record<string, unknown>) =>
    JSON.stringify({ resourceLogs: [{ resource: JSON_RESOURCE, scopeLogs: [{ scope: { name: 'app' }, logRecords: [{ body: { stringValue: 'm' }, ...record }] }] }] });

  it.each([
    ['lower case', TRACE.traceId],
    ['upper case', TRACE.traceId.toUpperCase()],
  ])('reads a hex traceId in %s as the lowercase trace_id', (_case, traceId) => {
    const log = onlyLog(decodeRecord(otlpRecord(jsonRequest({ traceId, spanId: TRACE.spanId.toUpperCase() }))));
    expect(log.trace_id).toBe(TRACE.traceId);
    expect(log.attributes?.['otlp.span_id']).toBe(TRACE.spanId);
  });

  it.each([
    ['too short', { traceId: TRACE.traceId.slice(2) }, 'traceId'],
    ['base64 rather than hex', { traceId: Buffer.from(TRACE.traceId, 'hex').toString('base64') }, 'traceId'],
    ['not hex', { spanId: 'zz'.repeat(8) }, 'spanId'],
    ['a number', { traceId: 12 }, 'traceId'],
  ])('dead-letters a log record whose id is %s, naming it', (_kind, ids, field) => {
    const failure = onlyFailure(decodeRecord(otlpRecord(jsonRequest(ids))));
    expect(failure.problems).toEqual([{ field: `${FIRST}.${field}`, reason: expect.stringMatching(/^must be \d+ hexadecimal digits/) }]);
  });

  it('reads 64-bit integers written as strings and as numbers, every digit kept', () => {
    // Prepare: 1705314600123456789 and 9007199254740993 are beyond 2^53, where a JSON number loses digits in JSON.parse.
    const asStrings = jsonRequest({ timeUnixNano: '1705314600123456789', attributes: [{ key: 'big', value: { intValue: '9007199254740993' } }, { key: 'small', value: { intValue: '42' } }] });
    const asNumbers = asStrings.replace('"1705314600123456789"', '1705314600123456789').replace('"9007199254740993"', '9007199254740993').replace('"42"', '42');
    // Act
    const logs = [asStrings, asNumbers].map((value) => onlyLog(decodeRecord(otlpRecord(value))));
    // Assess
    for (const log of logs) {
      expect(log.attributes).toMatchObject({ big: '9007199254740993', small: 42, 'otlp.time_unix_nano': '1705314600123456789' });
      expect(log.timestamp).toBe('2024-01-15T10:30:00.123Z');
      expect(log.origin?.record.timeUnixNano).toBe(1_705_314_600_123_456_789n);
    }
  });

  it('ignores fields it does not know, at every level', () => {
    // Prepare
    const value = JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'web-01' } }], futureField: 1 },
          scopeLogs: [{ scope: { name: 'app', futureField: [] }, logRecords: [{ body: { stringValue: 'm' }, futureField: { a: 1 } }], futureField: 'x' }],
          futureField: true,
        },
      ],
      futureField: null,
    });
    // Act
    const log = onlyLog(decodeRecord(otlpRecord(value)));
    // Assess
    expect(log.message).toBe('m');
  });

  it('ignores a protobuf field it does not know', () => {
    // Field 99, varint 1, after the request's own fields: what a newer OTLP version could add.
    const bytes = Buffer.concat([protoBytes(requestOf([{ body: text('m') }])), Buffer.from([0x98, 0x06, 0x01])]);
    expect(onlyLog(decodeRecord(otlpRecord(bytes))).message).toBe('m');
  });

  it('dead-letters only the log record with a value of the wrong type, naming its field', () => {
    // Prepare
    const value = JSON.stringify({
      resourceLogs: [{ resource: JSON_RESOURCE, scopeLogs: [{ logRecords: [{ body: { stringValue: 'fine' } }, { body: { stringValue: 'bad' }, timeUnixNano: 'yesterday' }] }] }],
    });
    // Act
    const [fine, bad] = perLog(decodeRecord(otlpRecord(value)));
    // Assess
    expect(fine).toMatchObject({ ok: true, log: { message: 'fine' } });
    expect(bad).toMatchObject({ ok: false, index: 1, problems: [{ field: 'resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano', reason: expect.stringContaining('is not valid OTLP/JSON') }] });
    // Its dead letter's value is that record alone, in OTLP/JSON, as it came.
    const alone = JSON.parse(Buffer.from(bad?.ok === false ? (bad.value ?? '') : '', 'base64').toString('utf8'));
    expect(alone.resourceLogs[0].scopeLogs[0].logRecords).toEqual([{ body: { stringValue: 'bad' }, timeUnixNano: 'yesterday' }]);
  });

  it('dead-letters every log record of a resource that is not valid OTLP/JSON', () => {
    const value = JSON.stringify({ resourceLogs: [{ resource: { attributes: {} }, scopeLogs: [{ logRecords: [{ body: { stringValue: 'a' } }, { body: { stringValue: 'b' } }] }] }] });
    const results = perLog(decodeRecord(otlpRecord(value)));
    expect(results).toEqual([
      expect.objectContaining({ ok: false, index: 0, problems: [{ field: 'resourceLogs[0].resource.attributes', reason: 'is not valid OTLP/JSON: expected Array, got object' }] }),
      expect.objectContaining({ ok: false, index: 1 }),
    ]);
  });
});
