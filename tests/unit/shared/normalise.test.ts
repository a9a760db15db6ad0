/**
 * The log contract's normaliser and value rules (#shared/schemas/log.ts): level table, aliases and their
 * precedence, timestamps by magnitude, extra fields kept under attributes within their bound.
 */
import { instantOf, LEVEL_NAMES, LEVEL_NUMBERS, LIMITS, levelOf, parseLogInput, parseRawLogRecord } from '#shared/schemas/log.ts';

const base = { level: 'INFO', message: 'm', service: 'checkout', source_ip: '10.0.0.1' };

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
      // host.name lost to host.hostname: kept, not dropped.
      attributes: { host: { name: 'web-1.example.com' } },
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
