import { jest } from '@jest/globals';
import type { ApiKeysEnv } from '#shared/config.ts';
import { logger } from '#shared/observability.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { type ApiRequest, apiEvent, bodyOf, FIXTURE_API_KEY, messageOf, problemsOf } from '../../support/metadata-api.ts';
import { host, MemoryRepository, network, RecordingInvalidator, service, unobserved } from './fakes.ts';

function setup(apiKeys: ApiKeysEnv = {}) {
  const repository = new MemoryRepository();
  const invalidator = new RecordingInvalidator();
  const { handler } = createMetadataApi({ catalog: new MetadataCatalog(repository, invalidator, unobserved), apiKeys });
  const call = (request: ApiRequest) => handler(apiEvent(request), lambdaContext('metadata'));
  return { repository, invalidator, handler, call };
}

const HOSTS = '/api/metadata/hosts';
const SERVICES = '/api/metadata/services';
const NETWORKS = '/api/metadata/networks';

beforeEach(() => {
  // Error logs (500s, failed invalidations) are asserted where they matter, not printed.
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('POST /api/metadata/hosts', () => {
  it('answers the README curl request (the fixture, as is) with 201 and the stored host', async () => {
    // Prepare
    const { handler } = setup();

    // Act
    const response = await handler(restEvent('apigw-rest-post-host'), lambdaContext('metadata'));

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.headers?.location).toBe('/api/metadata/hosts/new-server');
    expect(bodyOf(response)).toEqual({
      hostname: 'new-server',
      ipAddress: '192.168.1.150',
      datacenter: 'us-west-2',
      environment: 'production',
      costCenter: 'engineering',
      tags: {},
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it('stores trimmed strings and the tags it was given', async () => {
    // Prepare
    const { call, repository } = setup();

    // Act
    const response = await call({
      method: 'POST',
      path: HOSTS,
      body: { ...host(), datacenter: '  us-east-1 ', tags: { role: 'api' } },
    });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(repository.hosts.records.get('payment-api-01')).toMatchObject({ datacenter: 'us-east-1', tags: { role: 'api' } });
  });

  it('answers 409 naming hostname when the hostname exists', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host({ ipAddress: '192.168.1.200' }) });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toMatch(/^hostname: /);
  });

  it('answers 409 naming ipAddress when another host has the address', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host({ hostname: 'payment-api-09' }) });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toMatch(/^ipAddress: /);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an underscore in hostname', { hostname: 'bad_host' }, 'hostname: must be an RFC 1123 hostname'],
    ['a label starting with "-"', { hostname: 'web.-1' }, 'hostname: must be an RFC 1123 hostname'],
    ['a hostname over 253 characters', { hostname: `${`${'a'.repeat(60)}.`.repeat(5)}com` }, 'hostname: must be at most 253 characters'],
    ['a label over 63 characters', { hostname: `${'a'.repeat(64)}.example` }, 'hostname: must be an RFC 1123 hostname'],
    ['an invalid IPv4 address', { ipAddress: '192.168.1.256' }, 'ipAddress: must be an IPv4 or IPv6 address'],
    ['an address with a prefix', { ipAddress: '192.168.1.1/24' }, 'ipAddress: must be an IPv4 or IPv6 address'],
    ['a blank datacenter', { datacenter: '   ' }, 'datacenter: must not be empty'],
    ['a number for environment', { environment: 7 }, 'environment: must be a string'],
    ['a long costCenter', { costCenter: 'x'.repeat(65) }, 'costCenter: must be at most 64 characters'],
    ['a NUL in costCenter', { costCenter: 'pay\u0000ments' }, 'costCenter: must not contain control characters'],
    ['a missing costCenter', { costCenter: undefined }, 'costCenter: is required'],
    ['tags that are a list', { tags: ['a'] }, 'tags: must be an object of string values'],
    ['a tag value that is a number', { tags: { rack: 7 } }, 'tags.rack: must be a string'],
    ['an empty tag key', { tags: { '': 'x' } }, 'tags.: is not a valid key: it must be 1-128 characters'],
    ['51 tags', { tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, 'tags: must have at most 50 entries'],
    ['a snake_case field', { ip_address: '10.0.0.1' }, 'ip_address: is not a known field'],
  ])('answers 422 for %s, naming the field and the reason', async (_case, change, problem) => {
    // Prepare
    const { call, invalidator } = setup();

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: { ...host(), ...change } });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(expect.arrayContaining([expect.stringContaining(problem)]));
    expect(messageOf(response)).toContain(problem.split(':')[0]);
    expect(invalidator.calls).toEqual([]);
  });

  it('answers 422 for a JSON body that is not an object', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: '[1, 2]' });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['body: must be a JSON object']);
  });

  it.each([
    ['invalid JSON', '{"hostname": ', 'body: is not valid JSON'],
    ['an empty body', '', 'body: is empty'],
  ])('answers 400 for %s', async (_case, body, problem) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(problemsOf(response)[0]).toContain(problem);
  });

  it.each([
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['no content type', { 'Content-Type': undefined }],
  ])('answers 415 for %s', async (_case, headers) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host(), headers });

    // Assess
    expect(response.statusCode).toBe(415);
    expect(messageOf(response)).toContain('content-type must be application/json');
  });

  it('accepts application/json with a charset', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({
      method: 'POST',
      path: HOSTS,
      body: host(),
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });

    // Assess
    expect(response.statusCode).toBe(201);
  });

  it('answers 413 with the limit for a body over 64 KiB', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: { ...host(), padding: 'x'.repeat(64 * 1024) } });

    // Assess
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response)).toEqual({ error: { message: expect.stringContaining('65536'), limit: 65536 } });
  });
});

describe('API keys (local runtime)', () => {
  const keys: ApiKeysEnv = { API_KEYS: ['reader-key'], ADMIN_API_KEYS: [FIXTURE_API_KEY] };

  it('answers 401 to a write without x-api-key when ADMIN_API_KEYS is set', async () => {
    // Prepare
    const { call } = setup(keys);

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host(), headers: { 'x-api-key': undefined } });

    // Assess
    expect(response.statusCode).toBe(401);
  });

  it('answers 403 to a write with a read-only key', async () => {
    // Prepare
    const { call, repository } = setup(keys);

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host(), headers: { 'x-api-key': 'reader-key' } });

    // Assess
    expect(response.statusCode).toBe(403);
    expect(repository.hosts.records.size).toBe(0);
  });

  it('checks the key before reading the body', async () => {
    // Prepare
    const { call } = setup(keys);

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: 'not json', headers: { 'x-api-key': 'wrong' } });

    // Assess
    expect(response.statusCode).toBe(403);
  });

  it.each(['reader-key', FIXTURE_API_KEY])('lets a read through with key %s', async (key) => {
    // Prepare
    const { call } = setup(keys);

    // Act
    const response = await call({ method: 'GET', path: HOSTS, headers: { 'x-api-key': key } });

    // Assess
    expect(response.statusCode).toBe(200);
  });

  it('answers 401 to a read without a key when keys are configured', async () => {
    // Prepare
    const { call } = setup({ API_KEYS: ['reader-key'] });

    // Act
    const response = await call({ method: 'GET', path: HOSTS, headers: { 'x-api-key': undefined } });

    // Assess
    expect(response.statusCode).toBe(401);
  });

  it('refuses writes with 403 when ingest keys are set but no admin keys', async () => {
    // Prepare
    const { call } = setup({ API_KEYS: ['reader-key'] });

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host(), headers: { 'x-api-key': 'reader-key' } });

    // Assess
    expect(response.statusCode).toBe(403);
    expect(messageOf(response)).toBe('metadata writes need an admin key, and ADMIN_API_KEYS is not set');
  });

  it('checks nothing when no keys are configured', async () => {
    // Prepare
    const { call } = setup({});

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host(), headers: { 'x-api-key': undefined } });

    // Assess
    expect(response.statusCode).toBe(201);
  });
});

describe('GET /api/metadata/hosts/{hostname}', () => {
  it('returns the host', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });

    // Act
    const response = await call({ method: 'GET', path: `${HOSTS}/payment-api-01` });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject(host());
  });

  it('returns 404 naming the hostname when the host is unknown', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: `${HOSTS}/nowhere-01` });

    // Assess
    expect(response.statusCode).toBe(404);
    expect(messageOf(response)).toBe('no host with hostname "nowhere-01"');
  });

  it('returns 422 for a path that cannot be a hostname', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: `${HOSTS}/bad_host` });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)[0]).toMatch(/^hostname: must be an RFC 1123 hostname/);
  });

  it('returns 422 for broken percent-encoding in the path', async () => {
    // Prepare
    const { handler } = setup();
    const event = apiEvent({ method: 'GET', path: `${HOSTS}/web` });
    event.path = `${HOSTS}/web%E0%A4%A`;

    // Act
    const response = await handler(event, lambdaContext('metadata'));

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['hostname: is not valid percent-encoding']);
  });
});

describe('GET /api/metadata/hosts (list)', () => {
  async function withHosts(count: number) {
    const context = setup();
    for (let i = 1; i <= count; i += 1) {
      await context.call({ method: 'POST', path: HOSTS, body: host({ hostname: `web-${i}`, ipAddress: `10.0.0.${i}` }) });
    }
    return context;
  }

  it('pages through every host in key order, and the last page has no next cursor', async () => {
    // Prepare
    const { call } = await withHosts(5);
    const pages: string[][] = [];
    let cursor: string | undefined;

    // Act
    do {
      const response = await call({ method: 'GET', path: HOSTS, query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      const page = bodyOf(response) as { items: { hostname: string }[]; nextCursor: string | null };
      pages.push(page.items.map((item) => item.hostname));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);

    // Assess
    expect(pages).toEqual([['web-1', 'web-2'], ['web-3', 'web-4'], ['web-5']]);
  });

  it('says nextCursor null when the page ends exactly at the last host', async () => {
    // Prepare
    const { call } = await withHosts(2);

    // Act
    const response = await call({ method: 'GET', path: HOSTS, query: { limit: '2' } });

    // Assess
    expect(bodyOf(response)).toMatchObject({ nextCursor: null });
  });

  it('returns 50 items by default', async () => {
    // Prepare
    const { call } = await withHosts(51);

    // Act
    const response = await call({ method: 'GET', path: HOSTS });

    // Assess
    const page = bodyOf(response) as { items: unknown[]; nextCursor: string | null };
    expect(page.items).toHaveLength(50);
    expect(page.nextCursor).not.toBeNull();
  });

  it('filters on ?ip= to the one host with that address', async () => {
    // Prepare
    const { call } = await withHosts(3);

    // Act
    const response = await call({ method: 'GET', path: HOSTS, query: { ip: '10.0.0.2' } });

    // Assess
    expect(bodyOf(response)).toEqual({ items: [expect.objectContaining({ hostname: 'web-2' })], nextCursor: null });
  });

  it('returns no items for an ?ip= no host has', async () => {
    // Prepare
    const { call } = await withHosts(3);

    // Act
    const response = await call({ method: 'GET', path: HOSTS, query: { ip: '10.9.9.9' } });

    // Assess
    expect(bodyOf(response)).toEqual({ items: [], nextCursor: null });
  });

  it.each<[Record<string, string>, string]>([
    [{ limit: '0' }, 'limit: must be an integer from 1 to 500'],
    [{ limit: '501' }, 'limit: must be an integer from 1 to 500'],
    [{ limit: '2.5' }, 'limit: must be an integer from 1 to 500'],
    [{ limit: 'ten' }, 'limit: must be an integer from 1 to 500'],
    [{ cursor: 'not a cursor' }, 'cursor: is not a cursor returned by this API'],
    [{ cursor: Buffer.from('bad_host').toString('base64url') }, 'cursor: is not a cursor returned by this API'],
    [{ ip: '10.0.0' }, 'ip: must be an IPv4 or IPv6 address'],
    [{ hostname: 'web-1' }, 'hostname: is not a known query parameter'],
  ])('answers 422 for %j', async (query, problem) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: HOSTS, query });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual([problem]);
  });
});

describe('PUT /api/metadata/hosts/{hostname}', () => {
  it('replaces every mutable field (tags left out become empty) and returns the host', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host({ tags: { role: 'api' } }) });
    const { hostname: _key, ...fields } = host({ ipAddress: '192.168.1.120', environment: 'staging' });
    const { tags: _tags, ...withoutTags } = fields;

    // Act
    const response = await call({ method: 'PUT', path: `${HOSTS}/payment-api-01`, body: withoutTags });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ hostname: 'payment-api-01', ipAddress: '192.168.1.120', environment: 'staging', tags: {} });
  });

  it('accepts a host as GET returned it (timestamps are ignored)', async () => {
    // Prepare
    const { call } = setup();
    const created = bodyOf(await call({ method: 'POST', path: HOSTS, body: host() }));

    // Act
    const response = await call({
      method: 'PUT',
      path: `${HOSTS}/payment-api-01`,
      body: { ...created, datacenter: 'us-east-2', createdAt: '1999-01-01T00:00:00.000Z' },
    });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ datacenter: 'us-east-2', createdAt: created.createdAt });
  });

  it('answers 422 naming hostname when the body names another host', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });

    // Act
    const response = await call({ method: 'PUT', path: `${HOSTS}/payment-api-01`, body: host({ hostname: 'payment-api-02' }) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)[0]).toMatch(/^hostname: must equal the hostname in the path/);
  });

  it('answers 404 for an unknown host', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'PUT', path: `${HOSTS}/payment-api-01`, body: host() });

    // Assess
    expect(response.statusCode).toBe(404);
  });

  it('answers 409 naming ipAddress when the new address belongs to another host', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });
    await call({ method: 'POST', path: HOSTS, body: host({ hostname: 'payment-api-02', ipAddress: '192.168.1.101' }) });

    // Act
    const response = await call({ method: 'PUT', path: `${HOSTS}/payment-api-02`, body: host({ hostname: 'payment-api-02' }) });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toMatch(/^ipAddress: /);
  });
});

describe('DELETE /api/metadata/hosts/{hostname}', () => {
  it('answers 204 with no body and the host is gone', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: HOSTS, body: host() });

    // Act
    const response = await call({ method: 'DELETE', path: `${HOSTS}/payment-api-01` });

    // Assess
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect((await call({ method: 'GET', path: `${HOSTS}/payment-api-01` })).statusCode).toBe(404);
  });

  it('answers 404 for an unknown host', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'DELETE', path: `${HOSTS}/payment-api-01` });

    // Assess
    expect(response.statusCode).toBe(404);
  });
});

describe('services', () => {
  it('round-trips create, read, replace, list and delete', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const created = await call({ method: 'POST', path: SERVICES, body: service() });
    const replaced = await call({ method: 'PUT', path: `${SERVICES}/payment-service`, body: service({ version: '2.5.0' }) });
    const read = await call({ method: 'GET', path: `${SERVICES}/payment-service` });
    const listed = await call({ method: 'GET', path: SERVICES });
    const deleted = await call({ method: 'DELETE', path: `${SERVICES}/payment-service` });

    // Assess
    expect(created.statusCode).toBe(201);
    expect(created.headers?.location).toBe('/api/metadata/services/payment-service');
    expect(replaced.statusCode).toBe(200);
    expect(bodyOf(read)).toMatchObject(service({ version: '2.5.0' }));
    expect(bodyOf(listed)).toEqual({ items: [expect.objectContaining({ name: 'payment-service' })], nextCursor: null });
    expect(deleted.statusCode).toBe(204);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ name: 'payment service' }, 'name: must be 1-128 characters of letters, digits, ".", "_" or "-"'],
    [{ owner: '' }, 'owner: must not be empty'],
    [{ tier: undefined }, 'tier: is required'],
    [{ version: 'v'.repeat(65) }, 'version: must be at most 64 characters'],
  ])('answers 422 for %j', async (change, problem) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: SERVICES, body: { ...service(), ...change } });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual([problem]);
  });

  it('rejects ?ip= on services as an unknown query parameter', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: SERVICES, query: { ip: '10.0.0.1' } });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['ip: is not a known query parameter']);
  });
});

describe('networks', () => {
  it('answers 422 "host bits set" for a CIDR like 10.20.1.0/16, naming the network it would be', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: NETWORKS, body: network({ cidr: '10.20.1.0/16' }) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['cidr: has host bits set: the address of a /16 network is 10.20.0.0/16']);
  });

  it.each(['10.20.0.0', '10.20.0.0/33', 'not-a-network'])('answers 422 for cidr %j', async (cidr) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: NETWORKS, body: network({ cidr }) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['cidr: must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16']);
  });

  it('stores an IPv6 network in canonical form', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'POST', path: NETWORKS, body: network({ cidr: '2001:DB8:0:0::/64' }) });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(bodyOf(response)).toMatchObject({ cidr: '2001:db8::/64' });
    expect(response.headers?.location).toBe('/api/metadata/networks/2001%3Adb8%3A%3A%2F64');
  });

  it.each([
    ['the slash encoded', `${NETWORKS}/10.20.0.0%2F16`],
    ['the slash decoded by a proxy', `${NETWORKS}/10.20.0.0/16`],
  ])('reads a network by its CIDR with %s', async (_case, path) => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: NETWORKS, body: network() });

    // Act
    const response = await call({ method: 'GET', path });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ cidr: '10.20.0.0/16', zone: 'us-west-2b' });
  });

  it('answers 422 "host bits set" for a path CIDR with host bits', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: `${NETWORKS}/10.20.1.0%2F16` });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)[0]).toMatch(/^cidr: has host bits set/);
  });

  it('finds the most specific network containing ?ip=', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: NETWORKS, body: network({ cidr: '10.0.0.0/8', zone: 'wan' }) });
    await call({ method: 'POST', path: NETWORKS, body: network({ cidr: '10.20.0.0/16', zone: 'vpc' }) });

    // Act
    const inner = await call({ method: 'GET', path: NETWORKS, query: { ip: '10.20.1.5' } });
    const outer = await call({ method: 'GET', path: NETWORKS, query: { ip: '10.30.1.5' } });
    const outside = await call({ method: 'GET', path: NETWORKS, query: { ip: '192.0.2.1' } });

    // Assess
    expect(bodyOf(inner)).toEqual({ items: [expect.objectContaining({ cidr: '10.20.0.0/16' })], nextCursor: null });
    expect(bodyOf(outer)).toEqual({ items: [expect.objectContaining({ cidr: '10.0.0.0/8' })], nextCursor: null });
    expect(bodyOf(outside)).toEqual({ items: [], nextCursor: null });
  });

  it('accepts a PUT whose body spells the path CIDR differently', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: NETWORKS, body: network({ cidr: '2001:db8::/64' }) });

    // Act
    const response = await call({
      method: 'PUT',
      path: `${NETWORKS}/2001%3Adb8%3A%3A%2F64`,
      body: network({ cidr: '2001:DB8:0::/64', description: 'lab' }),
    });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ cidr: '2001:db8::/64', description: 'lab' });
  });

  it('answers 422 naming cidr when the PUT body names another network', async () => {
    // Prepare
    const { call } = setup();
    await call({ method: 'POST', path: NETWORKS, body: network() });

    // Act
    const response = await call({ method: 'PUT', path: `${NETWORKS}/10.20.0.0%2F16`, body: network({ cidr: '10.21.0.0/16' }) });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)[0]).toMatch(/^cidr: must equal the cidr in the path/);
  });
});

describe('routing', () => {
  it.each([
    ['PATCH', `${HOSTS}/web-1`, 'GET, PUT, DELETE'],
    ['DELETE', HOSTS, 'POST, GET'],
    ['POST', `${NETWORKS}/10.20.0.0%2F16`, 'GET, PUT, DELETE'],
    ['HEAD', SERVICES, 'POST, GET'],
  ])('answers 405 to %s %s with an allow header', async (method, path, allow) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method, path });

    // Assess
    expect(response.statusCode).toBe(405);
    expect(response.headers?.allow).toBe(allow);
    expect(messageOf(response)).toContain(`${method} is not allowed`);
  });

  it.each([`/api/metadata/racks`, `${HOSTS}/web-1/tags`, '/api/other', '/'])('answers 404 to GET %s', async (path) => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path });

    // Assess
    expect(response.statusCode).toBe(404);
    expect(messageOf(response)).toBe(`no route for GET ${path}`);
  });

  it('serves a path with a trailing slash like the path without', async () => {
    // Prepare
    const { call } = setup();

    // Act
    const response = await call({ method: 'GET', path: `${HOSTS}/` });

    // Assess
    expect(response.statusCode).toBe(200);
  });
});
