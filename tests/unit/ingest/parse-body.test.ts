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
