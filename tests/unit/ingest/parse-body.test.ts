import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';
import { bodyFormat, parseLogBody } from '../../../functions/ingest/src/parse-body.ts';

describe('bodyFormat', () => {
  it('reads application/json and application/x-ndjson', () => {
    // Act
    const formats = [bodyFormat('application/json'), bodyFormat('application/x-ndjson')];

    // Assess
    expect(formats).toEqual(['json', 'ndjson']);
  });

  it.each([['text/plain'], ['application/xml'], [undefined]])('refuses %s with 415', (type) => {
    // Act
    const act = () => bodyFormat(type);

    // Assess
    expect(act).toThrow(UnsupportedMediaTypeError);
    expect(act).toThrow(/application\/json or application\/x-ndjson/);
  });
});

describe('parseLogBody', () => {
  it('turns one JSON object into one candidate at index 0', () => {
    // Act
    const candidates = parseLogBody('json', '{"level":"INFO"}', 1000);

    // Assess
    expect(candidates).toEqual([{ index: 0, value: { level: 'INFO' } }]);
  });

  it('turns a JSON array into one candidate per element, in order', () => {
    // Act
    const candidates = parseLogBody('json', '[{"n":1},{"n":2},"x"]', 1000);

    // Assess
    expect(candidates).toEqual([
      { index: 0, value: { n: 1 } },
      { index: 1, value: { n: 2 } },
      { index: 2, value: 'x' },
    ]);
  });

  it('turns NDJSON into one candidate per non-blank line, ignoring blank lines and CRLF', () => {
    // Act
    const candidates = parseLogBody('ndjson', '{"n":1}\r\n\n   \n{"n":2}\n', 1000);

    // Assess
    expect(candidates).toEqual([
      { index: 0, value: { n: 1 } },
      { index: 1, value: { n: 2 } },
    ]);
  });

  it('reports a malformed NDJSON line with its index and keeps the other lines', () => {
    // Act
    const candidates = parseLogBody('ndjson', '{"n":1}\n{"n":\n{"n":3}', 1000);

    // Assess
    expect(candidates).toEqual([
      { index: 0, value: { n: 1 } },
      { index: 1, problem: { index: 1, field: '(record)', reason: 'is not valid JSON' } },
      { index: 2, value: { n: 3 } },
    ]);
  });

  it('refuses malformed JSON with 400', () => {
    // Act
    const act = () => parseLogBody('json', '{"level":', 1000);

    // Assess
    expect(act).toThrow(expect.objectContaining({ statusCode: 400, problems: [expect.objectContaining({ field: 'body' })] }));
  });

  it.each([
    ['json', ''],
    ['json', '  \n'],
    ['ndjson', ''],
    ['ndjson', '\n\n  \n'],
  ] as const)('refuses an empty %s body with 400', (format, body) => {
    // Act
    const act = () => parseLogBody(format, body, 1000);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(expect.objectContaining({ statusCode: 400, message: expect.stringMatching(/^body: is empty/) }));
  });

  it('refuses an empty JSON array with 422 and says so', () => {
    // Act
    const act = () => parseLogBody('json', '[]', 1000);

    // Assess
    expect(act).toThrow(expect.objectContaining({ statusCode: 422, message: 'body: is an empty array; send at least one log' }));
  });

  it.each([
    ['json', '[{},{},{}]'],
    ['ndjson', '{}\n{}\n\n{}\n'],
  ] as const)('refuses a %s batch over the limit with 413 carrying the limit', (format, body) => {
    // Act
    const act = () => parseLogBody(format, body, 2);

    // Assess
    expect(act).toThrow(PayloadTooLargeError);
    expect(act).toThrow(expect.objectContaining({ limit: 2, message: 'batch has 3 records; the limit is 2 records' }));
  });

  it('accepts a batch exactly at the limit', () => {
    // Act
    const candidates = parseLogBody('json', '[{},{}]', 2);

    // Assess
    expect(candidates).toHaveLength(2);
  });
});

describe('parseLogBody on body bytes', () => {
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  const latin1 = Buffer.concat([Buffer.from('{"level":"INFO","message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);

  it.each(['json', 'ndjson'] as const)('refuses a %s body that is not UTF-8 with 400 naming the body and the byte', (format) => {
    // Act
    const act = () => parseLogBody(format, latin1, 1000);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(expect.objectContaining({ statusCode: 400, problems: [{ field: 'body', reason: `is not valid UTF-8 (byte 0xe9 at offset ${latin1.indexOf(0xe9)})` }] }));
  });

  it.each([
    ['json', 'bytes', Buffer.concat([BOM, Buffer.from('{"level":"INFO"}')])],
    ['json', 'text', '\uFEFF{"level":"INFO"}'],
    ['ndjson', 'bytes', Buffer.concat([BOM, Buffer.from('{"level":"INFO"}\n')])],
    ['ndjson', 'text', '\uFEFF{"level":"INFO"}\n'],
  ] as const)('drops one leading BOM of a %s body (%s), as enrich does for a Kafka value', (format, _kind, input) => {
    // Act
    const candidates = parseLogBody(format, input, 1000);

    // Assess
    expect(candidates).toEqual([{ index: 0, value: { level: 'INFO' } }]);
  });

  it('decodes UTF-8 bytes', () => {
    expect(parseLogBody('json', Buffer.from('{"message":"café 😀"}'), 1000)).toEqual([{ index: 0, value: { message: 'café 😀' } }]);
  });
});
