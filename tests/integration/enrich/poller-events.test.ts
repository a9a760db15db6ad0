/**
 * The events the AWS poller sends, through the real enrich handler (createEnrichDependencies: real Redis,
 * PostgreSQL and Kafka; throwaway topics per test): AWS's documented sample events, an event whose headers
 * carry Java's signed bytes, and records that are not what the poller documents. Every record is handled on its
 * own: none of them may fail the invocation, each ends up enriched or dead-lettered with its reason.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ValidationError } from '#shared/errors.ts';
import { createEnrichDependencies, type EnrichDependencies } from '../../../functions/enrich/dependencies.ts';
import { DEAD_LETTER_LIMITS } from '../../../functions/enrich/src/dead-letter.ts';
import { decodeHeaders, type KafkaEventRecord, type KafkaHeaders } from '../../../functions/enrich/src/kafka-event.ts';
import { expectValidEnrichedLog } from '../../unit/enrich/schema.ts';
import { collectOutputs, deleteTopics, enrichTestEnv, MetadataSeed, type Outputs, produceRaw, type Topics, throwawayTopics, uniqueNetwork } from './support.ts';

/** A fixture's record: as the enrich function types it, with the value and headers every fixture has. */
type FixtureRecord = KafkaEventRecord & { value: string; headers: KafkaHeaders };
interface FixtureEvent {
  eventSource: string;
  records: Record<string, FixtureRecord[]>;
}

const FIXTURES = new URL('../../fixtures/', import.meta.url);
/** A fresh copy per call: tests change theirs. */
const fixture = (name: string): FixtureEvent => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as FixtureEvent;

interface DeadLetterValue {
  reason: string;
  event_id: string | null;
  problems: { field: string; reason: string }[];
  source: { topic: string | null; partition: number | null; offset: number | null; timestamp: number | null };
  original: { key: string | null; value: string | null; headers: KafkaHeaders | null; malformed?: Record<string, unknown> };
}
const letters = (outputs: Outputs) => outputs.dlq as unknown as DeadLetterValue[];

describe('enrich handler on the events the poller sends (real services)', () => {
  const seed = new MetadataSeed();
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const known = { hostname: `poller-${id}`, ipAddress: net.ip(20), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
  const service = { name: `poller-svc-${id}`, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', costCenter: 'cc-200' };
  let topics: Topics | undefined;
  let deps: EnrichDependencies | undefined;

  /** A real log (base64) that enriches complete: known host and service. */
  function logValue(overrides: Record<string, unknown> = {}): { eventId: string; value: string } {
    const eventId = randomUUID();
    const now = new Date().toISOString();
    const log = { level: 'INFO', message: `poller test ${eventId}`, service: service.name, source_ip: known.ipAddress, timestamp: now, received_at: now, event_id: eventId, ...overrides };
    return { eventId, value: Buffer.from(JSON.stringify(log)).toString('base64') };
  }

  async function handler(env: Record<string, string> = {}): Promise<{ enrich: EnrichDependencies['enrich']; topics: Topics }> {
    topics = await throwawayTopics(`poller-${randomUUID().slice(0, 4)}`);
    deps = createEnrichDependencies(enrichTestEnv(topics, env));
    return { enrich: deps.enrich, topics };
  }

  beforeAll(async () => {
    await seed.host(known);
    await seed.service(service);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-b' });
  });

  afterEach(async () => {
    await deps?.close();
    await deleteTopics(topics);
    deps = undefined;
    topics = undefined;
  });

  afterAll(async () => {
    await seed.cleanup();
  });

  it.each([
    ['MSK', 'aws-msk-event.json'],
    ['self-managed Kafka', 'aws-self-managed-kafka-event.json'],
  ])("handles AWS's %s sample record by record: its own value is dead-lettered, logs put in its place are enriched", async (_label, name) => {
    // Prepare: the sample verbatim, plus copies of its record carrying real logs on two more partitions, one without a key
    const { enrich, topics } = await handler();
    const event = fixture(name);
    const sample = event.records['mytopic-0']?.[0] as FixtureRecord;
    const logs = [logValue(), logValue(), logValue({ source_ip: net.ip(99) })];
    event.records['mytopic-0']?.push({ ...sample, offset: 16, value: (logs[0] as { value: string }).value });
    event.records['mytopic-1'] = [{ ...sample, partition: 1, offset: 3, value: (logs[1] as { value: string }).value }];
    const { key: _dropped, ...withoutKey } = sample;
    event.records['mytopic-2'] = [{ ...withoutKey, partition: 2, offset: 0, value: (logs[2] as { value: string }).value }];
    const ids = logs.map((log) => log.eventId);
    // Act
    await enrich(event);
    const outputs = await collectOutputs(topics, (out) => out.dlq.length >= 1 && ids.every((eventId) => out.complete.has(eventId) || out.partial.has(eventId)));
    // Assess
    expect(letters(outputs)).toEqual([
      expect.objectContaining({
        reason: 'undecodable',
        event_id: null,
        problems: [expect.objectContaining({ field: '(value)' })],
        source: { topic: 'mytopic', partition: 0, offset: 15, timestamp: 1545084650987 },
        original: { key: sample.key, value: sample.value, headers: sample.headers },
      }),
    ]);
    const [first, second, third] = ids.map((eventId) => outputs.complete.get(eventId) ?? outputs.partial.get(eventId));
    expect(first).toMatchObject({ host: { hostname: known.hostname }, enrichment: { status: 'complete' }, source: { topic: 'mytopic', partition: 0, offset: 16 } });
    expect(second).toMatchObject({ enrichment: { status: 'complete' }, source: { topic: 'mytopic', partition: 1, offset: 3 } });
    expect(third).toMatchObject({ host: { hostname: null, datacenter: 'dc-net' }, enrichment: { status: 'partial' }, source: { topic: 'mytopic', partition: 2, offset: 0 } });
    for (const value of [first, second, third]) expectValidEnrichedLog(value);
  });

  it('enriches records whose headers carry signed (Java) bytes, and keeps those bytes exactly in a dead letter', async () => {
    // Prepare: the poller fixture with its values replaced by real logs, plus a malformed copy of the signed-header record
    const { enrich, topics } = await handler();
    const event = fixture('poller-msk-event.json');
    const all = Object.values(event.records).flat();
    const logs = all.map(() => logValue());
    all.forEach((record, i) => {
      record.value = (logs[i] as { value: string }).value;
    });
    const signed = event.records['raw-logs-0']?.[0] as FixtureRecord;
    expect(signed.headers).toContainEqual({ tenant: [122, -61, -87] });
    const orphan = logValue();
    const { offset: _lost, ...withoutOffset } = { ...signed, value: orphan.value };
    event.records['raw-logs-0']?.push(withoutOffset as FixtureRecord);
    const ids = logs.map((log) => log.eventId);
    // Act
    await enrich(event);
    const outputs = await collectOutputs(topics, (out) => out.dlq.length >= 1 && ids.every((eventId) => out.complete.has(eventId) || out.partial.has(eventId)));
    // Assess: every well-formed record enriched, the signed-header one included
    for (const eventId of ids) expectValidEnrichedLog(outputs.complete.get(eventId));
    expect(outputs.complete.get(ids[0] as string)).toMatchObject({ source: { topic: 'raw-logs', partition: 0, offset: 100 } });
    // …and the malformed copy dead-lettered on its own, its headers as received, decoding to the text that was sent
    const [letter] = letters(outputs);
    expect(letter).toMatchObject({
      reason: 'malformed',
      event_id: orphan.eventId,
      problems: [{ field: 'record.offset', reason: 'is required' }],
      source: { topic: 'raw-logs', partition: 0, offset: null, timestamp: signed.timestamp },
      original: { key: signed.key, value: orphan.value, headers: signed.headers },
    });
    expect(decodeHeaders(letter?.original.headers ?? undefined)).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tenant: 'zé' });
  });

  it('dead-letters each malformed record with its reason and whatever coordinates it has, and enriches the rest', async () => {
    // Prepare
    const { enrich, topics } = await handler();
    const good = [logValue(), logValue()];
    const bad = [logValue(), logValue(), logValue()];
    const record = (partition: number, offset: number, value: string) => ({ topic: topics.raw, partition, offset, timestamp: Date.now(), timestampType: 'CREATE_TIME', value, headers: [] });
    const event = {
      eventSource: 'SelfManagedKafka',
      bootstrapServers: '127.0.0.1:9092',
      records: {
        [`${topics.raw}-0`]: [
          record(0, 1, (good[0] as { value: string }).value),
          { ...record(0, 2, (bad[0] as { value: string }).value), partition: '0' },
          { ...record(0, 3, (bad[1] as { value: string }).value), headers: [{ tenant: [122, -61, 300] }] },
          'not a record',
        ],
        [`${topics.raw}-1`]: [{ ...record(1, 7, (bad[2] as { value: string }).value), timestamp: undefined }, record(1, 8, (good[1] as { value: string }).value), { ...record(1, 9, ''), value: 'not base64!' }],
      },
    };
    const goodIds = good.map((log) => log.eventId);
    // Act
    await enrich(event);
    const outputs = await collectOutputs(topics, (out) => out.dlq.length >= 5 && goodIds.every((eventId) => out.complete.has(eventId)));
    // Assess
    for (const eventId of goodIds) expectValidEnrichedLog(outputs.complete.get(eventId));
    const summary = letters(outputs)
      .map((letter) => ({ reason: letter.reason, event_id: letter.event_id, fields: letter.problems.map((problem) => problem.field), source: letter.source }))
      .sort((a, b) => `${a.source.partition}/${a.source.offset}`.localeCompare(`${b.source.partition}/${b.source.offset}`));
    expect(summary).toEqual([
      { reason: 'malformed', event_id: bad[0]?.eventId, fields: ['record.partition'], source: { topic: topics.raw, partition: 0, offset: 2, timestamp: expect.any(Number) } },
      { reason: 'malformed', event_id: bad[1]?.eventId, fields: ['record.headers[0].tenant[2]'], source: { topic: topics.raw, partition: 0, offset: 3, timestamp: expect.any(Number) } },
      { reason: 'malformed', event_id: null, fields: ['record'], source: { topic: topics.raw, partition: 0, offset: null, timestamp: null } },
      { reason: 'malformed', event_id: bad[2]?.eventId, fields: ['record.timestamp'], source: { topic: topics.raw, partition: 1, offset: 7, timestamp: null } },
      { reason: 'malformed', event_id: null, fields: ['record.value'], source: { topic: topics.raw, partition: 1, offset: 9, timestamp: expect.any(Number) } },
    ]);
  });

  it('dead-letters a ~900 KB invalid value with a bounded letter the broker accepts, instead of failing the record forever', async () => {
    // Prepare: the raw record itself fits under the shared broker's message.max.bytes (1 MiB): produce it
    const { enrich, topics } = await handler({ ENRICH_REPORT_BATCH_ITEM_FAILURES: 'true' });
    const raw = JSON.stringify({ level: 'INFO', message: 'x'.repeat(900_000), service: service.name, hostname: known.hostname });
    await produceRaw([{ topic: topics.raw, key: 'large', value: raw }]);
    const good = logValue();
    const record = (offset: number, value: string) => ({ topic: topics.raw, partition: 0, offset, timestamp: Date.now(), timestampType: 'CREATE_TIME', value, headers: [] });
    const event = { eventSource: 'SelfManagedKafka', bootstrapServers: '127.0.0.1:9092', records: { [`${topics.raw}-0`]: [record(0, Buffer.from(raw).toString('base64')), record(1, good.value)] } };
    // Act: the mapping reports item failures, as the CDK stack configures it
    const result = await enrich(event);
    const outputs = await collectOutputs(topics, (out) => out.dlq.length >= 1 && out.complete.has(good.eventId));
    // Assess: nothing to redeliver, the good record enriched, the letter bounded and describing the whole value
    expect(result).toEqual({ batchItemFailures: [] });
    expectValidEnrichedLog(outputs.complete.get(good.eventId));
    const [letter] = outputs.dlq as unknown as (DeadLetterValue & { original: Record<string, unknown> })[];
    expect(letter).toMatchObject({
      reason: 'invalid',
      problems: [expect.objectContaining({ field: 'message' })],
      source: { topic: topics.raw, partition: 0, offset: 0 },
      original: { truncated: true, value_bytes: Buffer.byteLength(raw), value_sha256: createHash('sha256').update(raw).digest('hex') },
    });
    expect(Buffer.from(String(letter?.original.value), 'base64').toString()).toBe(raw.slice(0, DEAD_LETTER_LIMITS.prefixBytes));
  });

  it('fails the invocation for an envelope that is not a Kafka event', async () => {
    const { enrich } = await handler();
    await expect(enrich({ Records: [{ body: 'an SQS message' }] })).rejects.toBeInstanceOf(ValidationError);
    await expect(enrich({ eventSource: 'SelfManagedKafka', records: { 'raw-logs-0': 'one record' } })).rejects.toBeInstanceOf(ValidationError);
  });
});
