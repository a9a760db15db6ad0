/**
 * Logs that did not come through our ingest: records produced onto a throwaway raw topic by kcat (a librdkafka
 * producer, as Fluent Bit, Vector or a Java app would write them: our shape without event_id/received_at, ECS
 * nested, ECS dotted, hostname only, with Kafka headers, and one that names no host at all), enriched by the
 * real enrich function behind the local runner, and read back from the real output topics. Also: an ECS log
 * and a hostname-only log POSTed to ingest go through the same contract.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { KCAT } from '../../../scripts/ensure-kcat.ts';
import { expectValidEnrichedLog } from '../../unit/enrich/schema.ts';
import {
  accountedFor,
  collectOutputs,
  deleteTopics,
  enrichTestEnv,
  ingest,
  kafka,
  MetadataSeed,
  type Outputs,
  type Topics,
  throwawayTopics,
  uniqueNetwork,
} from './support.ts';

/** Produces one message per value onto partition 0 with kcat; `headers` go on every message of the call. */
function kcatProduce(topic: string, values: readonly unknown[], headers: Record<string, string> = {}): void {
  kcatProduceLines(topic, values.map((value) => JSON.stringify(value)), headers);
}

/** Produces each line as one message, as written (for JSON that JSON.stringify cannot write: 5,000 levels deep). */
function kcatProduceLines(topic: string, lines: readonly string[], headers: Record<string, string> = {}): void {
  const brokers = (kafka().KAFKA_BROKERS ?? []).join(',');
  const args = ['-P', '-b', brokers, '-t', topic, '-p', '0', ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}=${value}`])];
  const result = spawnSync(KCAT, args, { input: `${lines.join('\n')}\n`, encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`kcat ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
}

const output = (outputs: Outputs, id: string) => outputs.complete.get(id) ?? outputs.partial.get(id);

describe('enrich: records another Kafka producer wrote', () => {
  const seed = new MetadataSeed();
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const known = { hostname: `web-${id}`, ipAddress: net.ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
  const byName = { hostname: `batch-${id}`, ipAddress: net.ip(20), datacenter: 'dc-west-2', environment: 'staging', costCenter: 'cc-300' };
  const service = { name: `orders-${id}`, team: 'orders', owner: 'bob@example.com', tier: 'tier-2', version: '3.1.0', costCenter: 'cc-200' };
  let topics: Topics;
  let runner: EnrichRunner;

  beforeAll(async () => {
    await seed.host(known);
    await seed.host(byName);
    await seed.service(service);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-b' });
    // One raw partition: kcat's records get offsets 0, 1, 2… in the order they are produced.
    topics = await throwawayTopics('foreign', 1);
    runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId: `enrich-test-${id}`, batchWindowMs: 100 });
  });

  afterAll(async () => {
    await runner?.stop();
    await deleteTopics(topics);
    await seed.cleanup();
  });

  it('enriches our shape, ECS nested and dotted, hostname-only and headered records, and dead-letters one with no host', async () => {
    // Prepare
    const ours = { level: 'error', message: `ours ${id}`, service: service.name, source_ip: known.ipAddress };
    const ecsNested = {
      '@timestamp': '2026-11-30T12:00:00.250+01:00',
      message: `ecs nested ${id}`,
      log: { level: 'warning', logger: 'checkout.http' },
      service: { name: service.name, environment: 'prod' },
      host: { name: known.hostname, ip: ['fe80::zz', known.ipAddress] },
      ecs: { version: '8.11.0' },
    };
    const ecsDotted = { '@timestamp': 1_764_504_000, message: `ecs dotted ${id}`, 'log.level': 'ERR', 'service.name': service.name, 'host.hostname': byName.hostname, 'trace.id': `trace-${id}` };
    const hostnameOnly = { level: 'notice', message: `hostname only ${id}`, service: service.name, hostname: byName.hostname, time: 1_764_504_000_123 };
    const noHost = { level: 'INFO', message: `no host ${id}`, service: service.name };
    const headered = { level: 6, message: `headers ${id}`, service: service.name, source_ip: known.ipAddress };
    const at = (offset: number) => derivedEventId({ topic: topics.raw, partition: 0, offset });
    const ids = { ours: at(0), ecsNested: at(1), ecsDotted: at(2), hostnameOnly: at(3), noHost: at(4), headered: at(5) };
    const enriched = [ids.ours, ids.ecsNested, ids.ecsDotted, ids.hostnameOnly, ids.headered];

    // Act
    kcatProduce(topics.raw, [ours, ecsNested, ecsDotted, hostnameOnly, noHost]);
    kcatProduce(topics.raw, [headered], { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'content-type': 'application/json' });
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, enriched).length === 0 && out.dlq.some((letter) => letter.event_id === ids.noHost));

    // Assess: the deterministic v5 ids, at the offsets kcat's records got
    expect(accountedFor(outputs, [...enriched, ids.noHost])).toEqual([]);
    for (const [eventId, offset] of [[ids.ours, 0], [ids.ecsNested, 1], [ids.ecsDotted, 2], [ids.hostnameOnly, 3], [ids.headered, 5]] as const) {
      expect(output(outputs, eventId)).toMatchObject({ event_id: eventId, source: { topic: topics.raw, partition: 0, offset } });
    }
    const hostById = { hostname: known.hostname, ip: known.ipAddress, datacenter: 'dc-east-1', environment: 'production', cost_center: 'cc-100', zone: 'zone-b' };
    const hostByName = { hostname: byName.hostname, ip: null, datacenter: 'dc-west-2', environment: 'staging', cost_center: 'cc-300', zone: null };
    const serviceBlock = { name: service.name, team: 'orders', owner: 'bob@example.com', tier: 'tier-2', version: '3.1.0', cost_center: 'cc-200' };

    const oursOut = output(outputs, ids.ours);
    expect(oursOut).toMatchObject({ level: 'ERROR', host: hostById, service: serviceBlock, enrichment: { status: 'complete', derived: ['event_id', 'received_at', 'timestamp'], dropped_attributes: [] } });
    // received_at is the Kafka record's timestamp (kcat's create time), and timestamp falls back to it.
    expect(Date.parse(String(oursOut?.received_at))).not.toBeNaN();
    expect(oursOut?.timestamp).toBe(oursOut?.received_at);

    expect(output(outputs, ids.ecsNested)).toMatchObject({
      level: 'WARN',
      source_ip: known.ipAddress,
      hostname: known.hostname,
      timestamp: '2026-11-30T11:00:00.250Z',
      attributes: { log: { logger: 'checkout.http' }, service: { environment: 'prod' }, ecs: { version: '8.11.0' } },
      host: hostById,
      enrichment: { status: 'complete', derived: ['event_id', 'received_at'] },
    });
    // Hostname only (ECS dotted and ours): looked up by hostname, no network lookup, host.ip null.
    expect(output(outputs, ids.ecsDotted)).toMatchObject({
      level: 'ERROR',
      trace_id: `trace-${id}`,
      timestamp: '2025-11-30T12:00:00.000Z',
      host: hostByName,
      enrichment: { status: 'complete', missing: { 'host.zone': 'not_found' }, derived: ['event_id', 'received_at'] },
    });
    expect(output(outputs, ids.hostnameOnly)).toMatchObject({ level: 'INFO', timestamp: '2025-11-30T12:00:00.123Z', host: hostByName, enrichment: { status: 'complete' } });
    expect('source_ip' in (output(outputs, ids.hostnameOnly) ?? {})).toBe(false);
    expect(output(outputs, ids.headered)).toMatchObject({ level: 'INFO', host: hostById, enrichment: { status: 'complete', derived: ['event_id', 'received_at', 'timestamp'] } });
    for (const eventId of enriched) expectValidEnrichedLog(output(outputs, eventId));

    const letter = outputs.dlq.find((candidate) => candidate.event_id === ids.noHost);
    expect(letter).toMatchObject({
      reason: 'invalid',
      problems: [{ field: 'source_ip', reason: expect.stringMatching(/source_ip.*hostname/) }],
      source: { topic: topics.raw, partition: 0, offset: 4 },
      original: { value: Buffer.from(JSON.stringify(noHost)).toString('base64') },
    });
  });

  it('dead-letters a hostname with NUL and a value nested 5,000 deep, and enriches their batch neighbour from PostgreSQL', async () => {
    // Prepare: a host only PostgreSQL knows, and two records that once failed the batch's hosts query (22021) or threw
    const fresh = { hostname: `edge-${id}`, ipAddress: net.ip(30), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
    await seed.host(fresh);
    const good = { level: 'INFO', message: `neighbour ${id}`, service: service.name, hostname: fresh.hostname };
    const nul = { level: 'INFO', message: `nul ${id}`, service: service.name, hostname: 'a\u0000b' };
    const deep = `${JSON.stringify({ level: 'INFO', message: `deep ${id}`, service: service.name, hostname: fresh.hostname }).slice(0, -1)},"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const letterOf = (outputs: Outputs, text: string) => outputs.dlq.find((letter) => (letter.original as { value?: string } | undefined)?.value === Buffer.from(text).toString('base64'));
    const neighbour = (outputs: Outputs) => [...outputs.complete.values(), ...outputs.partial.values()].find((value) => value.message === good.message);

    // Act: one kcat call, so that the three share a batch
    kcatProduceLines(topics.raw, [JSON.stringify(good), JSON.stringify(nul), deep]);
    const outputs = await collectOutputs(topics, (out) => neighbour(out) !== undefined && letterOf(out, JSON.stringify(nul)) !== undefined && letterOf(out, deep) !== undefined);

    // Assess
    expect(letterOf(outputs, JSON.stringify(nul))).toMatchObject({ reason: 'invalid', problems: [{ field: 'hostname', reason: 'must not contain control characters (U+0000-U+001F, U+007F)' }] });
    expect(letterOf(outputs, deep)).toMatchObject({ reason: 'invalid', problems: [{ field: 'a', reason: 'is nested deeper than 32 levels' }] });
    expect(neighbour(outputs)).toMatchObject({ hostname: fresh.hostname, host: { hostname: fresh.hostname, datacenter: 'dc-east-1' }, enrichment: { status: 'complete' } });
  });

  it('accepts an ECS log and a hostname-only log POSTed to ingest, through the same contract', async () => {
    // Prepare
    const publisher = new KafkaPublisher(kafka(), 'enrich-test-foreign-ingest');
    const logs = [
      { '@timestamp': '2026-11-30T12:00:00Z', message: `posted ecs ${id}`, 'log.level': 'crit', service: { name: service.name }, host: { ip: known.ipAddress }, labels: { team: 'a' } },
      { level: 'debug', message: `posted by name ${id}`, service: service.name, host: byName.hostname },
    ];
    try {
      // Act
      const eventIds = await ingest(publisher, topics.raw, logs);
      const outputs = await collectOutputs(topics, (out) => accountedFor(out, eventIds).length === 0);
      // Assess: ingest set event_id, received_at and the missing timestamp, so enrich derived nothing
      expect(accountedFor(outputs, eventIds)).toEqual([]);
      const [ecs, named] = eventIds.map((eventId) => output(outputs, eventId));
      expect(ecs).toMatchObject({ level: 'FATAL', source_ip: known.ipAddress, attributes: { labels: { team: 'a' } }, host: { hostname: known.hostname }, enrichment: { derived: [] } });
      expect(named).toMatchObject({ level: 'DEBUG', hostname: byName.hostname, host: { hostname: byName.hostname, ip: null }, enrichment: { status: 'complete', derived: [] } });
      for (const value of [ecs, named]) expectValidEnrichedLog(value);
    } finally {
      await publisher.close();
    }
  });
});
