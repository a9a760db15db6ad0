import { type LocalRequest, matchRoute, toProxyEvent } from '../../../scripts/local/api-gateway/index.ts';

const ROUTES = [
  { method: 'GET', path: '/api/metadata/hosts' },
  { method: 'POST', path: '/api/metadata/hosts' },
  { method: 'GET', path: '/api/metadata/hosts/{hostname}' },
  { method: 'GET', path: '/api/metadata/hosts/by-ip' },
  { method: 'ANY', path: '/files/{proxy+}' },
];

const request = (overrides: Partial<LocalRequest> = {}): LocalRequest => ({
  method: 'GET',
  url: '/',
  rawHeaders: [],
  body: Buffer.alloc(0),
  sourceIp: '127.0.0.1',
  port: 8082,
  ...overrides,
});

const build = (overrides: Partial<LocalRequest> = {}) =>
  toProxyEvent(request(overrides), {
    routes: ROUTES,
    stage: 'local',
    now: new Date('2026-11-27T16:45:07.000Z'),
    requestId: 'req-1',
  });

describe('matchRoute', () => {
  it('fills path parameters from the matching template, decoded', () => {
    // Act
    const match = matchRoute(ROUTES, 'GET', '/api/metadata/hosts/web%2D1%20a');

    // Assess
    expect(match).toEqual({ route: ROUTES[2], params: { hostname: 'web-1 a' } });
  });

  it('prefers a literal segment over a parameter, as API Gateway does', () => {
    // Act
    const match = matchRoute(ROUTES, 'GET', '/api/metadata/hosts/by-ip');

    // Assess
    expect(match?.route.path).toBe('/api/metadata/hosts/by-ip');
  });

  it('captures the rest of the path in a greedy {proxy+} for any method', () => {
    // Act
    const match = matchRoute(ROUTES, 'DELETE', '/files/a/b/c.txt');

    // Assess
    expect(match).toEqual({ route: ROUTES[4], params: { proxy: 'a/b/c.txt' } });
  });

  it('picks the route for the request method among templates of the same path', () => {
    // Act
    const match = matchRoute(ROUTES, 'POST', '/api/metadata/hosts/');

    // Assess
    expect(match?.route).toEqual({ method: 'POST', path: '/api/metadata/hosts' });
  });

  it('still names the route when only another method is declared, so the function can answer 405', () => {
    // Act
    const match = matchRoute(ROUTES, 'DELETE', '/api/metadata/hosts/web-1');

    // Assess
    expect(match?.route.path).toBe('/api/metadata/hosts/{hostname}');
  });

  it('matches nothing for an unknown path', () => {
    // Act
    const match = matchRoute(ROUTES, 'GET', '/api/other');

    // Assess
    expect(match).toBeUndefined();
  });
});

describe('toProxyEvent', () => {
  it('builds resource, path parameters and the request context like a REST API proxy event', () => {
    // Act
    const event = build({ url: '/api/metadata/hosts/web-1', sourceIp: '10.1.2.3' });

    // Assess
    expect(event).toMatchObject({
      resource: '/api/metadata/hosts/{hostname}',
      path: '/api/metadata/hosts/web-1',
      httpMethod: 'GET',
      pathParameters: { hostname: 'web-1' },
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: {
        httpMethod: 'GET',
        path: '/local/api/metadata/hosts/web-1',
        resourcePath: '/api/metadata/hosts/{hostname}',
        stage: 'local',
        requestId: 'req-1',
        requestTime: '27/Nov/2026:16:45:07 +0000',
        requestTimeEpoch: Date.parse('2026-11-27T16:45:07.000Z'),
        identity: { sourceIp: '10.1.2.3', apiKey: null },
      },
    });
  });

  it('gives null path parameters and the path as resource when no route matches', () => {
    // Act
    const event = build({ url: '/nowhere' });

    // Assess
    expect([event.resource, event.pathParameters]).toEqual(['/nowhere', null]);
  });

  it('keeps the last value of a repeated query key and all of them in the multi-value map, decoded', () => {
    // Act
    const event = build({ url: '/api/metadata/hosts?env=dev&env=prod&q=a%20b' });

    // Assess
    expect(event.queryStringParameters).toEqual({ env: 'prod', q: 'a b' });
    expect(event.multiValueQueryStringParameters).toEqual({ env: ['dev', 'prod'], q: ['a b'] });
  });

  it('keeps header names as sent, the last value in headers and every value in multiValueHeaders', () => {
    // Act
    const event = build({
      rawHeaders: ['Content-Type', 'application/json', 'X-Custom', 'one', 'x-custom', 'two', 'x-api-key', 'k1', 'User-Agent', 'curl/8'],
    });

    // Assess
    expect(event.headers).toMatchObject({ 'Content-Type': 'application/json', 'X-Custom': 'two', 'x-api-key': 'k1' });
    expect(event.multiValueHeaders['X-Custom']).toEqual(['one', 'two']);
    expect(event.requestContext.identity).toMatchObject({ apiKey: 'k1', userAgent: 'curl/8' });
  });

  it('adds the X-Forwarded headers API Gateway adds, appending to an existing X-Forwarded-For', () => {
    // Act
    const event = build({ rawHeaders: ['X-Forwarded-For', '203.0.113.9'], sourceIp: '127.0.0.1', port: 8080 });

    // Assess
    expect(event.headers).toMatchObject({
      'X-Forwarded-For': '203.0.113.9, 127.0.0.1',
      'X-Forwarded-Port': '8080',
      'X-Forwarded-Proto': 'http',
    });
  });

  it('passes a JSON or NDJSON body as text', () => {
    // Act
    const json = build({ method: 'POST', rawHeaders: ['content-type', 'application/json'], body: Buffer.from('{"a":"é"}') });
    const ndjson = build({ method: 'POST', rawHeaders: ['content-type', 'application/x-ndjson'], body: Buffer.from('{}\n{}') });

    // Assess
    expect([json.body, json.isBase64Encoded]).toEqual(['{"a":"é"}', false]);
    expect([ndjson.body, ndjson.isBase64Encoded]).toEqual(['{}\n{}', false]);
  });

  it('base64-encodes a binary body', () => {
    // Prepare
    const bytes = Buffer.from([0, 1, 2, 250, 255]);

    // Act
    const event = build({ method: 'POST', rawHeaders: ['Content-Type', 'application/octet-stream'], body: bytes });

    // Assess
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
  });

  it('base64-encodes an untyped body only when it is not UTF-8 text', () => {
    // Act
    const text = build({ method: 'POST', body: Buffer.from('plain words') });
    const binary = build({ method: 'POST', body: Buffer.from([0xff, 0xfe, 0x00]) });

    // Assess
    expect([text.isBase64Encoded, binary.isBase64Encoded]).toEqual([false, true]);
  });
});
