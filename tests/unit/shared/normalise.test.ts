/**
 * The log contract's normaliser and value rules (#shared/schemas/log.ts): level table, aliases and their
 * precedence, timestamps by magnitude, extra fields kept under attributes within their bound.
 */
import {
  INSTANT_RANGE_RULE,
  instantOf,
  LEVEL_NAMES,
  LEVEL_NUMBERS,
  LIMITS,
  levelOf,
  NESTING_RULE,
  parseLogInput,
  parseRawLogRecord,
  preferredIp,
} from '#shared/schemas/log.ts';

const base = { level: 'INFO', message: 'm', service: 'checkout', source_ip: '10.0.0.1' };

/** An array with `levels` levels of arrays: `[[…[]…]]`. */
function nested(levels: number): unknown[] {
  let value: unknown[] = [];
  for (let level = 1; level < levels; level++) value = [value];
  return value;
}

function accepted(value: unknown) {
  const parsed = parseRawLogRecord(value);
  if (!parsed.ok) throw new Error(`refused: ${JSON.stringify(parsed.problems)}`);
  return parsed.log;
}

describe('levels', () => {
  it.each([
    ['warning', 'WARN'],
    ['WARN', 'WARN'],
    [' Warn ', 'WARN'],
    ['err', 'ERROR'],
    ['Error', 'ERROR'],
    ['critical', 'FATAL'],
    ['crit', 'FATAL'],
    ['fatal', 'FATAL'],
    ['emerg', 'FATAL'],
    ['emergency', 'FATAL'],
    ['alert', 'FATAL'],
    ['notice', 'INFO'],
    ['informational', 'INFO'],
    ['info', 'INFO'],
    ['debug', 'DEBUG'],
    ['trace', 'TRACE'],
    [0, 'FATAL'],
    [2, 'FATAL'],
    [3, 'ERROR'],
    ['4', 'WARN'],
    [5, 'INFO'],
    [6, 'INFO'],
    ['7', 'DEBUG'],
    [30, 'INFO'],
    ['50', 'ERROR'],
    [60, 'FATAL'],
  ])('maps %p to %s', (input, expected) => {
    expect(accepted({ ...base, level: input }).level).toBe(expected);
  });

  it.each([['LOUD'], [8], [3.5], ['-1'], [''], [true], ['constructor']])('refuses %p', (input) => {
    expect(levelOf(input)).toBeUndefined();
    expect(parseRawLogRecord({ ...base, level: input })).toMatchObject({ ok: false, problems: [{ field: 'level' }] });
  });

  it('maps every documented name and number onto one of our levels', () => {
    for (const name of LEVEL_NAMES.keys()) expect(levelOf(name.toUpperCase())).toBe(LEVEL_NAMES.get(name));
    for (const number of LEVEL_NUMBERS.keys()) expect(levelOf(String(number))).toBe(LEVEL_NUMBERS.get(number));
  });
});

describe('timestamps', () => {
  it.each([
    ['2024-01-15T12:30:00+02:00', '2024-01-15T10:30:00.000Z'],
    ['2024-01-15T10:30:00.123456789Z', '2024-01-15T10:30:00.123Z'],
    [1_705_314_600, '2024-01-15T10:30:00.000Z'],
    [1_705_314_600.25, '2024-01-15T10:30:00.250Z'],
    [1_705_314_600_123, '2024-01-15T10:30:00.123Z'],
    [1_705_314_600_123_456, '2024-01-15T10:30:00.123Z'],
    [1_705_314_600_123_456_800, '2024-01-15T10:30:00.123Z'],
    [99_999_999_999, '5138-11-16T09:46:39.000Z'], // the last value read as seconds
    [100_000_000_000, '1973-03-03T09:46:40.000Z'], // the first read as milliseconds
  ])('reads %p as %s', (input, expected) => {
    expect(instantOf(input)).toBe(expected);
  });

  it.each([['2024-01-15T10:30:00'], ['2024-02-30T10:00:00Z'], ['1705314600'], [-1], [1e20], [Number.NaN], [{}]])('refuses %p, naming the field as written', (input) => {
    expect(parseRawLogRecord({ ...base, '@timestamp': input })).toMatchObject({ ok: false, problems: [{ field: '@timestamp', reason: expect.stringContaining('ISO 8601') }] });
  });
});

describe('aliases', () => {
  it('reads an ECS log, nested', () => {
    const log = accepted({
      '@timestamp': '2024-01-15T10:30:00Z',
      message: 'm',
      log: { level: 'error' },
      service: { name: 'checkout' },
      host: { hostname: 'web-1', name: 'web-1.example.com', ip: ['10.0.0.7', '10.0.0.8'] },
      trace: { id: 'abc' },
    });
    expect(log).toEqual({
      level: 'ERROR',
      message: 'm',
      service: 'checkout',
      source_ip: '10.0.0.7',
      timestamp: '2024-01-15T10:30:00.000Z',
      hostname: 'web-1',
      trace_id: 'abc',
      // host.name lost to host.hostname: kept, not dropped; so is the list of addresses, of which one was taken.
      attributes: { host: { name: 'web-1.example.com', ip: ['10.0.0.7', '10.0.0.8'] } },
    });
  });

  it('reads an ECS log, dotted', () => {
    const log = accepted({ '@timestamp': 1_705_314_600_000, message: 'm', 'log.level': 'warn', 'service.name': 'checkout', 'host.name': 'web-1', 'client.ip': '10.0.0.9', 'trace.id': 't' });
    expect(log).toEqual({ level: 'WARN', message: 'm', service: 'checkout', source_ip: '10.0.0.9', timestamp: '2024-01-15T10:30:00.000Z', hostname: 'web-1', trace_id: 't' });
  });

  it('reads Vector and Fluent Bit logs: host as a string, log as the message, time', () => {
    expect(accepted({ log: 'a line', level: 'info', service: 's', host: 'web-1', time: 1_705_314_600 })).toMatchObject({ message: 'a line', hostname: 'web-1', timestamp: '2024-01-15T10:30:00.000Z' });
  });

  it('lets our own field win over an alias, and keeps the alias under attributes', () => {
    // Prepare
    const value = { ...base, hostname: 'ours', 'host.name': 'theirs', source: { ip: '10.9.9.9' }, 'log.level': 'LOUD' };
    // Act
    const log = accepted(value);
    // Assess
    expect(log).toMatchObject({ level: 'INFO', source_ip: '10.0.0.1', hostname: 'ours' });
    expect(log.attributes).toEqual({ 'host.name': 'theirs', source: { ip: '10.9.9.9' }, 'log.level': 'LOUD' });
  });

  it('prefers host.ip to source.ip: the address of the host that wrote the log, not its peer', () => {
    expect(accepted({ ...base, source_ip: undefined, source: { ip: '10.0.0.2' }, host: { ip: '10.0.0.3' } }).source_ip).toBe('10.0.0.3');
  });

  it('prefers the dotted key to the nested member of the same field', () => {
    expect(accepted({ ...base, level: undefined, 'log.level': 'warn', log: { level: 'error' } }).level).toBe('WARN');
  });

  it('treats null as absent', () => {
    expect(accepted({ ...base, hostname: null, attributes: null, 'host.name': 'web-1' })).toMatchObject({ hostname: 'web-1' });
  });

  it('writes an IPv6 source in PostgreSQL spelling', () => {
    expect(accepted({ ...base, source_ip: '2001:0DB8:0:0:0:0:0:1' }).source_ip).toBe('2001:db8::1');
  });

  it('accepts a hostname-only log and refuses one with neither, naming both fields', () => {
    expect(accepted({ level: 'INFO', message: 'm', service: 's', host: { name: 'web-1' } })).toMatchObject({ hostname: 'web-1' });
    const refused = parseLogInput({ level: 'INFO', message: 'm', service: 's' }, 3);
    expect(refused).toEqual({ ok: false, problems: [{ index: 3, field: 'source_ip', reason: expect.stringMatching(/source_ip.*hostname/) }] });
  });
});

describe('extra fields', () => {
  it('keeps them under attributes, after the log’s own attributes', () => {
    const log = accepted({ ...base, attributes: { a: 1 }, user: 'u-1', ecs: { version: '8' } });
    expect(log.attributes).toEqual({ a: 1, user: 'u-1', ecs: { version: '8' } });
    expect(Object.keys(log.attributes ?? {})).toEqual(['a', 'user', 'ecs']);
    expect(log.dropped_attributes).toBeUndefined();
  });

  it('keeps what fits within the bound and names what does not, never dropping silently', () => {
    // Prepare: three extras of 6 KiB each; only two fit in 16 KiB
    const big = 'x'.repeat(6 * 1024);
    // Act
    const log = accepted({ ...base, one: big, two: big, three: big, small: 1 });
    // Assess
    expect(Object.keys(log.attributes ?? {})).toEqual(['one', 'two', 'small']);
    expect(Buffer.byteLength(JSON.stringify(log.attributes))).toBeLessThanOrEqual(LIMITS.attributesBytes);
    expect(log.dropped_attributes).toEqual(['three']);
  });

  it('fills attributes exactly up to the bound', () => {
    // `{"k":"…"}` is 8 bytes plus the value: this one fits to the byte, one more byte does not.
    const exact = 'x'.repeat(LIMITS.attributesBytes - 8);
    expect(accepted({ ...base, k: exact }).attributes).toEqual({ k: exact });
    expect(accepted({ ...base, k: `${exact}x` }).dropped_attributes).toEqual(['k']);
  });

  it('names an extra whose name is already an attribute, or __proto__', () => {
    const log = accepted(JSON.parse(`{"level":"INFO","message":"m","service":"s","source_ip":"10.0.0.1","attributes":{"user":"a"},"user":"b","__proto__":{"x":1}}`));
    expect(log.attributes).toEqual({ user: 'a' });
    expect(log.dropped_attributes).toEqual(['user', '__proto__']);
  });

  it('bounds the list of dropped names and counts the rest', () => {
    // Prepare: 300 extras of ~200 bytes; about 80 fit in 16 KiB
    const extras = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'x'.repeat(200)]));
    // Act
    const log = accepted({ ...base, ...extras });
    // Assess
    const kept = Object.keys(log.attributes ?? {}).length;
    const dropped = 300 - kept;
    expect(dropped).toBeGreaterThan(LIMITS.droppedKeys);
    expect(log.dropped_attributes).toHaveLength(LIMITS.droppedKeys);
    expect(log.dropped_attributes?.[0]).toBe(`k${kept}`);
    expect(log.dropped_attributes?.at(-1)).toBe(`(+${dropped - (LIMITS.droppedKeys - 1)} more)`);
  });

  it('adds to the dropped names ingest already recorded on raw-logs', () => {
    const log = accepted({ ...base, dropped_attributes: ['earlier'], attributes: { fill: 'x'.repeat(LIMITS.attributesBytes - 20) }, late: 'y'.repeat(50) });
    expect(log.dropped_attributes).toEqual(['earlier', 'late']);
  });

  it('keeps a client’s event_id at ingest as an attribute (ingest assigns its own)', () => {
    const parsed = parseLogInput({ ...base, event_id: 'mine' });
    expect(parsed).toMatchObject({ ok: true, log: { attributes: { event_id: 'mine' } } });
  });

  it('still refuses the log’s own attributes over the bound', () => {
    expect(parseRawLogRecord({ ...base, attributes: { big: 'x'.repeat(LIMITS.attributesBytes) } })).toMatchObject({ ok: false, problems: [{ field: 'attributes' }] });
  });
});

describe('nesting depth', () => {
  it.each([
    ['an extra field', { ...base, a: nested(5000) }, 'a'],
    ['a member of attributes', { ...base, attributes: { a: nested(5000) } }, 'attributes.a'],
    ['an ECS object', { ...base, host: { name: 'web-1', os: nested(5000) } }, 'host'],
    ['__proto__', JSON.parse(`{"level":"INFO","message":"m","service":"s","hostname":"h","__proto__":${'['.repeat(5000)}${']'.repeat(5000)}}`), '__proto__'],
  ])('refuses %s nested 5,000 levels deep, naming it, instead of overflowing the stack', (_, value, field) => {
    // Act
    const raw = parseRawLogRecord(value);
    const input = parseLogInput(value, 2);
    // Assess
    expect(raw).toEqual({ ok: false, problems: [{ field, reason: `is nested deeper than ${LIMITS.nestingDepth} levels` }] });
    expect(input).toEqual({ ok: false, problems: [{ index: 2, field, reason: NESTING_RULE }] });
  });

  it('accepts 32 levels in an extra field and in a member of attributes, and refuses 33', () => {
    expect(accepted({ ...base, a: nested(32), attributes: { b: nested(32) } }).attributes).toEqual({ b: nested(32), a: nested(32) });
    expect(parseRawLogRecord({ ...base, a: nested(33) })).toMatchObject({ ok: false, problems: [{ field: 'a' }] });
    expect(parseRawLogRecord({ ...base, attributes: { b: nested(33) } })).toMatchObject({ ok: false, problems: [{ field: 'attributes.b' }] });
  });

  it('never throws: a value JSON cannot even write is a problem with the record', () => {
    // Prepare: not JSON values, but what a caller might hand over (a cycle, a BigInt)
    const cycle: Record<string, unknown> = { ...base };
    cycle.self = cycle;
    // Act / Assess
    expect(parseRawLogRecord(cycle)).toMatchObject({ ok: false, problems: [{ field: 'self', reason: NESTING_RULE }] });
    expect(parseLogInput({ ...base, big: 1n })).toEqual({ ok: false, problems: [{ field: '(record)', reason: 'could not be validated' }] });
  });
});

describe('lookup keys and trace ids', () => {
  it.each([
    ['hostname', 'a\u0000b', 'must not contain control characters (U+0000-U+001F, U+007F)'],
    ['hostname', 'web\u007f', 'must not contain control characters (U+0000-U+001F, U+007F)'],
    ['hostname', 'web\u001b[0m', 'must not contain control characters (U+0000-U+001F, U+007F)'],
    ['hostname', '   ', 'must not start or end with whitespace'],
    ['hostname', ' web-1', 'must not start or end with whitespace'],
    ['hostname', 'web-1\u00a0', 'must not start or end with whitespace'],
    ['trace_id', 't\u0000', 'must not contain control characters (U+0000-U+001F, U+007F)'],
    ['trace_id', 'abc ', 'must not start or end with whitespace'],
  ])('refuses %s %j', (field, value, reason) => {
    expect(parseRawLogRecord({ ...base, [field]: value })).toEqual({ ok: false, problems: [{ field, reason }] });
  });

  it('names both rules for a hostname with a trailing newline, and the field as written', () => {
    expect(parseLogInput({ ...base, host: { name: 'web-1\n' } })).toEqual({
      ok: false,
      problems: [
        { field: 'host.name', reason: 'must not contain control characters (U+0000-U+001F, U+007F)' },
        { field: 'host.name', reason: 'must not start or end with whitespace' },
      ],
    });
  });

  it('accepts blanks inside a name and any other character', () => {
    expect(accepted({ ...base, hostname: 'Web Server 1', trace_id: 'é-😀' })).toMatchObject({ hostname: 'Web Server 1', trace_id: 'é-😀' });
  });
});

describe('reasons', () => {
  it.each([
    [{ message: 'x'.repeat(LIMITS.messageChars + 1) }, 'message', `must be at most ${LIMITS.messageChars} characters`],
    [{ message: '' }, 'message', 'must not be empty'],
    [{ message: 42 }, 'message', 'must be a string'],
    [{ hostname: '' }, 'hostname', 'must not be empty'],
    [{ hostname: 'h'.repeat(254) }, 'hostname', 'must be at most 253 characters'],
    [{ hostname: 5 }, 'hostname', 'must be a string'],
    [{ host: '' }, 'host', 'must not be empty'],
    [{ trace_id: 't'.repeat(129) }, 'trace_id', 'must be at most 128 characters'],
    [{ 'trace.id': 't'.repeat(129) }, 'trace.id', 'must be at most 128 characters'],
  ])('tells each check its own way: %j', (fields, field, reason) => {
    expect(parseRawLogRecord({ ...base, ...fields })).toEqual({ ok: false, problems: [{ field, reason }] });
  });
});

describe('timestamps out of range', () => {
  it.each([
    ['timestamp', '0000-01-01T00:00:00+01:00'],
    ['timestamp', '9999-12-31T23:59:59-01:00'],
    ['@timestamp', '0000-01-01T00:59:59.999+01:00'],
    ['received_at', '9999-12-31T23:59:59-01:00'],
  ])('refuses %s %s, which is outside years 0000-9999 in UTC', (field, value) => {
    expect(instantOf(value)).toBeUndefined();
    expect(parseRawLogRecord({ ...base, [field]: value })).toEqual({ ok: false, problems: [{ field, reason: INSTANT_RANGE_RULE }] });
  });

  it('accepts both ends of the range, also reached through an offset', () => {
    expect(instantOf('0000-01-01T00:00:00Z')).toBe('0000-01-01T00:00:00.000Z');
    expect(instantOf('0000-01-01T01:00:00+01:00')).toBe('0000-01-01T00:00:00.000Z');
    expect(instantOf('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
    expect(instantOf('9999-12-31T22:59:59.999-01:00')).toBe('9999-12-31T23:59:59.999Z');
    expect(INSTANT_RANGE_RULE).toBe('must be between 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z once converted to UTC');
  });
});

describe('attributes.__proto__', () => {
  it('names the log’s own attributes.__proto__ in dropped_attributes instead of losing it silently', () => {
    // Prepare
    const value = JSON.parse('{"level":"INFO","message":"m","service":"s","hostname":"h","attributes":{"__proto__":{"x":1},"a":1}}');
    // Act
    const raw = accepted(value);
    const input = parseLogInput(value);
    // Assess
    expect(raw.attributes).toEqual({ a: 1 });
    expect(raw.dropped_attributes).toEqual(['__proto__']);
    expect(input).toMatchObject({ ok: true, log: { attributes: { a: 1 }, dropped_attributes: ['__proto__'] } });
  });

  it('names __proto__ once when the log has it as an extra field too, and keeps the others', () => {
    const log = accepted(JSON.parse('{"level":"INFO","message":"m","service":"s","hostname":"h","__proto__":{"y":2},"attributes":{"__proto__":{"x":1}},"b":2}'));
    expect(log.attributes).toEqual({ b: 2 });
    expect(log.dropped_attributes).toEqual(['__proto__']);
  });
});

describe('ECS host.ip lists', () => {
  it('takes the first address that is not link-local or loopback, and keeps the whole list under attributes', () => {
    // Prepare
    const nestedList = { level: 'INFO', message: 'm', service: 's', host: { name: 'h', ip: ['fe80::1', '127.0.0.1', '10.0.0.5'] } };
    const dottedList = { level: 'INFO', message: 'm', service: 's', 'host.ip': ['10.0.0.5', 'fe80::1'] };
    // Act / Assess
    expect(accepted(nestedList)).toMatchObject({ source_ip: '10.0.0.5', hostname: 'h', attributes: { host: { ip: ['fe80::1', '127.0.0.1', '10.0.0.5'] } } });
    expect(accepted(dottedList)).toMatchObject({ source_ip: '10.0.0.5', attributes: { 'host.ip': ['10.0.0.5', 'fe80::1'] } });
  });

  it('takes the first valid address when all are link-local, loopback or unspecified, and does not keep a list of one', () => {
    expect(preferredIp(['x', 'fe80::1', '::1'])).toBe('fe80::1');
    expect(preferredIp(['0.0.0.0', '169.254.0.1', '::ffff:127.0.0.1', '2001:db8::1'])).toBe('2001:db8::1');
    expect(preferredIp(['x'])).toEqual(['x']);
    expect(accepted({ level: 'INFO', message: 'm', service: 's', 'host.ip': ['192.168.1.100'] })).toEqual({ level: 'INFO', message: 'm', service: 's', source_ip: '192.168.1.100' });
  });
});

describe('producers’ fields', () => {
  it('reads python-json-logger’s levelname', () => {
    expect(accepted({ levelname: 'WARNING', name: 'app.db', message: 'm', service: 's', hostname: 'h' })).toMatchObject({ level: 'WARN', attributes: { name: 'app.db' } });
  });

  it('reads a GELF message: short_message, host, seconds', () => {
    const log = accepted({ version: '1.1', host: 'web-1', short_message: 'm', full_message: 'long', timestamp: 1_733_040_000.123, level: 3, service: 's' });
    expect(log).toMatchObject({ level: 'ERROR', message: 'm', hostname: 'web-1', timestamp: '2024-12-01T08:00:00.123Z', attributes: { version: '1.1', full_message: 'long' } });
  });

  it.each([
    ['dpanic', 'ERROR'],
    ['DPANIC', 'ERROR'],
    ['panic', 'FATAL'],
  ])('reads zap’s ts and level %s as %s', (level, expected) => {
    expect(accepted({ level, ts: 1_733_040_000.123, caller: 'x.go:1', msg: 'm', service: 's', hostname: 'h' })).toMatchObject({ level: expected, timestamp: '2024-12-01T08:00:00.123Z' });
  });

  it('reads Fluent Bit’s date as the timestamp when it is a number and nothing else names the time', () => {
    expect(accepted({ date: 1_733_040_000.123, log: 'x', level: 'info', service: 'api', hostname: 'node-7' })).toMatchObject({ timestamp: '2024-12-01T08:00:00.123Z' });
    expect(accepted({ ...base, date: 1_733_040_000, time: 1_705_314_600 })).toMatchObject({ timestamp: '2024-01-15T10:30:00.000Z', attributes: { date: 1_733_040_000 } });
    // A string date is as likely a calendar date: an extra field, not a refused timestamp.
    expect(accepted({ ...base, date: '2024-12-01' })).toMatchObject({ attributes: { date: '2024-12-01' } });
    expect(accepted({ ...base, date: '2024-12-01' }).timestamp).toBeUndefined();
  });

  it('reads the Kubernetes node as the hostname only when no other host is named', () => {
    const k8s = { '@timestamp': 1_733_040_000.123, log: 'x', level: 'info', service: 'api', kubernetes: { pod_name: 'api-1', host: 'node-7' } };
    expect(accepted(k8s)).toMatchObject({ hostname: 'node-7', attributes: { kubernetes: { pod_name: 'api-1' } } });
    expect(accepted({ ...k8s, host: 'web-1' })).toMatchObject({ hostname: 'web-1', attributes: { kubernetes: { pod_name: 'api-1', host: 'node-7' } } });
  });

  it('reads logstash-logback-encoder’s HOSTNAME', () => {
    expect(accepted({ '@timestamp': '2024-12-01T09:00:00.123+01:00', message: 'started', level: 'INFO', level_value: 20000, HOSTNAME: 'web-2', service: 'app' })).toMatchObject({ hostname: 'web-2' });
  });

  it('reads bunyan’s name as the service only in a bunyan record ("v": 0) without a service', () => {
    const bunyan = { name: 'myapp', hostname: 'web-1', pid: 1, level: 40, msg: 'warn', time: '2024-12-01T08:00:00.123Z', v: 0 };
    expect(accepted(bunyan)).toMatchObject({ service: 'myapp', level: 'WARN', attributes: { pid: 1, v: 0 } });
    expect(accepted({ ...bunyan, service: 'api' })).toMatchObject({ service: 'api', attributes: { name: 'myapp' } });
    const { v: _v, ...notBunyan } = bunyan;
    expect(parseRawLogRecord(notBunyan)).toMatchObject({ ok: false, problems: [{ field: 'service', reason: 'is required' }] });
  });

  it('still refuses winston’s default timestamp, which has no offset', () => {
    expect(parseRawLogRecord({ ...base, timestamp: '2024-12-01 08:00:00' })).toMatchObject({ ok: false, problems: [{ field: 'timestamp' }] });
  });
});
