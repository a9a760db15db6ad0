/**
 * One log followed from HTTP to its enriched record by its W3C trace context, on the real broker: a request
 * with a `traceparent` goes through the ingest handler as deployed (middleware and all), its raw record carries
 * the client's trace continued, the local runner feeds it to enrich, and the enriched record carries that same
 * trace context. Records of other producers are enriched with theirs forwarded, or with none.
 */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { logger } from '#shared/observability.ts';
import { parseTraceparent } from '#shared/tracing/traceparent.ts';
import { createIngestDependencies } from '../../../functions/ingest/dependencies.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { type ConsumedMessage, readTopicUntil } from '../../support/kafka.ts';
import { deleteTopics, enrichTestEnv, logFor, MetadataSeed, produceRaw, type Topics, throwawayTopics, uniqueNetwork } from './support.ts';

const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT = `00-${CLIENT_TRACE_ID}-00f067aa0ba902b7-01`;
const FOREIGN = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

jest.setTimeout(60_000);

describe('trace context: ingest → raw-logs → enrich → outputs', () => {
  const seed = new MetadataSeed();
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const known = { hostname: `traced-${id}`, ipAddress: net.ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
  const service = { name: `traced-${id}`, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', costCenter: 'cc-200' };
  let topics: Topics;
  let runner: EnrichRunner;
  let ingest: ReturnType<typeof createIngestDependencies>;

  beforeAll(async () => {
    await seed.host(known);
    await seed.service(service);
    topics = await throwawayTopics('trace');
    // The function as deployed (handler.ts wiring), publishing to this file's raw topic.
    ingest = createIngestDependencies({ ...process.env, RAW_TOPIC: topics.raw });
    runner = await startEnrichRunner({ env: enrichTestEnv(topics), topic: topics.raw, groupId: `enrich-trace-${id}`, batchWindowMs: 100 });
  });

  afterAll(async () => {
    await runner?.stop();
    await ingest?.close();
    await deleteTopics(topics);
    await seed.cleanup();
  });

  beforeEach(() => {
    jest.spyOn(logger, 'info').mockImplementation(() => undefined);
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const read = (topic: string, eventIds: readonly string[]) => readTopicUntil({ topic, eventIds });
  const headersById = (messages: ConsumedMessage[]) => new Map(messages.map((message) => [String((message.json as { event_id: string }).event_id), message.headers]));

  it("carries a client's traceparent from the HTTP request to the enriched records, complete and partial", async () => {
    // Prepare
    const { handler } = createIngestHandler(ingest);
    const logs = [logFor({ service: service.name, source_ip: known.ipAddress }), logFor({})];
    const event = restEvent('apigw-rest-post-logs', {
      body: JSON.stringify(logs),
      headers: { 'Content-Type': 'application/json', traceparent: CLIENT, tracestate: 'congo=t61rcWkgMzE' },
    });

    // Act
    const response = await handler(event, lambdaContext('ingest'));
    const { eventIds } = JSON.parse(response.body) as { eventIds: string[] };
    const [raw, complete, partial] = await Promise.all([read(topics.raw, eventIds), read(topics.complete, eventIds.slice(0, 1)), read(topics.partial, eventIds.slice(1))]);

    // Assess: ingest continued the client's trace (same trace id and flags, its own span as the parent)…
    expect(response.statusCode).toBe(202);
    const rawTrace = raw.map((message) => message.headers.traceparent);
    expect(new Set(rawTrace).size).toBe(1);
    const continued = parseTraceparent(rawTrace[0]);
    expect(continued).toEqual({ traceId: CLIENT_TRACE_ID, parentId: expect.not.stringMatching(/^00f067aa0ba902b7$/), sampled: true });
    expect(raw.map((message) => message.headers.tracestate)).toEqual(['congo=t61rcWkgMzE', 'congo=t61rcWkgMzE']);
    // …and enrich forwarded exactly that to both outputs.
    expect(complete.map((message) => [message.topic, message.headers.traceparent, message.headers.tracestate])).toEqual([[topics.complete, rawTrace[0], 'congo=t61rcWkgMzE']]);
    expect(partial.map((message) => [message.topic, message.headers.traceparent, message.headers.tracestate])).toEqual([[topics.partial, rawTrace[0], 'congo=t61rcWkgMzE']]);
    expect(parseTraceparent(complete[0]?.headers.traceparent)?.traceId).toBe(CLIENT_TRACE_ID);
  });

  it("forwards another producer's traceparent, ignores an invalid one, and needs none; dead letters carry it too", async () => {
    // Prepare: records as a shipper would write them straight to raw-logs.
    const record = (overrides: Record<string, unknown> = {}) => ({ event_id: randomUUID(), timestamp: new Date().toISOString(), received_at: new Date().toISOString(), ...logFor({}), ...overrides });
    const [foreign, invalid, none, letter] = [record(), record(), record(), record({ level: 'NOISY' })];
    const message = (value: Record<string, unknown>, headers?: Record<string, string>) => ({ topic: topics.raw, key: String(value.source_ip), value: JSON.stringify(value), ...(headers === undefined ? {} : { headers }) });

    // Act
    await produceRaw([
      message(foreign, { traceparent: FOREIGN }),
      message(invalid, { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01', tracestate: 'congo=x' }),
      message(none),
      message(letter, { traceparent: FOREIGN }),
    ]);
    const ids = [foreign, invalid, none].map((value) => String(value.event_id));
    const [partial, dlq] = await Promise.all([read(topics.partial, ids), read(topics.dlq, [String(letter.event_id)])]);

    // Assess
    const headers = headersById(partial);
    expect(headers.get(ids[0] as string)).toEqual({ traceparent: FOREIGN });
    expect(headers.get(ids[1] as string)).toEqual({});
    expect(headers.get(ids[2] as string)).toEqual({});
    expect(dlq.map((dead) => [(dead.json as { reason: string }).reason, dead.headers])).toEqual([['invalid', { traceparent: FOREIGN }]]);
  });
});
