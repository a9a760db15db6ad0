/**
 * The metadata handler against the real PostgreSQL test database and Redis db 15, called with API Gateway
 * REST proxy events. The tables are shared with other test files: every record here has a random key,
 * reads only look at those, and afterAll deletes them.
 */
import { freePort as closedPort } from '../../support/net.ts';
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createPool } from '#shared/clients/postgres.ts';
import { createRedis } from '#shared/clients/redis.ts';
import { postgresEnv, readConfig, redisEnv } from '#shared/config.ts';
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';
import { cacheKeys } from '#shared/metadata/cache-keys.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { canonicalIp } from '#shared/net/ip.ts';
import { logger, metrics } from '#shared/observability.ts';
import { createMetadataDependencies } from '../../../functions/metadata/dependencies.ts';
import { PgMetadataRepository } from '../../../functions/metadata/src/adapters/pg-metadata-repository.ts';
import { PowertoolsMetadataMetrics } from '../../../functions/metadata/src/adapters/powertools-metrics.ts';
import { RedisCacheInvalidator } from '../../../functions/metadata/src/adapters/redis-cache-invalidator.ts';
import { MetadataCatalog } from '../../../functions/metadata/src/catalog.ts';
import { encodeCursor } from '../../../functions/metadata/src/input.ts';
import type { MetadataCacheInvalidator } from '../../../functions/metadata/src/ports.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { TEST_ENV } from '../env.ts';
import { type ApiRequest, apiEvent, bodyOf, messageOf, problemsOf } from '../../support/metadata-api.ts';

const HOSTS = '/api/metadata/hosts';
const SERVICES = '/api/metadata/services';
const NETWORKS = '/api/metadata/networks';

// The function as deployed: the same wiring handler.ts does, over the test environment.
const dependencies = createMetadataDependencies(process.env);
const { handler } = createMetadataApi(dependencies);
const call = (request: ApiRequest) => handler(apiEvent(request), lambdaContext('metadata'));
/** Powertools' logger and metrics, as the wiring passes them, for the instances the tests build themselves. */
const observers = { log: logger, metrics: new PowertoolsMetadataMetrics(metrics) };

let redis: Redis;
let cleanup: pg.Pool;
const created = { hosts: new Set<string>(), services: new Set<string>(), networks: new Set<string>() };

beforeAll(async () => {
  // Global setup starts the services; the test database may still need creating and migrating (idempotent).
  await ensureDatabase(TEST_ENV.DATABASE_URL);
  await migrate(TEST_ENV.DATABASE_URL);
  redis = new Redis(TEST_ENV.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup = new pg.Pool({ connectionString: TEST_ENV.DATABASE_URL, max: 1 });
});

afterAll(async () => {
  await cleanup.query('DELETE FROM hosts WHERE hostname = ANY($1::text[])', [[...created.hosts]]);
  await cleanup.query('DELETE FROM services WHERE name = ANY($1::text[])', [[...created.services]]);
  await cleanup.query('DELETE FROM networks WHERE cidr = ANY($1::cidr[])', [[...created.networks]]);
  await cleanup.end();
  redis.disconnect();
  await dependencies.close();
});

afterEach(() => jest.restoreAllMocks());

/** 32 random hex digits. */
const randomHex = () => randomUUID().replaceAll('-', '');

/** A random address in 100.64.0.0/10 (shared address space: not used by the demo data or the other tests). */
function uniqueIpv4(): string {
  const bytes = Buffer.from(randomHex(), 'hex');
  return `100.${64 + ((bytes[0] ?? 0) & 63)}.${bytes[1] ?? 0}.${1 + ((bytes[2] ?? 0) % 254)}`;
}

/** A random unique-local IPv6 address (fd00::/8), canonical. */
function uniqueIpv6(): string {
  const hex = randomHex();
  return canonicalIp(`fd${hex.slice(0, 2)}:${hex.slice(2, 30).match(/.{4}/g)?.join(':')}`);
}

function newHost(overrides: Partial<Host> = {}): Host {
  const value: Host = {
    hostname: `it-${randomUUID()}`,
    ipAddress: uniqueIpv4(),
    datacenter: 'us-east-1',
    environment: 'test',
    costCenter: 'engineering',
    tags: { suite: 'metadata-api' },
    ...overrides,
  };
  created.hosts.add(value.hostname);
  return value;
}

function newService(overrides: Partial<Service> = {}): Service {
  const value: Service = {
    name: `it-svc-${randomUUID()}`,
    team: 'payments',
    owner: 'payments-oncall@example.com',
    tier: 'tier-1',
    version: '1.0.0',
    costCenter: 'payments',
    tags: {},
    ...overrides,
  };
  created.services.add(value.name);
  return value;
}

/** A random /48 in fd00::/8 and a /64 inside it. */
function nestedIpv6Networks() {
  const hex = randomHex();
  const prefix = `fd${hex.slice(0, 2)}:${hex.slice(2, 6)}:${hex.slice(6, 10)}`;
  const subnet = `${hex.slice(10, 13)}1`; // never 0, so the /64 is not the first of the /48
  return {
    outer: `${canonicalIp(`${prefix}::`)}/48`,
    inner: `${canonicalIp(`${prefix}:${subnet}::`)}/64`,
    inInner: canonicalIp(`${prefix}:${subnet}::5`),
    inOuterOnly: canonicalIp(`${prefix}:0::5`),
  };
}

/** A random /24 in 100.64.0.0/10 and a /28 inside it. */
function nestedIpv4Networks() {
  const [a, b, c] = uniqueIpv4().split('.');
  return {
    outer: `${a}.${b}.${c}.0/24`,
    inner: `${a}.${b}.${c}.16/28`,
    inInner: `${a}.${b}.${c}.20`,
    inOuterOnly: `${a}.${b}.${c}.200`,
  };
}

function newNetwork(cidr: string, overrides: Partial<Network> = {}): Network {
  created.networks.add(cidr);
  return { cidr, datacenter: 'us-west-2', environment: 'test', zone: 'us-west-2b', description: null, ...overrides };
}

const encoded = (cidr: string) => encodeURIComponent(cidr);

/** The metadata version: an opaque token that every write replaces (compared for equality, never order). */
async function version(): Promise<string | null> {
  return redis.get(cacheKeys.version);
}

/** True when the version is a token other than `before`. */
async function versionMoved(before: string | null): Promise<boolean> {
  const now = await version();
  return now !== null && now !== before;
}

async function existing(keys: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const key of keys) if ((await redis.exists(key)) === 1) found.push(key);
  return found;
}


describe('hosts', () => {
  it('creates a host from the README curl body with 201 and returns it as stored', async () => {
    // Prepare: the fixture's body, with a key of this test's own
    const fixture = JSON.parse(restEvent('apigw-rest-post-host').body ?? '{}') as Host;
    const host = newHost({ ...fixture, hostname: `new-server-${randomUUID()}`, ipAddress: uniqueIpv4() });
    const { tags: _none, ...curlBody } = host;

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: curlBody });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(bodyOf(response)).toEqual({
      ...curlBody,
      tags: {},
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(response.headers?.location).toBe(`${HOSTS}/${host.hostname}`);
  });

  it('round-trips create, read, replace and delete', async () => {
    // Prepare
    const host = newHost();
    const moved = { ...host, ipAddress: uniqueIpv4(), environment: 'staging', tags: { rack: 'r12' } };

    // Act
    const createdResponse = await call({ method: 'POST', path: HOSTS, body: host });
    const readResponse = await call({ method: 'GET', path: `${HOSTS}/${host.hostname}` });
    const replaced = await call({ method: 'PUT', path: `${HOSTS}/${host.hostname}`, body: moved });
    const reread = await call({ method: 'GET', path: `${HOSTS}/${host.hostname}` });
    const deleted = await call({ method: 'DELETE', path: `${HOSTS}/${host.hostname}` });
    const gone = await call({ method: 'GET', path: `${HOSTS}/${host.hostname}` });

    // Assess
    expect(createdResponse.statusCode).toBe(201);
    expect(bodyOf(readResponse)).toEqual(bodyOf(createdResponse));
    expect(replaced.statusCode).toBe(200);
    expect(bodyOf(reread)).toMatchObject(moved);
    expect(bodyOf(reread).createdAt).toBe(bodyOf(createdResponse).createdAt);
    expect(Date.parse(String(bodyOf(reread).updatedAt))).toBeGreaterThanOrEqual(Date.parse(String(bodyOf(createdResponse).updatedAt)));
    expect(deleted.statusCode).toBe(204);
    expect(gone.statusCode).toBe(404);
  });

  it('answers 409 naming hostname for a duplicate hostname', async () => {
    // Prepare
    const host = newHost();
    await call({ method: 'POST', path: HOSTS, body: host });

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: { ...host, ipAddress: uniqueIpv4() } });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toBe(`hostname: a host named "${host.hostname}" already exists`);
  });

  it('answers 409 naming ipAddress for an address another host has, on create and on replace', async () => {
    // Prepare
    const first = newHost();
    const second = newHost();
    await call({ method: 'POST', path: HOSTS, body: first });
    await call({ method: 'POST', path: HOSTS, body: second });

    // Act
    const creating = await call({ method: 'POST', path: HOSTS, body: newHost({ ipAddress: first.ipAddress }) });
    const moving = await call({ method: 'PUT', path: `${HOSTS}/${second.hostname}`, body: { ...second, ipAddress: first.ipAddress } });

    // Assess
    expect(creating.statusCode).toBe(409);
    expect(messageOf(creating)).toBe(`ipAddress: ${first.ipAddress} is already registered to another host`);
    expect(moving.statusCode).toBe(409);
    expect(messageOf(moving)).toBe(`ipAddress: ${first.ipAddress} is already registered to another host`);
  });

  it('finds a host with ?ip=, however its IPv6 address is spelled', async () => {
    // Prepare
    const host = newHost({ ipAddress: uniqueIpv6() });
    await call({ method: 'POST', path: HOSTS, body: host });
    const expanded = host.ipAddress.toUpperCase().replace('::', ':0:');

    // Act
    const response = await call({ method: 'GET', path: HOSTS, query: { ip: expanded } });

    // Assess
    expect(bodyOf(response)).toEqual({ items: [expect.objectContaining({ hostname: host.hostname, ipAddress: host.ipAddress })], nextCursor: null });
  });

  it('answers ?ip= for an address no host has with no items', async () => {
    // Act
    const response = await call({ method: 'GET', path: HOSTS, query: { ip: uniqueIpv6() } });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({ items: [], nextCursor: null });
  });

  it('pages by hostname: limit items per page, each next cursor continuing after the last one', async () => {
    // Prepare: five hosts under one random prefix, and a cursor placed just before them
    const prefix = `page-${randomUUID()}`;
    for (let i = 1; i <= 5; i += 1) await call({ method: 'POST', path: HOSTS, body: newHost({ hostname: `${prefix}-${i}` }) });
    const names = (response: APIGatewayProxyResult) =>
      (bodyOf(response).items as { hostname: string }[]).map((item) => item.hostname);

    // Act
    const first = await call({ method: 'GET', path: HOSTS, query: { limit: '2', cursor: encodeCursor(prefix) } });
    const second = await call({ method: 'GET', path: HOSTS, query: { limit: '2', cursor: String(bodyOf(first).nextCursor) } });
    const third = await call({ method: 'GET', path: HOSTS, query: { limit: '2', cursor: String(bodyOf(second).nextCursor) } });

    // Assess
    expect(names(first)).toEqual([`${prefix}-1`, `${prefix}-2`]);
    expect(names(second)).toEqual([`${prefix}-3`, `${prefix}-4`]);
    expect(names(third)[0]).toBe(`${prefix}-5`);
  });

  it('lists every page until nextCursor is null, each host once, in ascending order', async () => {
    // Prepare
    const mine = [newHost(), newHost(), newHost()];
    for (const host of mine) await call({ method: 'POST', path: HOSTS, body: host });
    const seen: string[] = [];
    let cursor: string | null = null;

    // Act
    do {
      const response = await call({ method: 'GET', path: HOSTS, query: { limit: '500', ...(cursor === null ? {} : { cursor }) } });
      const page = bodyOf(response) as { items: { hostname: string }[]; nextCursor: string | null };
      seen.push(...page.items.map((item) => item.hostname));
      cursor = page.nextCursor;
    } while (cursor !== null);

    // Assess
    for (const host of mine) expect(seen.filter((name) => name === host.hostname)).toHaveLength(1);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('services', () => {
  it('round-trips create, read, replace, list and delete', async () => {
    // Prepare
    const service = newService();

    // Act
    const createdResponse = await call({ method: 'POST', path: SERVICES, body: service });
    const replaced = await call({ method: 'PUT', path: `${SERVICES}/${service.name}`, body: { ...service, version: '1.1.0' } });
    const read = await call({ method: 'GET', path: `${SERVICES}/${service.name}` });
    const listed = await call({ method: 'GET', path: SERVICES, query: { limit: '1', cursor: encodeCursor(service.name.slice(0, -1)) } });
    const deleted = await call({ method: 'DELETE', path: `${SERVICES}/${service.name}` });
    const gone = await call({ method: 'GET', path: `${SERVICES}/${service.name}` });

    // Assess
    expect(createdResponse.statusCode).toBe(201);
    expect(replaced.statusCode).toBe(200);
    expect(bodyOf(read)).toMatchObject({ ...service, version: '1.1.0' });
    expect(bodyOf(listed).items).toEqual([expect.objectContaining({ name: service.name })]);
    expect(deleted.statusCode).toBe(204);
    expect(gone.statusCode).toBe(404);
  });

  it('answers 409 naming name for a duplicate service', async () => {
    // Prepare
    const service = newService();
    await call({ method: 'POST', path: SERVICES, body: service });

    // Act
    const response = await call({ method: 'POST', path: SERVICES, body: service });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toBe(`name: a service named "${service.name}" already exists`);
  });
});

describe('networks', () => {
  it('round-trips create, read, replace and delete with the CIDR URL-encoded in the path', async () => {
    // Prepare
    const { outer } = nestedIpv4Networks();
    const network = newNetwork(outer, { description: 'first' });

    // Act
    const createdResponse = await call({ method: 'POST', path: NETWORKS, body: network });
    const read = await call({ method: 'GET', path: `${NETWORKS}/${encoded(outer)}` });
    const replaced = await call({ method: 'PUT', path: `${NETWORKS}/${encoded(outer)}`, body: { ...network, zone: 'us-west-2c', description: null } });
    const deleted = await call({ method: 'DELETE', path: `${NETWORKS}/${encoded(outer)}` });
    const gone = await call({ method: 'GET', path: `${NETWORKS}/${encoded(outer)}` });

    // Assess
    expect(createdResponse.statusCode).toBe(201);
    expect(createdResponse.headers?.location).toBe(`${NETWORKS}/${encoded(outer)}`);
    expect(bodyOf(read)).toMatchObject(network);
    expect(bodyOf(replaced)).toMatchObject({ cidr: outer, zone: 'us-west-2c', description: null });
    expect(deleted.statusCode).toBe(204);
    expect(gone.statusCode).toBe(404);
  });

  it.each([
    ['IPv4', nestedIpv4Networks],
    ['IPv6', nestedIpv6Networks],
  ])('answers ?ip= with the most specific %s network containing it', async (_family, nested) => {
    // Prepare
    const { outer, inner, inInner, inOuterOnly } = nested();
    await call({ method: 'POST', path: NETWORKS, body: newNetwork(outer, { zone: 'outer' }) });
    await call({ method: 'POST', path: NETWORKS, body: newNetwork(inner, { zone: 'inner' }) });

    // Act
    const innerAnswer = await call({ method: 'GET', path: NETWORKS, query: { ip: inInner } });
    const outerAnswer = await call({ method: 'GET', path: NETWORKS, query: { ip: inOuterOnly } });

    // Assess
    expect(bodyOf(innerAnswer)).toEqual({ items: [expect.objectContaining({ cidr: inner, zone: 'inner' })], nextCursor: null });
    expect(bodyOf(outerAnswer)).toEqual({ items: [expect.objectContaining({ cidr: outer, zone: 'outer' })], nextCursor: null });
  });

  it('answers 409 naming cidr for a duplicate network', async () => {
    // Prepare
    const network = newNetwork(nestedIpv6Networks().outer);
    await call({ method: 'POST', path: NETWORKS, body: network });

    // Act
    const response = await call({ method: 'POST', path: NETWORKS, body: network });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(messageOf(response)).toBe(`cidr: network ${network.cidr} already exists`);
  });

  it('answers 422 "host bits set" for 10.20.1.0/16', async () => {
    // Act
    const response = await call({
      method: 'POST',
      path: NETWORKS,
      body: { cidr: '10.20.1.0/16', datacenter: 'us-west-2', environment: 'test', zone: 'us-west-2b' },
    });

    // Assess
    expect(response.statusCode).toBe(422);
    expect(problemsOf(response)).toEqual(['cidr: has host bits set: the address of a /16 network is 10.20.0.0/16']);
  });
});

describe('client mistakes', () => {
  it.each<[string, ApiRequest, number, string]>([
    ['invalid JSON', { method: 'POST', path: HOSTS, body: '{"hostname":' }, 400, 'body: is not valid JSON'],
    ['an empty body', { method: 'PUT', path: `${SERVICES}/x`, body: '' }, 400, 'body: is empty'],
    ['a wrong content type', { method: 'POST', path: NETWORKS, body: '{}', headers: { 'Content-Type': 'text/csv' } }, 415, 'content-type must be application/json, got text/csv'],
    ['a body over 64 KiB', { method: 'POST', path: HOSTS, body: { pad: 'x'.repeat(70_000) } }, 413, 'the limit is 65536 bytes'],
    ['a bad hostname', { method: 'POST', path: HOSTS, body: { hostname: 'a_b', ipAddress: '10.0.0.1', datacenter: 'x', environment: 'x', costCenter: 'x' } }, 422, 'hostname: must be an RFC 1123 hostname'],
    ['a bad ipAddress', { method: 'POST', path: HOSTS, body: { hostname: 'a-b', ipAddress: '10.0.0.300', datacenter: 'x', environment: 'x', costCenter: 'x' } }, 422, 'ipAddress: must be an IPv4 or IPv6 address'],
    ['a missing field', { method: 'POST', path: SERVICES, body: { name: 'svc', team: 't', owner: 'o', tier: 't', version: '1' } }, 422, 'costCenter: is required'],
    ['too many tags', { method: 'POST', path: SERVICES, body: { name: 'svc', team: 't', owner: 'o', tier: 't', version: '1', costCenter: 'c', tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`t${i}`, 'v'])) } }, 422, 'tags: must have at most 50 entries'],
    ['a limit over 500', { method: 'GET', path: SERVICES, query: { limit: '501' } }, 422, 'limit: must be an integer from 1 to 500'],
    ['a bad ?ip=', { method: 'GET', path: NETWORKS, query: { ip: 'localhost' } }, 422, 'ip: must be an IPv4 or IPv6 address'],
    ['an unknown host', { method: 'GET', path: `${HOSTS}/no-such-host-${randomUUID()}` }, 404, 'no host with hostname'],
    ['an unknown service', { method: 'DELETE', path: `${SERVICES}/no-such-service-${randomUUID()}` }, 404, 'no service with name'],
    ['an unknown network', { method: 'PUT', path: `${NETWORKS}/${encoded(nestedIpv6Networks().inner)}`, body: { datacenter: 'd', environment: 'e', zone: 'z' } }, 404, 'no network with cidr'],
    ['an unknown route', { method: 'GET', path: '/api/metadata/datacenters' }, 404, 'no route for GET /api/metadata/datacenters'],
    ['a wrong method', { method: 'PATCH', path: `${HOSTS}/web-1` }, 405, 'PATCH is not allowed on /api/metadata/hosts/web-1'],
  ])('answers %s with its status and a message saying what is wrong', async (_case, request, status, text) => {
    // Act
    const response = await call(request);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(messageOf(response)).toContain(text);
  });
});

describe('API keys', () => {
  it('refuses writes without an admin key (401 missing, 403 wrong) and lets reads through with a read key', async () => {
    // Prepare: an instance configured as the local runtime is with ADMIN_API_KEYS and API_KEYS set
    const pool = createPool(readConfig(postgresEnv), 'metadata-test');
    const { handler: guarded } = createMetadataApi({
      catalog: new MetadataCatalog(new PgMetadataRepository(pool), new NoCache(), observers),
      apiKeys: { ADMIN_API_KEYS: ['admin-key'], API_KEYS: ['read-key'] },
    });
    const send = (request: ApiRequest) => guarded(apiEvent(request), lambdaContext('metadata'));
    const host = newHost();

    try {
      // Act
      const missing = await send({ method: 'POST', path: HOSTS, body: host, headers: { 'x-api-key': undefined } });
      const wrong = await send({ method: 'POST', path: HOSTS, body: host, headers: { 'x-api-key': 'read-key' } });
      const admitted = await send({ method: 'POST', path: HOSTS, body: host, headers: { 'x-api-key': 'admin-key' } });
      const read = await send({ method: 'GET', path: `${HOSTS}/${host.hostname}`, headers: { 'x-api-key': 'read-key' } });

      // Assess
      expect([missing.statusCode, wrong.statusCode, admitted.statusCode, read.statusCode]).toEqual([401, 403, 201, 200]);
      expect(messageOf(missing)).toBe('missing x-api-key header');
      expect(messageOf(wrong)).toBe('x-api-key is not valid for this API');
    } finally {
      await pool.end();
    }
  });
});

describe('cache invalidation', () => {
  it('removes the old and new host entries when a host moves, and bumps the version', async () => {
    // Prepare
    const host = newHost();
    await call({ method: 'POST', path: HOSTS, body: host });
    const newIp = uniqueIpv4();
    const keys = [cacheKeys.hostByIp(host.ipAddress), cacheKeys.hostByIp(newIp), cacheKeys.hostByName(host.hostname)];
    for (const key of keys) await redis.set(key, 'stale', 'EX', 60);
    const before = await version();

    // Act
    const response = await call({ method: 'PUT', path: `${HOSTS}/${host.hostname}`, body: { ...host, ipAddress: newIp } });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(await existing(keys)).toEqual([]);
    expect(await versionMoved(before)).toBe(true);
  });

  it('removes a created host negative-cached under its address', async () => {
    // Prepare
    const host = newHost();
    await redis.set(cacheKeys.hostByIp(host.ipAddress), 'none', 'EX', 60);

    // Act
    await call({ method: 'POST', path: HOSTS, body: host });

    // Assess
    expect(await existing([cacheKeys.hostByIp(host.ipAddress)])).toEqual([]);
  });

  it('removes a deleted host entries and bumps the version', async () => {
    // Prepare
    const host = newHost();
    await call({ method: 'POST', path: HOSTS, body: host });
    const keys = [cacheKeys.hostByIp(host.ipAddress), cacheKeys.hostByName(host.hostname)];
    for (const key of keys) await redis.set(key, 'stale', 'EX', 60);
    const before = await version();

    // Act
    await call({ method: 'DELETE', path: `${HOSTS}/${host.hostname}` });

    // Assess
    expect(await existing(keys)).toEqual([]);
    expect(await versionMoved(before)).toBe(true);
  });

  it('removes the service entry on replace and bumps the version', async () => {
    // Prepare
    const service = newService();
    await call({ method: 'POST', path: SERVICES, body: service });
    await redis.set(cacheKeys.service(service.name), 'stale', 'EX', 60);
    const before = await version();

    // Act
    await call({ method: 'PUT', path: `${SERVICES}/${service.name}`, body: { ...service, tier: 'tier-2' } });

    // Assess
    expect(await existing([cacheKeys.service(service.name)])).toEqual([]);
    expect(await versionMoved(before)).toBe(true);
  });

  it('sweeps the network-for-IP entries on a network write and bumps the version', async () => {
    // Prepare
    const { outer, inInner } = nestedIpv6Networks();
    const keys = [cacheKeys.networkForIp(inInner), cacheKeys.networkForIp(uniqueIpv4())];
    for (const key of keys) await redis.set(key, 'stale', 'EX', 60);
    const before = await version();

    // Act
    const response = await call({ method: 'POST', path: NETWORKS, body: newNetwork(outer) });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(await existing(keys)).toEqual([]);
    expect(await versionMoved(before)).toBe(true);
  });

  it('leaves the cache alone when the write is refused', async () => {
    // Prepare
    const host = newHost();
    await call({ method: 'POST', path: HOSTS, body: host });
    await redis.set(cacheKeys.hostByName(host.hostname), 'kept', 'EX', 60);

    // Act
    const response = await call({ method: 'POST', path: HOSTS, body: host });

    // Assess
    expect(response.statusCode).toBe(409);
    expect(await redis.get(cacheKeys.hostByName(host.hostname))).toBe('kept');
  });
});

describe('when a dependency is down', () => {
  it('still stores the write when Redis is unreachable, and logs an error naming the keys', async () => {
    // Prepare: a second API instance whose Redis is a port where nothing listens
    const pool = createPool(readConfig(postgresEnv), 'metadata-test');
    const deadRedis = createRedis(readConfig(redisEnv, { REDIS_URL: `redis://127.0.0.1:${await closedPort()}/15` }), 'dead');
    deadRedis.on('error', () => undefined);
    const invalidator: MetadataCacheInvalidator = new RedisCacheInvalidator(deadRedis);
    const { handler: cacheDownHandler } = createMetadataApi({
      catalog: new MetadataCatalog(new PgMetadataRepository(pool), invalidator, observers),
      apiKeys: {},
    });
    const logError = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
    const host = newHost();

    try {
      // Act
      const response = await cacheDownHandler(apiEvent({ method: 'POST', path: HOSTS, body: host }), lambdaContext('metadata'));

      // Assess
      expect(response.statusCode).toBe(201);
      expect((await call({ method: 'GET', path: `${HOSTS}/${host.hostname}` })).statusCode).toBe(200);
      expect(logError).toHaveBeenCalledWith(
        expect.stringContaining('metadata cache invalidation failed'),
        expect.objectContaining({ keys: [cacheKeys.hostByIp(host.ipAddress), cacheKeys.hostByName(host.hostname)] }),
      );
    } finally {
      deadRedis.disconnect();
      await pool.end();
      // ioredis's disconnect() after a failed connect arms a 2 s timer to destroy a socket that is already
      // closed (AbstractConnector.disconnect); waiting it out keeps Jest from reporting an open handle.
      await new Promise((resolve) => setTimeout(resolve, 2100));
    }
  });

  it('answers 503 with retry-after when PostgreSQL is unreachable', async () => {
    // Prepare
    const pool = createPool(
      readConfig(postgresEnv, { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/none`, DATABASE_TIMEOUT_MS: '500' }),
      'metadata-test',
    );
    const { handler: databaseDownHandler } = createMetadataApi({
      catalog: new MetadataCatalog(new PgMetadataRepository(pool), new NoCache(), observers),
      apiKeys: {},
    });
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);

    try {
      // Act
      const response = await databaseDownHandler(apiEvent({ method: 'GET', path: `${HOSTS}/web-1` }), lambdaContext('metadata'));

      // Assess
      expect(response.statusCode).toBe(503);
      expect(response.headers?.['retry-after']).toBe('5');
    } finally {
      await pool.end();
    }
  });
});

/** For tests that never reach the cache. */
class NoCache implements MetadataCacheInvalidator {
  async invalidate(): Promise<void> {}
}
