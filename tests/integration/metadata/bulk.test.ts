/**
 * The bulk import and export against the real PostgreSQL and Redis: through the metadata handler as deployed
 * (`createMetadataDependencies`), through the local API Gateway stand-in over HTTP, and seen by the real
 * enrich lookup (`TieredMetadataLookup`, via `createEnrichDependencies`). A database of its own
 * (log_enrichment_test_bulk), emptied before each test, so an export is exactly what the test imported and
 * "the table is unchanged" means the whole table; Redis is the tests' db 15.
 */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import { logger } from '#shared/observability.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { createMetadataDependencies, type MetadataDependencies } from '../../../functions/metadata/dependencies.ts';
import { RedisCacheInvalidator } from '../../../functions/metadata/src/adapters/redis-cache-invalidator.ts';
import { BULK_LIMITS } from '../../../functions/metadata/src/bulk.ts';
import type { CacheInvalidation, MetadataCacheInvalidator } from '../../../functions/metadata/src/ports.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { serveHandler, type ServedHandler } from '../../../scripts/local/api-gateway/index.ts';
import { lambdaContext } from '../../support/apigw.ts';
import { type ApiRequest, apiEvent, bodyOf } from '../../support/metadata-api.ts';
import { TEST_ENV } from '../env.ts';

const database = new URL(TEST_ENV.DATABASE_URL);
database.pathname = '/log_enrichment_test_bulk';
const DATABASE_URL = database.toString();

/** Counts the invalidations the use case asks for, and passes each on to Redis. */
class CountingInvalidator implements MetadataCacheInvalidator {
  readonly calls: CacheInvalidation[] = [];
  readonly #inner: MetadataCacheInvalidator;
  constructor(inner: MetadataCacheInvalidator) {
    this.#inner = inner;
  }
  async invalidate(change: CacheInvalidation): Promise<void> {
    this.calls.push(change);
    await this.#inner.invalidate(change);
  }
}

let redis: Redis;
let admin: pg.Pool;
let invalidator: CountingInvalidator;
let metadata: MetadataDependencies;
let call: (request: ApiRequest) => Promise<{ statusCode: number; body: string; headers?: Record<string, unknown> }>;
let served: ServedHandler;

beforeAll(async () => {
  await ensureDatabase(DATABASE_URL);
  await migrate(DATABASE_URL);
  admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  redis = new Redis(TEST_ENV.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  invalidator = new CountingInvalidator(new RedisCacheInvalidator(redis));
  metadata = createMetadataDependencies({ ...process.env, DATABASE_URL }, { invalidator });
  const api = createMetadataApi(metadata);
  call = (request) => api.handler(apiEvent(request), lambdaContext('metadata'));
  served = await serveHandler({ name: 'metadata-bulk-test', port: 0, handler: api.handler, routes: api.routes });
});

beforeEach(async () => {
  await admin.query('TRUNCATE hosts, services, networks');
  invalidator.calls.length = 0;
});

afterAll(async () => {
  await served.close();
  await metadata.close();
  await admin.end();
  redis.disconnect();
});

afterEach(() => jest.restoreAllMocks());

const HEADER = 'hostname,ipAddress,datacenter,environment,costCenter,tags';
const hostLine = (index: number, prefix = 'bulk') =>
  `${prefix}-${index},100.66.${Math.floor(index / 250)}.${(index % 250) + 1},eu-west-1,production,ops,"{""rack"":""r${index % 7}""}"`;
const hostsCsv = (count: number, prefix = 'bulk') => `${HEADER}\n${Array.from({ length: count }, (_, i) => hostLine(i, prefix)).join('\n')}\n`;
const csvImport = (body: string, query?: Record<string, string>, kind = 'hosts'): ApiRequest => ({
  method: 'POST',
  path: `/api/metadata/${kind}:import`,
  body,
  headers: { 'Content-Type': 'text/csv' },
  ...(query === undefined ? {} : { query }),
});
const tableRows = async (table: string) => (await admin.query(`SELECT * FROM ${table} ORDER BY 1`)).rows;
const problems = (response: { body: string }) =>
  (bodyOf(response as never) as { error: { problems: { line: number; field: string; reason: string }[] } }).error.problems.map(
    (problem) => `${problem.line} ${problem.field}: ${problem.reason}`,
  );

describe('POST /api/metadata/{kind}:import on PostgreSQL', () => {
  it('imports a CSV file of hosts in one transaction, with one invalidation that bumps the metadata version', async () => {
    // Prepare
    const versionBefore = await redis.get(cacheKeys.version);

    // Act
    const response = await call(csvImport(hostsCsv(500)));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response as never)).toMatchObject({ read: 500, applied: 500, created: 500, rejected: 0, committed: true });
    expect(await tableRows('hosts')).toHaveLength(500);
    expect(invalidator.calls).toHaveLength(1);
    expect(invalidator.calls[0]?.keys).toHaveLength(1000); // by address and by name, for each host
    expect(await redis.get(cacheKeys.version)).not.toBe(versionBefore);
  });

  it('imports NDJSON services and networks with the same schemas as the single-record routes', async () => {
    // Prepare
    const services = [
      { name: 'checkout', team: 'payments', owner: 'pay@example.com', tier: 'tier-1', version: '1.2.3', costCenter: 'cc', tags: { a: 'b' } },
      { name: 'search', team: 'discovery', owner: 'disc@example.com', tier: 'tier-2', version: '0.9.0', costCenter: 'cc' },
    ];
    const networks = [{ cidr: '100.66.0.0/16', datacenter: 'eu-west-1', environment: 'production', zone: 'eu-west-1a' }];
    const ndjson = (records: object[]) => `${records.map((record) => JSON.stringify(record)).join('\n')}\n`;

    // Act
    const servicesResponse = await call({ method: 'POST', path: '/api/metadata/services:import', body: ndjson(services), headers: { 'Content-Type': 'application/x-ndjson' } });
    const networksResponse = await call({ method: 'POST', path: '/api/metadata/networks:import', body: ndjson(networks), headers: { 'Content-Type': 'application/x-ndjson' } });

    // Assess
    expect([servicesResponse.statusCode, networksResponse.statusCode]).toEqual([200, 200]);
    expect((await tableRows('services')).map((row) => [row.name, row.tags])).toEqual([
      ['checkout', { a: 'b' }],
      ['search', {}],
    ]);
    expect((await call({ method: 'GET', path: '/api/metadata/networks', query: { ip: '100.66.4.5' } })).body).toContain('"zone":"eu-west-1a"');
    // Networks: the sweep of every network answer, as a single network write does.
    expect(invalidator.calls.map((change) => change.patterns)).toEqual([[], [cacheKeys.networkPattern]]);
  });

  it('all or nothing: one bad row rolls the whole import back and leaves the table as it was', async () => {
    // Prepare
    await call(csvImport(hostsCsv(3, 'kept')));
    const before = await tableRows('hosts');
    invalidator.calls.length = 0;
    const body = `${hostsCsv(50)}bulk-x,100.66.9.300,eu-west-1,production,ops,\n`;

    // Act
    const response = await call(csvImport(body));

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problems(response)).toEqual(['52 ipAddress: must be an IPv4 or IPv6 address']);
    expect(await tableRows('hosts')).toEqual(before);
    expect(invalidator.calls).toHaveLength(0);
  });

  it('all or nothing: a conflict found only inside the transaction (an address another host holds) rolls back too', async () => {
    // Prepare
    await call(csvImport(`${HEADER}\nholder,100.66.0.1,eu-west-1,production,ops,\n`));
    const before = await tableRows('hosts');

    // Act
    const response = await call(csvImport(hostsCsv(5, 'new')));

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problems(response)).toEqual(['2 ipAddress: 100.66.0.1 is registered to host "holder": change or delete that host first']);
    expect(await tableRows('hosts')).toEqual(before);
  });

  it('upsert-valid: applies the valid rows, reports the others by line, field and reason', async () => {
    // Prepare
    const body = [
      HEADER,
      hostLine(0),
      'bulk_1,100.66.0.2,eu-west-1,production,ops,',
      hostLine(2),
      `${hostLine(3).replace('bulk-3', 'bulk-0')}`,
      'bulk-4,100.66.0.5,eu-west-1,production,ops,"{""rack"":1}"',
    ].join('\n');

    // Act
    const response = await call(csvImport(body, { mode: 'upsert-valid' }));

    // Assess
    expect(response.statusCode).toBe(200);
    const report = bodyOf(response as never) as { applied: number; rejected: number; problems: { line: number; field: string; reason: string }[] };
    expect(report).toMatchObject({ read: 5, applied: 1, rejected: 4 });
    expect(report.problems.map((p) => `${p.line} ${p.field}`)).toEqual(['2 hostname', '3 hostname', '5 hostname', '6 tags.rack']);
    expect(report.problems[0]?.reason).toBe('"bulk-0" is also on line 5: each hostname may appear once per import');
    expect((await tableRows('hosts')).map((row) => row.hostname)).toEqual(['bulk-2']);
  });

  it('updates what changed, leaves what did not (updatedAt kept), and invalidates a moved host under its old address', async () => {
    // Prepare
    await call(csvImport(hostsCsv(3)));
    const [first] = await tableRows('hosts');
    invalidator.calls.length = 0;
    const moved = hostsCsv(3).replace('100.66.0.2,', '100.66.7.7,');

    // Act
    const response = await call(csvImport(moved));

    // Assess
    expect(bodyOf(response as never)).toMatchObject({ applied: 3, created: 0, updated: 1, unchanged: 2 });
    expect((await tableRows('hosts'))[0]?.updated_at).toEqual(first?.updated_at);
    expect(invalidator.calls).toHaveLength(1);
    expect(invalidator.calls[0]?.keys).toEqual(expect.arrayContaining([cacheKeys.hostByIp('100.66.0.2'), cacheKeys.hostByIp('100.66.7.7')]));
  });
});

describe('the import through the local API Gateway (HTTP)', () => {
  it('answers 413 naming the function limit for a body over 4 MiB (under API Gateway 10 MB), and writes nothing', async () => {
    // Prepare
    const body = hostsCsv(60_000);
    expect(Buffer.byteLength(body)).toBeGreaterThan(BULK_LIMITS.importBytes);

    // Act
    const response = await fetch(`${served.url}/api/metadata/hosts:import`, { method: 'POST', body, headers: { 'content-type': 'text/csv' } });

    // Assess
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: { message: `request body is ${Buffer.byteLength(body)} bytes; the limit is 4194304 bytes`, limit: 4_194_304 },
    });
    expect(await tableRows('hosts')).toEqual([]);
  });

  it('imports a CSV file posted over HTTP, and exports it back', async () => {
    // Act
    const imported = await fetch(`${served.url}/api/metadata/hosts:import`, { method: 'POST', body: hostsCsv(20), headers: { 'content-type': 'text/csv; charset=utf-8' } });
    const exported = await fetch(`${served.url}/api/metadata/hosts:export?format=ndjson`);

    // Assess
    expect(imported.status).toBe(200);
    expect(exported.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect((await exported.text()).trimEnd().split('\n')).toHaveLength(20);
  });
});

describe('GET /api/metadata/{kind}:export on PostgreSQL', () => {
  it('round-trips an import: export, import the export into an empty table, export again: the same rows', async () => {
    // Prepare
    await call(csvImport(hostsCsv(2500)));
    const rows = await tableRows('hosts');

    // Act
    const first = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'csv' } });
    await admin.query('TRUNCATE hosts');
    const again = await call(csvImport(first.body));
    const second = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'csv' } });

    // Assess
    expect(first.body.trimEnd().split('\n')).toHaveLength(2501);
    expect(bodyOf(again as never)).toMatchObject({ created: 2500 });
    const withoutTimes = (text: string) => text.split('\n').map((line) => line.split(',').slice(0, 6).join(','));
    expect(withoutTimes(second.body)).toEqual(withoutTimes(first.body));
    expect((await tableRows('hosts')).map(({ created_at: _c, updated_at: _u, ...row }) => row)).toEqual(
      rows.map(({ created_at: _c, updated_at: _u, ...row }) => row),
    );
  });

  it('pages an export larger than one response: the pages, followed by their cursor, hold every record once', async () => {
    // Prepare: about 12 MB of NDJSON with long tags
    const tags = JSON.stringify({ note: 'x'.repeat(200) }).replaceAll('"', '""');
    const body = `${HEADER}\n${Array.from({ length: 40_000 }, (_, i) => hostLine(i).replace(/"\{.*\}"$/, `"${tags}"`)).join('\n')}\n`;
    const report = await metadata.bulk.import({ kind: 'hosts', format: 'csv', text: body, mode: 'all-or-nothing' });
    expect(report.created).toBe(40_000);

    // Act
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const response = await call({ method: 'GET', path: '/api/metadata/hosts:export', query: { format: 'ndjson', ...(cursor === undefined ? {} : { cursor }) } });
      // Measured as the body travels, JSON-escaped in the Lambda response (the two enclosing quotes aside).
      expect(Buffer.byteLength(JSON.stringify(response.body)) - 2).toBeLessThanOrEqual(BULK_LIMITS.exportBytes);
      for (const line of response.body.trimEnd().split('\n')) seen.push((JSON.parse(line) as { hostname: string }).hostname);
      cursor = response.headers?.['x-next-cursor'] as string | undefined;
      if (cursor !== undefined) expect(response.headers?.link).toBe(`<./hosts:export?format=ndjson&cursor=${cursor}>; rel="next"`);
      pages += 1;
    } while (cursor !== undefined);

    // Assess
    expect(pages).toBeGreaterThan(1);
    expect(seen).toHaveLength(40_000);
    expect(new Set(seen).size).toBe(40_000);
  });
});

describe('the enricher after an import', () => {
  let enrich: EnrichDependencies;

  beforeAll(() => {
    enrich = createEnrichDependencies({
      ...process.env,
      DATABASE_URL,
      ENRICH_BREAKER_KEY_PREFIX: `test:enrich:breaker:${randomUUID()}:`,
    });
  });

  afterAll(async () => {
    await enrich.close();
  });

  it('sees an imported host in its next batch, though its previous batch cached the address as unknown', async () => {
    // Prepare: a batch that learns "no such host" in process and in Redis
    const ip = '100.66.3.3';
    const request = { ips: new Set([ip]), hostnames: new Set<string>(), services: new Set<string>() };
    jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
    const before = await enrich.lookup.resolve(request);
    expect(before.hostsByIp.get(ip)).toMatchObject({ state: 'not_found' });
    expect((await enrich.lookup.resolve(request)).tally.memory.hits).toBeGreaterThan(0); // now answered in process

    // The control: a row written behind the API's back (no invalidation) is not seen, the old answer is cached.
    await admin.query(`INSERT INTO hosts (hostname, ip_address, datacenter, environment, cost_center) VALUES ('behind-the-back', $1, 'x', 'x', 'x')`, [ip]);
    expect((await enrich.lookup.resolve(request)).hostsByIp.get(ip)).toMatchObject({ state: 'not_found' });
    await admin.query(`DELETE FROM hosts WHERE hostname = 'behind-the-back'`);

    // Act
    const response = await call(csvImport(`${HEADER}\nimported-1,${ip},eu-west-1,production,ops,\n`));
    const after = await enrich.lookup.resolve(request);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(invalidator.calls).toHaveLength(1);
    expect(after.hostsByIp.get(ip)).toMatchObject({ state: 'found', value: { hostname: 'imported-1', ipAddress: ip } });
  });

  it('sees a host imported with a non-canonical IPv6 spelling under the address PostgreSQL stores and logs carry', async () => {
    // Prepare: the enricher learnt "no such host" for the canonical address, in process and in Redis
    const group = (0x1000 + Math.floor(Math.random() * 0xefff)).toString(16); // an address of this run alone
    const ip = `2001:db8::${group}`;
    const request = { ips: new Set([ip]), hostnames: new Set<string>(), services: new Set<string>() };
    jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
    expect((await enrich.lookup.resolve(request)).hostsByIp.get(ip)).toMatchObject({ state: 'not_found' });
    expect(await redis.exists(cacheKeys.hostByIp(ip))).toBe(1);

    // Act
    const response = await call(csvImport(`${HEADER}\nv6-1,2001:DB8:0::${group.toUpperCase()},eu-west-1,production,ops,\n`));
    const after = await enrich.lookup.resolve(request);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(invalidator.calls[0]?.keys).toContain(cacheKeys.hostByIp(ip));
    expect(after.hostsByIp.get(ip)).toMatchObject({ state: 'found', value: { hostname: 'v6-1', ipAddress: ip } });
  });
});
