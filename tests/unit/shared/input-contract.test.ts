/**
 * The JSON Schema of the log contract and the zod contract agree: on a corpus of valid and invalid logs, ajv
 * accepts exactly what `parseRawLogRecord` accepts (and `parseLogInput`, for logs without pipeline fields).
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { LIMITS, parseLogInput, parseRawLogRecord } from '#shared/schemas/log.ts';
import { INPUT_SCHEMA_FILE, inputJsonSchema } from '../../../scripts/input-schema.ts';

const committed = JSON.parse(readFileSync(INPUT_SCHEMA_FILE, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// ajv-formats is CommonJS: under native ESM its default export is module.exports itself.
(addFormatsModule as unknown as (instance: Ajv2020) => Ajv2020)(ajv);
const validate = ajv.compile(committed);

const ours = { level: 'INFO', message: 'm', service: 'checkout', source_ip: '10.0.0.1' };
const ecs = { '@timestamp': '2024-01-15T10:30:00.123Z', message: 'm', log: { level: 'warn' }, service: { name: 'checkout' }, host: { name: 'web-1' } };
const uuid = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

/** An array with `levels` levels of arrays: `[[…[]…]]`. */
function nested(levels: number): unknown[] {
  let value: unknown[] = [];
  for (let level = 1; level < levels; level++) value = [value];
  return value;
}

const valid: [string, unknown][] = [
  ['ours, minimal', ours],
  ['ours, every field', { ...ours, timestamp: '2024-01-15T10:30:00+02:00', hostname: 'web-1', trace_id: 't', attributes: { a: 1 } }],
  ['ours, hostname only', { level: 'INFO', message: 'm', service: 'checkout', hostname: 'web-1' }],
  ['ours, IPv6', { ...ours, source_ip: '2001:DB8::1' }],
  ['ours, pipeline fields', { ...ours, event_id: uuid, received_at: 1705314600000, dropped_attributes: ['x'] }],
  ['ours, nulls are absent', { ...ours, hostname: null, trace_id: null, attributes: null, event_id: null }],
  ['ECS nested', ecs],
  ['ECS dotted', { '@timestamp': 1705314600, message: 'm', 'log.level': 'ERR', 'service.name': 'checkout', 'host.hostname': 'web-1', 'trace.id': 'abc' }],
  ['ECS host.ip list', { ...ecs, host: { ip: ['fe80::zz', '10.1.2.3'] } }],
  ['ECS source.ip', { message: 'm', 'log.level': 'info', 'service.name': 's', source: { ip: '10.0.0.9' } }],
  ['ECS client.ip', { message: 'm', 'log.level': 'info', 'service.name': 's', 'client.ip': '10.0.0.9' }],
  ['Vector: host string, timestamp', { message: 'm', level: 'warning', service: 's', host: 'web-1', timestamp: '2024-01-15T10:30:00Z' }],
  ['Fluent Bit: log line, float seconds', { log: 'a line', level: 'notice', service: 's', host: 'web-1', '@timestamp': 1705314600.25 }],
  ['pino: msg, numeric level, time ms', { msg: 'm', level: 30, service: 's', hostname: 'web-1', time: 1705314600123 }],
  ['syslog numeric string', { ...ours, level: ' 3 ' }],
  ['syslog severity 0', { ...ours, level: 0 }],
  ['level with blanks and case', { ...ours, level: ' Critical ' }],
  // Nanoseconds as a JSON number: a double, exact to 256 ns at this magnitude (plenty for milliseconds).
  ['nanoseconds', { ...ours, timestamp: 1_705_314_600_123_456_800 }],
  ['microseconds', { ...ours, timestamp: 1705314600123456 }],
  ['epoch zero', { ...ours, timestamp: 0 }],
  ['our field wins over a bad alias', { ...ours, timestamp: 0, 'log.level': 'LOUD', 'source.ip': 'nope', '@timestamp': 'never' }],
  ['IPv6 with a dotted quad', { ...ours, source_ip: '::ffff:1.2.3.4' }],
  ['dotted wins over nested', { ...ours, level: undefined, 'log.level': 'warn', log: { level: 'LOUD' } }],
  ['host object without name, source_ip given', { ...ours, host: { os: 'linux' } }],
  ['extra fields', { ...ours, ecs: { version: '8.11' }, labels: { team: 'a' }, user: 'u-1' }],
  ['leap day', { ...ours, timestamp: '2024-02-29T00:00:00Z' }],
  ['extra field 32 levels deep', { ...ours, deep: nested(LIMITS.nestingDepth) }],
  ['attribute 32 levels deep', { ...ours, attributes: { deep: nested(LIMITS.nestingDepth) } }],
  ['ECS object 32 levels deep', { ...ours, host: { os: { deep: nested(LIMITS.nestingDepth - 2) } } }],
  ['hostname with inner blanks', { ...ours, hostname: 'Web Server 1' }],
  ['ECS host.ip list, link-local first', { ...ecs, host: { ip: ['fe80::1', '10.0.0.5'] } }],
  ['year 0000 and 9999 in UTC', { ...ours, timestamp: '0000-01-01T00:00:00Z', received_at: '9999-12-31T23:59:59.999Z' }],
  ['the ends of the range through an offset', { ...ours, timestamp: '0000-01-01T01:00:00+01:00', received_at: '9999-12-31T22:59:59.9999-01:00' }],
  ['python-json-logger levelname', { levelname: 'CRITICAL', name: 'app', message: 'm', service: 's', hostname: 'h' }],
  ['GELF', { version: '1.1', host: 'web-1', short_message: 'm', timestamp: 1733040000.123, level: 3, service: 's' }],
  ['zap ts, dpanic', { level: 'dpanic', ts: 1733040000.123, msg: 'm', service: 's', hostname: 'h' }],
  ['Fluent Bit date number', { date: 1733040000.123, log: 'x', level: 'info', service: 'api', hostname: 'h' }],
  ['a string date is an extra field', { ...ours, date: 'yesterday' }],
  ['kubernetes.host nested', { log: 'x', level: 'info', service: 'api', kubernetes: { host: 'node-7', pod_name: 'p' } }],
  ['kubernetes.host dotted', { log: 'x', level: 'info', service: 'api', 'kubernetes.host': 'node-7' }],
  ['logback HOSTNAME', { message: 'm', level: 'INFO', HOSTNAME: 'web-2', service: 'app' }],
  ['bunyan name with v 0', { name: 'myapp', hostname: 'web-1', level: 40, msg: 'm', v: 0 }],
  ['bunyan name, service wins', { name: 'not a service', service: 's', hostname: 'web-1', level: 40, msg: 'm', v: 0 }],
];

const invalid: [string, unknown][] = [
  ['not an object', ['x']],
  ['null', null],
  ['no level', { message: 'm', service: 's', source_ip: '10.0.0.1' }],
  ['unknown level', { ...ours, level: 'LOUD' }],
  ['level 8', { ...ours, level: 8 }],
  ['level 35', { ...ours, level: '35' }],
  ['level 3.5', { ...ours, level: 3.5 }],
  ['level as object', { ...ours, level: { x: 1 } }],
  ['empty message', { ...ours, message: '' }],
  ['message too long', { ...ours, message: 'x'.repeat(LIMITS.messageChars + 1) }],
  ['no message', { level: 'INFO', service: 's', source_ip: '10.0.0.1' }],
  ['bad service', { ...ours, service: '-bad' }],
  ['service object without name', { level: 'INFO', message: 'm', service: { version: '1' }, source_ip: '10.0.0.1' }],
  ['neither source_ip nor hostname', { level: 'INFO', message: 'm', service: 's' }],
  ['bad source_ip', { ...ours, source_ip: '10.0.0.01' }],
  ['IPv6 with a zone', { ...ours, source_ip: 'fe80::1%eth0' }],
  ['host.ip list with no address', { ...ecs, host: { ip: ['x', 'y'] } }],
  ['source_ip as a list', { ...ours, source_ip: ['10.0.0.1'] }],
  ['source.ip as a list', { level: 'INFO', message: 'm', service: 's', 'source.ip': ['10.0.0.1'] }],
  ['empty hostname', { level: 'INFO', message: 'm', service: 's', hostname: '' }],
  ['host as number', { level: 'INFO', message: 'm', service: 's', host: 42 }],
  ['timestamp without offset', { ...ours, timestamp: '2024-01-15T10:30:00' }],
  ['timestamp lower-case z', { ...ours, timestamp: '2024-01-15t10:30:00z' }],
  ['timestamp 30 February', { ...ours, timestamp: '2024-02-30T10:00:00Z' }],
  ['timestamp negative', { ...ours, timestamp: -1 }],
  ['timestamp too large', { ...ours, timestamp: 1e20 }],
  ['timestamp numeric string', { ...ours, timestamp: '1705314600' }],
  ['bad @timestamp alias', { level: 'INFO', message: 'm', service: 's', source_ip: '10.0.0.1', '@timestamp': 'yesterday' }],
  ['trace id too long', { ...ours, trace_id: 'x'.repeat(129) }],
  ['attributes not an object', { ...ours, attributes: [1] }],
  ['event_id not a UUID', { ...ours, event_id: 'abc' }],
  ['received_at bad', { ...ours, received_at: 'now' }],
  ['dropped_attributes not a list', { ...ours, dropped_attributes: 'x' }],
  ['extra field 33 levels deep', { ...ours, deep: nested(LIMITS.nestingDepth + 1) }],
  ['attribute 33 levels deep', { ...ours, attributes: { deep: nested(LIMITS.nestingDepth + 1) } }],
  ['ECS object 33 levels deep', { ...ours, host: { os: { deep: nested(LIMITS.nestingDepth - 1) } } }],
  ['attributes not an object, 33 levels deep', { ...ours, attributes: nested(LIMITS.nestingDepth + 1) }],
  ['hostname with NUL', { ...ours, hostname: 'a\u0000b' }],
  ['hostname with DEL', { ...ours, hostname: 'a\u007f' }],
  ['hostname blank', { ...ours, hostname: '   ' }],
  ['hostname with a trailing newline', { ...ours, hostname: 'web-1\n' }],
  ['host.name with a leading blank', { ...ecs, host: { name: ' web-1' } }],
  ['trace_id with a tab', { ...ours, trace_id: 'a\tb' }],
  ['trace.id with a trailing blank', { ...ours, 'trace.id': 'abc ' }],
  ['kubernetes.host with NUL', { log: 'x', level: 'info', service: 'api', kubernetes: { host: 'a\u0000' } }],
  ['Fluent Bit date negative', { date: -1, log: 'x', level: 'info', service: 'api', hostname: 'h' }],
  ['zap ts bad', { level: 'info', ts: 'soon', msg: 'm', service: 's', hostname: 'h' }],
  ['name without v is no service', { name: 'myapp', hostname: 'web-1', level: 40, msg: 'm' }],
  ['name with v 1 is no service', { name: 'myapp', hostname: 'web-1', level: 40, msg: 'm', v: 1 }],
  ['winston default timestamp', { ...ours, timestamp: '2024-12-01 08:00:00' }],
  ['timestamp in year -1 in UTC', { ...ours, timestamp: '0000-01-01T00:00:00+01:00' }],
  ['timestamp in year 10000 in UTC', { ...ours, timestamp: '9999-12-31T23:59:59-01:00' }],
  ['received_at in year 10000 in UTC', { ...ours, received_at: '9999-12-31T23:00:00.001-01:00' }],
];

describe('raw-log.input.schema.json', () => {
  it('is what scripts/input-schema.ts writes (run `npm run schema:input` after changing the contract)', () => {
    expect(committed).toEqual(inputJsonSchema());
  });

  it.each(valid)('accepts what the zod contract accepts: %s', (_, sample) => {
    // Prepare
    const value = JSON.parse(JSON.stringify(sample)) as unknown;
    // Act
    const zod = parseRawLogRecord(value);
    const json = validate(value);
    // Assess
    expect(zod).toMatchObject({ ok: true });
    expect(json ? 'valid' : ajv.errorsText(validate.errors)).toBe('valid');
  });

  it.each(invalid)('refuses what the zod contract refuses: %s', (_, sample) => {
    const value = JSON.parse(JSON.stringify(sample)) as unknown;
    expect(parseRawLogRecord(value).ok).toBe(false);
    expect(validate(value)).toBe(false);
  });

  it('agrees with the ingest contract on logs without pipeline fields', () => {
    for (const [name, sample] of [...valid, ...invalid]) {
      const value = JSON.parse(JSON.stringify(sample)) as Record<string, unknown> | null;
      if (value !== null && typeof value === 'object' && ['event_id', 'received_at', 'dropped_attributes'].some((key) => key in value)) continue;
      expect([name, parseLogInput(value).ok]).toEqual([name, validate(value)]);
    }
  });

  it('cannot state the byte bound of attributes: zod refuses an oversized attributes object, the schema does not', () => {
    const value = { ...ours, attributes: { big: 'x'.repeat(LIMITS.attributesBytes) } };
    expect([parseRawLogRecord(value).ok, validate(value)]).toEqual([false, true]);
  });

});
