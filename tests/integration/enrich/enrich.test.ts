/**
 * The enrich function end to end on real services: logs go in through the ingest use case to a throwaway raw
 * topic, the local runner (consumer group → enrich function) enriches them with metadata seeded in
 * PostgreSQL, and the outputs are read back from the throwaway complete / partial / dead-letter topics.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { cacheKeys, newVersionToken } from '#shared/metadata/cache-keys.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { expectValidEnrichedLog } from '../../unit/enrich/schema.ts';
import {
  accountedFor,
  collectOutputs,
  deleteTopics,
  enrichTestEnv,
  ingest,
  kafka,
  logFor,
  MetadataSeed,
  produceRaw,
  type Topics,
  throwawayTopics,
  uniqueNetwork,
} from './support.ts';

describe('enrich (runner → handler → topics)', () => {
  const seed = new MetadataSeed();
  const ingestPublisher = new KafkaPublisher(kafka(), 'enrich-test-ingest');
  const redis = new Redis(process.env.REDIS_URL ?? '');
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const known = { hostname: `web-${id}`, ipAddress: net.ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
  const service = { name: `payments-${id}`, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', costCenter: 'cc-200' };
  let topics: Topics;
  let runner: EnrichRunner;

  beforeAll(async () => {
    await seed.host(known);
    await seed.service(service);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-b' });
    topics = await throwawayTopics('e2e');
    runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId: `enrich-test-${id}`, batchWindowMs: 100 });
  });

  afterAll(async () => {
    await runner?.stop();
    await deleteTopics(topics);
    await ingestPublisher.close();
    await seed.cleanup();
    redis.disconnect();
  });

  it('publishes known hosts and services as complete, the rest as partial with reasons, all valid against the schema', async () => {
    // Prepare
    const logs = [
      logFor({ service: service.name, source_ip: known.ipAddress, level: 'ERROR', trace_id: 'trace-1', attributes: { order: 42 } }),
      logFor({ service: service.name, source_ip: '203.0.113.9', hostname: known.hostname }), // host found by hostname
      logFor({ service: service.name, source_ip: net.ip(77) }), // unknown host inside a known network
      logFor({ service: `nobody-${id}`, source_ip: known.ipAddress }), // unknown service
    ];
    // Act
    const ids = await ingest(ingestPublisher, topics.raw, logs);
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
    // Assess
    expect(accountedFor(outputs, ids)).toEqual([]);
    const [byIp, byName, inNetwork, unknownService] = ids.map((eventId) => outputs.complete.get(eventId) ?? outputs.partial.get(eventId));
    expect(byIp).toMatchObject({
      // v2: provenance is on by default (ENRICH_PROVENANCE)
      schema_version: 2,
      level: 'ERROR',
      trace_id: 'trace-1',
      attributes: { order: 42 },
      source_ip: known.ipAddress,
      host: { hostname: known.hostname, ip: known.ipAddress, datacenter: 'dc-east-1', environment: 'production', cost_center: 'cc-100', zone: 'zone-b' },
      service: { name: service.name, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', cost_center: 'cc-200' },
      enrichment: {
        status: 'complete',
        missing: {},
        provenance: { host: { tier: 'postgres', stale: false }, network: { tier: 'postgres', stale: false }, service: { tier: 'postgres', stale: false } },
      },
      source: { topic: topics.raw },
    });
    expect(outputs.complete.has(ids[0] as string)).toBe(true);
    expect(byName).toMatchObject({ host: { hostname: known.hostname, zone: null }, enrichment: { status: 'complete', missing: { 'host.zone': 'not_found' } } });
    expect(inNetwork).toMatchObject({
      host: { hostname: null, datacenter: 'dc-net', environment: 'staging', cost_center: null, zone: 'zone-b' },
      enrichment: { status: 'partial', missing: { 'host.hostname': 'not_found', 'host.cost_center': 'not_found' } },
    });
    expect(outputs.partial.has(ids[2] as string)).toBe(true);
    expect(unknownService).toMatchObject({ service: { name: `nobody-${id}`, team: null }, enrichment: { status: 'partial', missing: { 'service.team': 'not_found' } } });
    for (const value of [byIp, byName, inNetwork, unknownService]) expectValidEnrichedLog(value);
  });

  it('sends a record that cannot be decoded to the dead-letter topic with its reason and original bytes', async () => {
    // Prepare
    const eventId = randomUUID();
    const invalid = Buffer.from(JSON.stringify({ ...logFor({}), event_id: eventId, level: 'LOUD', timestamp: 'x', received_at: 'y' }));
    const garbage = Buffer.from(`not json ${eventId}`);
    const good = await ingest(ingestPublisher, topics.raw, [logFor({ service: service.name, source_ip: known.ipAddress })]);
    // Act
    await produceRaw([
      { topic: topics.raw, key: 'k', value: invalid },
      { topic: topics.raw, key: 'k', value: garbage },
    ]);
    const outputs = await collectOutputs(
      topics,
      (out) => accountedFor(out, good).length === 0 && out.dlq.filter((letter) => JSON.stringify(letter).includes(garbage.toString('base64'))).length > 0 && out.dlq.some((letter) => letter.event_id === eventId),
    );
    // Assess
    expect(accountedFor(outputs, [...good, eventId])).toEqual([]);
    const invalidLetter = outputs.dlq.find((letter) => letter.event_id === eventId);
    expect(invalidLetter).toMatchObject({
      reason: 'invalid',
      source: { topic: topics.raw },
      original: { key: Buffer.from('k').toString('base64'), value: invalid.toString('base64') },
    });
    expect(((invalidLetter?.problems ?? []) as { field: string }[]).map((problem) => problem.field).sort()).toEqual(['level', 'received_at', 'timestamp']);
    const garbageLetter = outputs.dlq.find((letter) => (letter.original as { value: string }).value === garbage.toString('base64'));
    expect(garbageLetter).toMatchObject({ reason: 'undecodable', event_id: null, problems: [{ field: '(value)' }] });
  });

  it('shows a metadata update in the next batch (the invalidation drops every cached copy)', async () => {
    // Prepare: a first batch caches the service in process and in Redis
    const [first] = await ingest(ingestPublisher, topics.raw, [logFor({ service: service.name, source_ip: known.ipAddress })]);
    const before = await collectOutputs(topics, (out) => out.complete.has(first as string));
    expect(before.complete.get(first as string)).toMatchObject({ service: { team: 'payments', version: '2.4.1' } });
    expect(await redis.exists(cacheKeys.service(service.name))).toBe(1);
    // Act: what the metadata writer does (update, delete the key, give the version a new token)
    await seed.pool.query("UPDATE services SET team = 'payments-platform', version = '2.5.0' WHERE name = $1", [service.name]);
    await redis.del(cacheKeys.service(service.name));
    await redis.set(cacheKeys.version, newVersionToken());
    const [second] = await ingest(ingestPublisher, topics.raw, [logFor({ service: service.name, source_ip: known.ipAddress })]);
    const after = await collectOutputs(topics, (out) => out.complete.has(second as string));
    // Assess
    expect(after.complete.get(second as string)).toMatchObject({ service: { team: 'payments-platform', version: '2.5.0' } });
  });

  it('reports its breakers, cache and lag', async () => {
    const health = runner.dependencies?.lookup.health();
    expect(health?.breakers.map((breaker) => [breaker.name, breaker.state])).toEqual([
      ['redis', 'closed'],
      ['postgres', 'closed'],
    ]);
    expect(health?.memory.entries).toBeGreaterThan(0);
    expect(runner.stats.batches).toBeGreaterThan(0);
  });
});
