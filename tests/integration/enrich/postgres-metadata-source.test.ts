import { jest } from '@jest/globals';
/**
 * The PostgreSQL tier against the real database: every kind of a batch in ONE statement (one round trip, one
 * socket write), answers mapped back onto the keys exactly as asked, the most specific network winning.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresMetadataSource } from '../../../functions/enrich/src/adapters/postgres-metadata-source.ts';
import { MetadataSeed, uniqueNetwork, unroutedIp } from './support.ts';

describe('PostgresMetadataSource', () => {
  const seed = new MetadataSeed();
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  const source = new PostgresMetadataSource(pool, { queryTimeoutMs: 2_000 });
  const run = randomUUID().slice(0, 8);
  const outer = uniqueNetwork();
  // A /25 inside the /24: the more specific network must win for addresses in it.
  const inner = { cidr: outer.cidr.replace('.0/24', '.0/25') };
  const names = { host: `pgsrc-${run}-host`, other: `pgsrc-${run}-other`, service: `pgsrc-${run}-svc` };

  beforeAll(async () => {
    await seed.network({ cidr: outer.cidr, datacenter: 'dc-outer', environment: 'production', zone: 'zone-outer' });
    await seed.network({ cidr: inner.cidr, datacenter: 'dc-inner', environment: 'production', zone: 'zone-inner' });
    await seed.host({ hostname: names.host, ipAddress: outer.ip(10), datacenter: 'dc-1', environment: 'production', costCenter: 'cc-1' });
    await seed.host({ hostname: names.other, ipAddress: outer.ip(200), datacenter: 'dc-2', environment: 'staging', costCenter: 'cc-2' });
    await seed.service({ name: names.service, team: 'team-a', owner: 'a@example.com', tier: 'tier-1', version: '1.0.0', costCenter: 'cc-s' });
  });

  afterAll(async () => {
    await seed.cleanup();
    await pool.end();
  });

  it('answers every kind of a batch with one statement, keyed as asked', async () => {
    // Prepare
    const query = jest.spyOn(pool, 'query');
    const nowhere = unroutedIp();
    // Act
    const result = await source.fetch({
      hostIps: [outer.ip(10), nowhere],
      hostnames: [names.other, `pgsrc-${run}-ghost`],
      networkIps: [outer.ip(10), outer.ip(200), nowhere],
      services: [names.service, `pgsrc-${run}-ghost`],
    });
    // Assess: one query for all four kinds
    expect(query).toHaveBeenCalledTimes(1);
    query.mockRestore();
    expect([...result.hostsByIp.keys()]).toEqual([outer.ip(10)]);
    expect(result.hostsByIp.get(outer.ip(10))).toEqual({
      hostname: names.host,
      ipAddress: outer.ip(10),
      datacenter: 'dc-1',
      environment: 'production',
      costCenter: 'cc-1',
      tags: {},
    });
    expect([...result.hostsByName.keys()]).toEqual([names.other]);
    expect(result.hostsByName.get(names.other)).toMatchObject({ hostname: names.other, ipAddress: outer.ip(200), environment: 'staging', costCenter: 'cc-2' });
    // The /25 holds .10, only the /24 holds .200; the unrouted address has none.
    expect(result.networks.get(outer.ip(10))).toEqual({ cidr: inner.cidr, datacenter: 'dc-inner', environment: 'production', zone: 'zone-inner', description: null });
    expect(result.networks.get(outer.ip(200))).toMatchObject({ cidr: outer.cidr, zone: 'zone-outer' });
    expect(result.networks.has(nowhere)).toBe(false);
    expect([...result.services.keys()]).toEqual([names.service]);
    expect(result.services.get(names.service)).toEqual({
      name: names.service,
      team: 'team-a',
      owner: 'a@example.com',
      tier: 'tier-1',
      version: '1.0.0',
      costCenter: 'cc-s',
      tags: {},
    });
  });

  it('answers a batch of one kind with the others empty, and sends nothing for an empty batch', async () => {
    // Prepare
    const query = jest.spyOn(pool, 'query');
    // Act
    const onlyServices = await source.fetch({ hostIps: [], hostnames: [], networkIps: [], services: [names.service] });
    const empty = await source.fetch({ hostIps: [], hostnames: [], networkIps: [], services: [] });
    // Assess
    expect(query).toHaveBeenCalledTimes(1);
    query.mockRestore();
    expect([...onlyServices.services.keys()]).toEqual([names.service]);
    expect(onlyServices.hostsByIp.size + onlyServices.hostsByName.size + onlyServices.networks.size).toBe(0);
    expect(empty.hostsByIp.size + empty.hostsByName.size + empty.networks.size + empty.services.size).toBe(0);
  });
});
