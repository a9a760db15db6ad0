/**
 * The local event-source runner: two runners share the partitions through their consumer group, and the
 * component started by `npm start` serves /health and /metrics.
 */
import { randomUUID } from 'node:crypto';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { type EnrichComponent, start } from '../../../scripts/local/event-source/index.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { accountedFor, collectOutputs, deleteTopics, enrichTestEnv, eventually, ingest, kafka, logFor, type Topics, throwawayTopics } from './support.ts';

const ingestPublisher = new KafkaPublisher(kafka(), 'enrich-test-ingest');

afterAll(async () => {
  await ingestPublisher.close();
});

describe('two runners in one consumer group', () => {
  let topics: Topics;
  const runners: EnrichRunner[] = [];

  beforeAll(async () => {
    topics = await throwawayTopics('scale');
  });

  afterAll(async () => {
    await Promise.all(runners.map((runner) => runner.stop()));
    await deleteTopics(topics);
  });

  it('share the partitions of the raw topic and together enrich every log', async () => {
    // Prepare
    const groupId = `enrich-test-${randomUUID()}`;
    const env = enrichTestEnv(topics);
    runners.push(await startEnrichRunner({ env, topic: topics.raw, groupId, batchWindowMs: 50 }));
    runners.push(await startEnrichRunner({ env, topic: topics.raw, groupId, batchWindowMs: 50 }));
    const [a, b] = runners as [EnrichRunner, EnrichRunner];
    const balanced = await eventually(() => a.assignedPartitions().length === 1 && b.assignedPartitions().length === 1, 30_000);
    expect(balanced).toBe(true);
    // Act: logs keyed by many source IPs land on both partitions
    const ids = await ingest(ingestPublisher, topics.raw, Array.from({ length: 40 }, () => logFor({})));
    const outputs = await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
    // Assess
    expect(accountedFor(outputs, ids)).toEqual([]);
    expect(new Set([...a.assignedPartitions(), ...b.assignedPartitions()])).toEqual(new Set([`${topics.raw}-0`, `${topics.raw}-1`]));
    // A runner counts a batch once its offsets are committed, just after the outputs are visible.
    expect(await eventually(() => a.stats.records + b.stats.records >= ids.length, 10_000)).toBe(true);
    expect(a.stats.records).toBeGreaterThan(0);
    expect(b.stats.records).toBeGreaterThan(0);
  });
});

describe('the enrich component (runner + health server)', () => {
  let topics: Topics;
  let component: EnrichComponent;

  beforeAll(async () => {
    topics = await throwawayTopics('health');
    component = await start({ env: enrichTestEnv(topics), topic: topics.raw, groupId: `enrich-test-${randomUUID()}`, batchWindowMs: 50, port: 0 });
    const ids = await ingest(ingestPublisher, topics.raw, [logFor({}), logFor({})]);
    await collectOutputs(topics, (out) => accountedFor(out, ids).length === 0);
  });

  afterAll(async () => {
    await component?.stop();
    await deleteTopics(topics);
  });

  it('GET /health reports the breakers, the in-process cache with hit rates, and the consumer lag', async () => {
    // Act
    const response = await fetch(`${component.health.url}/health`);
    const body = (await response.json()) as Record<string, unknown>;
    // Assess
    expect(response.status).toBe(200);
    expect(body).toMatchObject({
      status: 'ok',
      breakers: [
        { name: 'redis', state: 'closed' },
        { name: 'postgres', state: 'closed' },
      ],
      cache: { memory: { entries: expect.any(Number), bytes: expect.any(Number) }, hitRate: { memory: expect.any(Number) } },
      consumer: { lag: expect.any(Object), batches: expect.any(Number) },
    });
    expect(Object.keys((body.consumer as { lag: object }).lag).length).toBeGreaterThan(0);
  });

  it('GET /metrics answers Prometheus text with the enrichment, cache and breaker metrics', async () => {
    // Act
    const response = await fetch(`${component.health.url}/metrics`);
    const text = await response.text();
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(text).toMatch(/^enrichment_attempts_total [1-9]\d*$/m);
    expect(text).toMatch(/^enrichment_successes_total [1-9]\d*$/m);
    expect(text).toMatch(/^enrichment_partial_total \d+$/m);
    expect(text).toMatch(/^enrichment_latency_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
    expect(text).toMatch(/^cache_hits_total\{tier="memory"\} \d+$/m);
    expect(text).toMatch(/^cache_misses_total\{tier="postgres"\} \d+$/m);
    expect(text).toMatch(/^circuitbreaker_state\{name="redis"\} 0$/m);
    expect(text).toMatch(/^circuitbreaker_state\{name="postgres"\} 0$/m);
  });

  it('answers 404 on other paths', async () => {
    const response = await fetch(`${component.health.url}/nope`);
    expect(response.status).toBe(404);
  });
});
