/**
 * `npm run replay` on real services: logs go in through ingest to a throwaway raw topic, the local runner
 * enriches them, and the replay (scripts/replay.ts `replay`, what the CLI runs) re-reads the throwaway partial
 * or dead-letter topic by time and sends the records through enrich again with dependencies built from the
 * environment; outputs are read back from the throwaway output topics. Metadata is written through the real
 * metadata function, so the Redis entries it changed are invalidated as in production.
 */
import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { createTopics } from '#shared/kafka/topics.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import { parseWhere } from '../../../functions/enrich/src/replay/where.ts';
import { createMetadataDependencies } from '../../../functions/metadata/dependencies.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { type ReplaySummary, replay } from '../../../scripts/replay.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { lambdaContext } from '../../support/apigw.ts';
import { type ConsumedMessage, latestOffsets, readTopicUntil } from '../../support/kafka.ts';
import { type ApiRequest, apiEvent } from '../../support/metadata-api.ts';
import { collectOutputs, deleteTopics, enrichTestEnv, ingest, kafka, logFor, produceRaw, type Topics, throwawayTopics, unroutedIp } from '../enrich/support.ts';

const metadataDependencies = createMetadataDependencies(process.env);
const { handler: metadataHandler } = createMetadataApi(metadataDependencies);
const metadata = async (request: ApiRequest) => {
  const response = await metadataHandler(apiEvent(request), lambdaContext('metadata'));
  if (response.statusCode >= 300) throw new Error(`${request.method} ${request.path} answered ${response.statusCode}: ${response.body}`);
};

describe('npm run replay (partial, dead letters, on-failure records; on real services)', () => {
  const id = randomUUID().slice(0, 8);
  const service = { name: `replay-${id}`, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', costCenter: 'cc-200' };
  const lateHost = { hostname: `late-${id}`, ipAddress: unroutedIp(), datacenter: 'dc-late', environment: 'production', costCenter: 'cc-late' };
  const ingestPublisher = new KafkaPublisher(kafka(), 'replay-test-ingest');
  const quiet = () => {};
  let topics: Topics;
  let env: NodeJS.ProcessEnv;
  let runner: EnrichRunner;
  let since: number;
  let partialIds: string[];

  beforeAll(async () => {
    await metadata({ method: 'POST', path: '/api/metadata/services', body: service });
    topics = await throwawayTopics('replay');
    env = enrichTestEnv(topics);
    runner = await startEnrichRunner({ env, topic: topics.raw, groupId: `replay-test-${id}`, batchWindowMs: 100 });
    since = Date.now() - 1000;
    // Three logs of a host nobody registered yet: partial, not_found.
    partialIds = await ingest(ingestPublisher, topics.raw, [1, 2, 3].map((n) => logFor({ service: service.name, source_ip: lateHost.ipAddress, attributes: { n } })));
    const outputs = await collectOutputs(topics, (out) => partialIds.every((eventId) => out.partial.has(eventId)));
    expect(partialIds.map((eventId) => outputs.partial.get(eventId)?.enrichment)).toEqual(
      partialIds.map(() => expect.objectContaining({ status: 'partial', missing: expect.objectContaining({ 'host.cost_center': 'not_found' }) })),
    );
    await metadata({ method: 'POST', path: '/api/metadata/hosts', body: lateHost });
  });

  afterAll(async () => {
    await runner?.stop();
    await metadata({ method: 'DELETE', path: `/api/metadata/hosts/${lateHost.hostname}` }).catch(() => undefined);
    await metadata({ method: 'DELETE', path: `/api/metadata/services/${service.name}` }).catch(() => undefined);
    await metadataDependencies.close();
    await deleteTopics(topics);
    await ingestPublisher.close();
  });

  /** Every output topic's end offsets, to show what a run wrote (or that it wrote nothing). */
  const ends = async () => Promise.all([topics.complete, topics.partial, topics.dlq].map(async (topic) => (await latestOffsets(topic)).join(',')));

  it('--dry-run reads and matches the partial logs and publishes nothing', async () => {
    // Prepare
    const before = await ends();
    // Act
    const lines: string[] = [];
    const summary = await replay({ from: 'partial', since, where: parseWhere(['missing=not_found']), dryRun: true, env, progressEvery: 2, print: (line) => lines.push(line) });
    // Assess
    expect(summary).toMatchObject({ dryRun: true, read: 3, matched: 3, records: 3, complete: 0, partial: 0, deadLettered: 0, skipped: {}, unrecoverable: {} });
    expect(await ends()).toEqual(before);
    expect(lines).toContain(`replay: read 2 from ${topics.partial}, matched 2`);
    expect(lines.at(-1)).toBe('replay: dry run, 3 records would be enriched again; nothing published');
  });

  it('replays not_found partials once the host is registered: the same event_ids reach complete', async () => {
    // Act
    const summary = await replay({ from: 'partial', since, where: parseWhere(['missing=not_found']), env, print: quiet });
    // Assess
    expect(summary).toMatchObject({ read: 3, matched: 3, records: 3, complete: 3, partial: 0, deadLettered: 0 });
    const complete = await readTopicUntil({ topic: topics.complete, eventIds: partialIds });
    expect(complete.map((message) => message.key).sort()).toEqual([...partialIds].sort());
    expect(complete.map((message) => message.json)).toEqual(
      complete.map(() => expect.objectContaining({ host: expect.objectContaining({ hostname: lateHost.hostname, datacenter: 'dc-late' }), enrichment: expect.objectContaining({ status: 'complete' }) })),
    );
  });

  it('running it twice gives the same event ids and output keys', async () => {
    // Act: the same range again (its partials are still there)
    const summary = await replay({ from: 'partial', since, where: parseWhere(['missing=not_found']), env, print: quiet });
    // Assess: complete holds each event id twice, under the same key, nothing else
    expect(summary).toMatchObject({ matched: 3, complete: 3 });
    const complete = await readTopicUntil({ topic: topics.complete, predicate: () => true, count: 6, timeoutMs: 10_000 });
    expect(complete.map((message) => message.key).sort()).toEqual([...partialIds, ...partialIds].sort());
    expect(complete.map((message) => (message.json as { event_id: string }).event_id).sort()).toEqual([...partialIds, ...partialIds].sort());
  });

  it('replays dead letters: an invalid value is dead-lettered again under its key, a dead letter with a valid original is enriched', async () => {
    // Prepare: a record whose value breaks the contract (dead-lettered by the runner), and a dead letter
    // produced directly with a valid original, as after a contract fix, at coordinates of its own
    const marker = `bad level ${randomUUID()}`;
    await produceRaw([{ topic: topics.raw, key: 'k', value: JSON.stringify({ level: 'LOUD', message: marker, service: service.name, source_ip: lateHost.ipAddress }) }]);
    const [invalidLetter] = await readTopicUntil({ topic: topics.dlq, predicate: (message) => decodedOriginal(message.json).includes(marker), count: 1 });
    expect(invalidLetter).toBeDefined();
    const fixedSource = { topic: topics.raw, partition: 1, offset: 424_242, timestamp: Date.now() };
    const fixedLog = { level: 'INFO', message: `fixed ${id}`, service: service.name, source_ip: lateHost.ipAddress };
    await produceRaw([
      {
        topic: topics.dlq,
        key: derivedEventId(fixedSource),
        value: JSON.stringify({
          reason: 'invalid',
          problems: [{ field: 'level', reason: 'was refused before the fix' }],
          event_id: derivedEventId(fixedSource),
          source: fixedSource,
          original: { key: null, value: Buffer.from(JSON.stringify(fixedLog)).toString('base64'), headers: [] },
          failed_at: new Date().toISOString(),
        }),
      },
    ]);
    // Act
    const summary: ReplaySummary = await replay({ from: 'dlq', since, env, print: quiet });
    // Assess
    expect(summary).toMatchObject({ read: 2, matched: 2, records: 2, complete: 1, partial: 0, deadLettered: 1, unrecoverable: {} });
    const again = await readTopicUntil({ topic: topics.dlq, predicate: (message) => message.key === invalidLetter?.key, count: 2, timeoutMs: 10_000 });
    expect(again).toHaveLength(2);
    const eventIdOf = (message: ConsumedMessage | undefined) => (message?.json as { event_id?: string } | undefined)?.event_id;
    expect(eventIdOf(again[1])).toBe(eventIdOf(invalidLetter));
    expect(eventIdOf(invalidLetter)).toEqual(expect.any(String));
    const [fixed] = await readTopicUntil({ topic: topics.complete, eventIds: [derivedEventId(fixedSource)] });
    expect(fixed?.json).toMatchObject({ message: `fixed ${id}`, source: { topic: topics.raw, partition: 1, offset: 424_242 }, enrichment: { status: 'complete', derived: ['event_id', 'received_at', 'timestamp'] } });
  });
  it('reads a truncated dead letter back whole from raw-logs, and counts one whose record is gone as unrecoverable', async () => {
    // Prepare: a log on raw (enriched complete by the runner: its host is registered now), then letters that
    // do not hold their record: one at its coordinates, one at an offset the raw topic never had
    const [eventId] = await ingest(ingestPublisher, topics.raw, [logFor({ service: service.name, source_ip: lateHost.ipAddress })]);
    const [first] = await readTopicUntil({ topic: topics.complete, eventIds: [eventId as string] });
    const source = (first?.json as { source?: { topic: string; partition: number; offset: number } } | undefined)?.source;
    if (source === undefined) throw new Error('the runner did not enrich the log');
    const letter = (at: { topic: string; partition: number; offset: number }) => ({
      topic: topics.dlq,
      key: `${at.topic}-${at.partition}@${at.offset}`,
      value: JSON.stringify({
        reason: 'undecodable',
        problems: [{ field: '(value)', reason: 'test' }],
        event_id: null,
        source: { ...at, timestamp: Date.now() },
        original: { key: null, value: 'AAAA', truncated: true, value_bytes: 900_000, value_sha256: '00', headers: [] },
        failed_at: new Date().toISOString(),
      }),
    });
    await produceRaw([letter(source), letter({ ...source, offset: 9_999_999 })]);
    // Act
    const summary = await replay({ from: 'dlq', since, where: parseWhere(['reason=undecodable']), env, print: quiet });
    // Assess
    expect(summary).toMatchObject({ matched: 2, records: 1, readBack: 1, complete: 1, deadLettered: 0, unrecoverable: { [`no longer on ${topics.raw} (past its retention)`]: 1 } });
    const complete = await readTopicUntil({ topic: topics.complete, predicate: (message) => message.key === eventId, count: 2, timeoutMs: 10_000 });
    expect(complete.map((message) => (message.json as { source: unknown }).source)).toEqual([source, source]);
  });
  it("replays the records of a Lambda on-failure document from raw-logs-unprocessed at their coordinates", async () => {
    // Prepare: the document Lambda's Kafka on-failure destination writes (AWS: "Record format for a Kafka
    // destination"), holding one record of the raw topic the mapping gave up on
    const unprocessed = `t-replay-unprocessed-${id}`;
    await createTopics(kafka().KAFKA_BROKERS ?? [], [{ name: unprocessed, partitions: 1 }]);
    const at = { topic: topics.raw, partition: 0, offset: 777_777 };
    const record = { ...at, timestamp: Date.now(), timestampType: 'CREATE_TIME', value: Buffer.from(JSON.stringify(logFor({ service: service.name, source_ip: lateHost.ipAddress }))).toString('base64'), headers: [] };
    const document = {
      requestContext: { requestId: randomUUID(), functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:enrich', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date().toISOString(),
      KafkaBatchInfo: { batchSize: 1, eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/c/abc', bootstrapServers: 'b-1:9098', payloadSize: 600, recordInfo: { offset: String(at.offset), timestamp: new Date().toISOString() } },
      payload: { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/c/abc', records: { [`${at.topic}-${at.partition}`]: [record] } },
    };
    try {
      await produceRaw([{ topic: unprocessed, key: 'k', value: JSON.stringify(document) }]);
      // Act
      const summary = await replay({ from: 'unprocessed', since, env: { ...env, UNPROCESSED_TOPIC: unprocessed }, print: quiet });
      // Assess: enriched under the id its coordinates give
      expect(summary).toMatchObject({ topic: unprocessed, read: 1, matched: 1, records: 1, complete: 1 });
      const [complete] = await readTopicUntil({ topic: topics.complete, eventIds: [derivedEventId(at)] });
      expect(complete?.json).toMatchObject({ source: at, enrichment: { status: 'complete' } });
    } finally {
      await deleteTopicNamed(unprocessed);
    }
  });
});

/** The text of a dead letter's original value ('' when there is none). */
function decodedOriginal(json: unknown): string {
  const value = (json as { original?: { value?: unknown } } | undefined)?.original?.value;
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : '';
}

async function deleteTopicNamed(topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'replay-test-cleanup', bootstrapBrokers: kafka().KAFKA_BROKERS ?? [], retries: 2, retryDelay: 100 });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } catch {
    // leave it: the broker is shared, a leftover only costs disk
  } finally {
    await admin.close();
  }
}
