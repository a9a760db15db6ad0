/**
 * The bulk routes and use case over in-memory ports: validation by line, field and reason with the single-record
 * schemas, the two modes, duplicate keys, the size limit, and one invalidation per import. The same behaviour
 * on PostgreSQL and Redis is tests/integration/metadata/bulk.test.ts.
 */
import { jest } from '@jest/globals';
import type { ApiKeysEnv } from '#shared/config.ts';
import { logger } from '#shared/observability.ts';
import { BULK_LIMITS, MetadataBulk } from '../../../functions/metadata/src/bulk.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { lambdaContext } from '../../support/apigw.ts';
import { type ApiRequest, apiEvent, bodyOf, FIXTURE_API_KEY } from '../../support/metadata-api.ts';
import { host, MemoryBulkStore, MemoryRepository, RecordingInvalidator, unobserved } from './fakes.ts';

function setup(apiKeys: ApiKeysEnv = {}) {
  const repository = new MemoryRepository();
  const store = new MemoryBulkStore(repository);
  const invalidator = new RecordingInvalidator();
  const context = { ...unobserved, invalidator };
  const { handler } = createMetadataApi({
    catalog: new MetadataCatalog(repository, invalidator, unobserved),
    bulk: new MetadataBulk(store, context),
    apiKeys,
  });
  const call = (request: ApiRequest) => handler(apiEvent(request), lambdaContext('metadata'));
  return { repository, store, invalidator, call };
}

const IMPORT = '/api/metadata/hosts:import';
const HEADER = 'hostname,ipAddress,datacenter,environment,costCenter';
const csv = (...rows: string[]) => ({ body: `${HEADER}\n${rows.join('\n')}\n`, headers: { 'Content-Type': 'text/csv' } });
const problems = (response: { body: string }) =>
  (JSON.parse(response.body) as { error: { problems: { line: number; field: string; reason: string }[] } }).error.problems.map(
    (problem) => `${problem.line} ${problem.field}: ${problem.reason}`,
  );

beforeEach(() => {
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('POST /api/metadata/{kind}:import', () => {
  it('creates every host of a CSV file with one invalidation naming all their cache keys', async () => {
    // Prepare
    const { call, repository, invalidator } = setup();

    // Act
    const response = await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops', 'web-2,10.0.0.2,eu-1,prod,ops') });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ read: 2, applied: 2, created: 2, updated: 0, unchanged: 0, rejected: 0, committed: true });
    expect([...repository.hosts.records.keys()].sort()).toEqual(['web-1', 'web-2']);
    expect(invalidator.calls).toHaveLength(1);
    expect(invalidator.calls[0]?.keys.sort()).toEqual([
      'meta:v1:host:ip:10.0.0.1',
      'meta:v1:host:ip:10.0.0.2',
      'meta:v1:host:name:web-1',
      'meta:v1:host:name:web-2',
    ]);
  });

  it('invalidates a host under its canonical address (as stored and looked up), whatever spelling the file has', async () => {
    // Prepare
    const { call, invalidator } = setup();

    // Act
    await call({ method: 'POST', path: IMPORT, ...csv('v6-1,2001:DB8:0::7,eu-1,prod,ops') });

    // Assess
    expect(invalidator.calls[0]?.keys.sort()).toEqual(['meta:v1:host:ip:2001:db8::7', 'meta:v1:host:name:v6-1']);
  });

  it('takes NDJSON with the same schema, and invalidates a moved host under its old address too', async () => {
    // Prepare
    const { call, repository, invalidator } = setup();
    await repository.hosts.insert(host({ hostname: 'web-1', ipAddress: '10.9.9.9' }));
    const body = `${JSON.stringify({ ...host(), hostname: 'web-1', ipAddress: '10.0.0.1', tags: { rack: 'r1' } })}\n`;

    // Act
    const response = await call({ method: 'POST', path: '/api/metadata/hosts:import', body, headers: { 'Content-Type': 'application/x-ndjson' } });

    // Assess
    expect(bodyOf(response)).toMatchObject({ read: 1, created: 0, updated: 1 });
    expect(repository.hosts.records.get('web-1')).toMatchObject({ ipAddress: '10.0.0.1', tags: { rack: 'r1' } });
    expect(invalidator.calls[0]?.keys).toContain('meta:v1:host:ip:10.9.9.9');
  });

  it('all or nothing: one bad row refuses the import with 422, naming line, field and reason, and writes nothing', async () => {
    // Prepare
    const { call, repository, invalidator } = setup();

    // Act
    const response = await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops', 'web-2,nope,eu-1,,ops') });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problems(response)).toEqual(['3 ipAddress: must be an IPv4 or IPv6 address', '3 environment: must not be empty']);
    expect(bodyOf(response)).toMatchObject({ report: { read: 2, applied: 0, rejected: 1, committed: false } });
    expect(repository.hosts.records.size).toBe(0);
    expect(invalidator.calls).toHaveLength(0);
  });

  it('upsert-valid: applies the valid rows and reports the others', async () => {
    // Prepare
    const { call, repository } = setup();

    // Act
    const response = await call({
      method: 'POST',
      path: IMPORT,
      query: { mode: 'upsert-valid' },
      ...csv('web-1,10.0.0.1,eu-1,prod,ops', 'web_2,10.0.0.2,eu-1,prod,ops'),
    });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ mode: 'upsert-valid', read: 2, applied: 1, rejected: 1 });
    expect(problems({ body: JSON.stringify({ error: bodyOf(response) }) })[0]).toMatch(/^3 hostname: must be an RFC 1123 hostname/);
    expect([...repository.hosts.records.keys()]).toEqual(['web-1']);
  });

  it('reports a hostname or an address given twice on every line that gives it, and applies none of them', async () => {
    // Prepare
    const { call, repository } = setup();

    // Act
    const response = await call({
      method: 'POST',
      path: IMPORT,
      query: { mode: 'upsert-valid' },
      ...csv('web-1,10.0.0.1,eu-1,prod,ops', 'web-2,10.0.0.2,eu-1,prod,ops', 'web-1,10.0.0.3,eu-1,prod,ops', 'web-4,10.0.0.2,eu-1,prod,ops'),
    });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problems(response)).toEqual([
      '2 hostname: "web-1" is also on line 4: each hostname may appear once per import',
      '3 ipAddress: "10.0.0.2" is also on line 5: each ipAddress may appear once per import',
      '4 hostname: "web-1" is also on line 2: each hostname may appear once per import',
      '5 ipAddress: "10.0.0.2" is also on line 3: each ipAddress may appear once per import',
    ]);
    expect(repository.hosts.records.size).toBe(0);
  });

  it('refuses an address that another host holds, naming that host', async () => {
    // Prepare
    const { call, repository } = setup();
    await repository.hosts.insert(host({ hostname: 'old', ipAddress: '10.0.0.1' }));

    // Act
    const response = await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops') });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problems(response)).toEqual(['2 ipAddress: 10.0.0.1 is registered to host "old": change or delete that host first']);
  });

  it('writes nothing and invalidates nothing when every record is already so', async () => {
    // Prepare
    const { call, invalidator } = setup();
    const request = { method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops') };
    await call(request);

    // Act
    const response = await call(request);

    // Assess
    expect(bodyOf(response)).toMatchObject({ applied: 1, unchanged: 1, created: 0, updated: 0 });
    expect(invalidator.calls).toHaveLength(1);
  });

  it('answers 413 naming the limit for a body over it', async () => {
    // Prepare
    const { call } = setup();
    const body = `${HEADER}\n${'x'.repeat(BULK_LIMITS.importBytes)}`;

    // Act
    const response = await call({ method: 'POST', path: IMPORT, body, headers: { 'Content-Type': 'text/csv' } });

    // Assess
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response)).toEqual({
      error: { message: `request body is ${body.length} bytes; the limit is 4194304 bytes`, limit: 4_194_304 },
    });
  });

  it('answers 415 for another content type, 422 for an unknown mode or an empty file, and never 500', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const statuses = [
      (await call({ method: 'POST', path: IMPORT, body: '[]', headers: { 'Content-Type': 'application/json' } })).statusCode,
      (await call({ method: 'POST', path: IMPORT, query: { mode: 'some' }, ...csv('web-1,10.0.0.1,eu-1,prod,ops') })).statusCode,
      (await call({ method: 'POST', path: IMPORT, body: `${HEADER}\n`, headers: { 'Content-Type': 'text/csv' } })).statusCode,
      (await call({ method: 'POST', path: IMPORT, body: '', headers: { 'Content-Type': 'text/csv' } })).statusCode,
      (await call({ method: 'POST', path: IMPORT, body: '\u0000\u0001', headers: { 'Content-Type': 'application/x-ndjson' } })).statusCode,
    ];

    // Assess
    expect(statuses).toEqual([415, 422, 422, 422, 422]);
  });

  it('needs an admin key, as the other metadata writes', async () => {
    // Prepare
    const { call } = setup({ API_KEYS: ['ingest-key'], ADMIN_API_KEYS: [FIXTURE_API_KEY] });

    // Act
    const response = await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops'), headers: { 'Content-Type': 'text/csv', 'x-api-key': 'ingest-key' } });

    // Assess
    expect(response.statusCode).toBe(403);
  });
});

describe('GET /api/metadata/{kind}:export', () => {
  it('returns every record as CSV that imports back to the same records', async () => {
    // Prepare
    const { call, repository } = setup();
    await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops', 'web-2,10.0.0.2,eu-1,prod,"o,ps"') });
    const before = structuredClone([...repository.hosts.records.values()]);

    // Act
    const exported = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'csv' } });
    const again = await call({ method: 'POST', path: IMPORT, body: exported.body, headers: { 'Content-Type': 'text/csv' } });

    // Assess
    expect(exported.headers).toMatchObject({ 'content-type': 'text/csv; charset=utf-8' });
    expect(exported.body.split('\n')[0]).toBe('hostname,ipAddress,datacenter,environment,costCenter,tags,createdAt,updatedAt');
    expect(bodyOf(again)).toMatchObject({ applied: 2, unchanged: 2 });
    expect([...repository.hosts.records.values()]).toEqual(before);
  });

  it('returns NDJSON, one stored record per line', async () => {
    // Prepare
    const { call, repository } = setup();
    await repository.hosts.insert(host({ hostname: 'web-1' }));

    // Act
    const response = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'ndjson' } });

    // Assess
    expect(response.body.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([repository.hosts.records.get('web-1')]);
  });

  it('exports formula-like CSV cells behind a single quote, and imports them back to the same values', async () => {
    // Prepare
    const { call, repository } = setup();
    const body = 'name,team,owner,tier,version,costCenter\ncheckout,"=HYPERLINK(""https://evil.example/"",""x"")",+cmd,-1,@SUM(1),ops\n';
    await call({ method: 'POST', path: '/api/metadata/services:import', body, headers: { 'Content-Type': 'text/csv' } });
    const before = structuredClone([...repository.services.records.values()]);

    // Act
    const exported = await call({ method: 'GET', path: '/api/metadata/services:export', query: { format: 'csv' } });
    const again = await call({ method: 'POST', path: '/api/metadata/services:import', body: exported.body, headers: { 'Content-Type': 'text/csv' } });

    // Assess
    expect(exported.body.split('\n')[1]).toMatch(/^checkout,"'=HYPERLINK\(""https:\/\/evil.example\/"",""x""\)",'\+cmd,'-1,'@SUM\(1\),ops,/);
    expect(bodyOf(again)).toMatchObject({ applied: 1, unchanged: 1 });
    expect([...repository.services.records.values()]).toEqual(before);
  });

  it('pages the export by its size as it travels in the Lambda response (JSON-escaped), not by its raw bytes', async () => {
    // Prepare: quote-heavy tags, so the escaped body is far larger than the raw one (about 3.5 MiB raw, 5.5 MiB escaped)
    const { call, repository } = setup();
    const tags = Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`t${k}`, '']));
    const count = 5000;
    for (let i = 0; i < count; i++) {
      await repository.hosts.insert(host({ hostname: `h-${String(i).padStart(5, '0')}`, ipAddress: `10.0.${i >> 8}.${i & 255}`, tags }));
    }

    // Act
    const pages = [];
    let cursor: string | undefined;
    do {
      const response = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'csv', ...(cursor === undefined ? {} : { cursor }) } });
      pages.push(response.body);
      cursor = response.headers?.['x-next-cursor'] as string | undefined;
    } while (cursor !== undefined && pages.length < 10);

    // Assess
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(BULK_LIMITS.exportBytes + 2);
    expect(pages.reduce((rows, page) => rows + page.trimEnd().split('\n').length - 1, 0)).toBe(count);
  });

  it('answers 422 for an unknown format', async () => {
    // Act
    const response = await setup().call({ method: 'GET', path: '/api/metadata/services:export', query: { format: 'xml' } });

    // Assess
    expect(response.statusCode).toBe(422);
  });
});

describe('the import answers, against api/openapi.yaml', () => {
  it('match the documented 200, 413 and 422 bodies', async () => {
    // Prepare
    const { dereference } = await import('@readme/openapi-parser');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const spec = (await dereference('api/openapi.yaml')) as unknown as {
      paths: Record<string, { post: { responses: Record<string, { content: Record<string, { schema: object }> }> } }>;
    };
    const responses = spec.paths['/api/metadata/hosts:import']?.post.responses ?? {};
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const { call } = setup();

    // Act
    const answers = [
      await call({ method: 'POST', path: IMPORT, ...csv('web-1,10.0.0.1,eu-1,prod,ops') }),
      await call({ method: 'POST', path: IMPORT, ...csv('web-2,nope,eu-1,prod,ops') }),
      await call({ method: 'POST', path: IMPORT, body: 'x'.repeat(BULK_LIMITS.importBytes + 1), headers: { 'Content-Type': 'text/csv' } }),
    ];

    // Assess
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 422, 413]);
    for (const answer of answers) {
      const schema = responses[String(answer.statusCode)]?.content['application/json']?.schema;
      expect(schema).toBeDefined();
      const validate = ajv.compile(schema as object);
      expect({ status: answer.statusCode, valid: validate(JSON.parse(answer.body)), errors: validate.errors ?? null }).toEqual({
        status: answer.statusCode,
        valid: true,
        errors: null,
      });
    }
  });
});
