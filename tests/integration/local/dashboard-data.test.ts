/**
 * The dashboard's data on real services: an enrich runner on throwaway topics whose publisher is tapped by
 * the telemetry, logs posted through the ingest use case (whose metrics go to the telemetry too), a record
 * ingest would never write produced straight to the raw topic; then the snapshot shows what happened.
 */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { logger } from '#shared/observability.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import type { DashboardSnapshot } from '../../../scripts/local/dashboard/contract.ts';
import { DashboardTelemetry } from '../../../scripts/local/dashboard/telemetry.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { restEvent } from '../../support/apigw.ts';
import {
  accountedFor,
  collectOutputs,
  deleteTopics,
  enrichTestEnv,
  eventually,
  kafka,
  logFor,
  MetadataSeed,
  type Outputs,
  produceRaw,
  type Topics,
  throwawayTopics,
  uniqueNetwork,
} from '../enrich/support.ts';

jest.setTimeout(60_000);

describe('dashboard telemetry of a running enrich runner', () => {
  const seed = new MetadataSeed();
  const id = randomUUID().slice(0, 8);
  const net = uniqueNetwork();
  const known = { hostname: `dash-${id}`, ipAddress: net.ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
  const service = { name: `dash-svc-${id}`, team: 'payments', owner: 'alice@example.com', tier: 'tier-1', version: '2.4.1', costCenter: 'cc-200' };
  const ingestPublisher = new KafkaPublisher(kafka(), 'dashboard-test-ingest');
  const enrichPublisher = new KafkaPublisher(kafka(), 'dashboard-test-enrich');
  let topics: Topics;
  let telemetry: DashboardTelemetry;
  let runner: EnrichRunner;
  let outputs: Outputs;
  let body: { eventIds: string[]; rejected: { index: number }[] };

  beforeAll(async () => {
    await seed.host(known);
    await seed.service(service);
    await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-b' });
    topics = await throwawayTopics('dashboard');
    telemetry = new DashboardTelemetry({ intervalMs: 250, topics: { partial: topics.partial, deadLetter: topics.dlq } });
    runner = await startEnrichRunner({
      env: enrichTestEnv(topics),
      topic: topics.raw,
      groupId: `enrich-test-${id}`,
      batchWindowMs: 50,
      publisher: telemetry.tap(enrichPublisher),
    });
    telemetry.attach(runner);
    // Rates are measured from the first sample on (what came before it is in the totals only).
    await eventually(() => telemetry.snapshot().series.t.length >= 1, 10_000);

    // Through ingest: a known host and service (complete), an unknown service (partial), an invalid log (rejected).
    const { postLogs } = createIngestHandler({
      acceptLogs: new AcceptLogs({ publisher: ingestPublisher, topic: topics.raw, retryAfterSeconds: 1, log: logger, metrics: telemetry.ingestMetrics }),
      apiKeys: undefined,
      maxBodyBytes: 1024 * 1024,
      maxBatch: 1000,
    });
    const logs = [logFor({ service: service.name, source_ip: known.ipAddress }), logFor({ service: `nobody-${id}`, source_ip: known.ipAddress }), { level: 'INFO' }];
    const response = await postLogs(restEvent('apigw-rest-post-logs', { body: JSON.stringify(logs), headers: { 'Content-Type': 'application/json' } }));
    body = JSON.parse(response.body);
    // A record no producer of ours writes: not JSON, with a control character. It is dead-lettered.
    await produceRaw([{ topic: topics.raw, key: `bad-${id}`, value: `not json\u0007 ${id}` }]);
    outputs = await collectOutputs(topics, (out) => accountedFor(out, body.eventIds).length === 0 && out.dlq.length >= 1);
  });

  afterAll(async () => {
    telemetry?.stop();
    await runner?.stop();
    await Promise.all([ingestPublisher.close(), enrichPublisher.close()]);
    await deleteTopics(topics);
    await seed.cleanup();
  });

  /** The snapshot once `ready` holds for it (samples every 250 ms). */
  async function snapshotWhen(ready: (snapshot: DashboardSnapshot) => boolean): Promise<DashboardSnapshot> {
    await eventually(() => ready(telemetry.snapshot()), 15_000);
    return telemetry.snapshot();
  }
  const positive = (series: (number | null)[]) => series.some((value) => value !== null && value > 0);

  it('shows the outcome rates, the ingest rates and totals, and the latencies', async () => {
    // Act
    const snapshot = await snapshotWhen((s) => positive(s.series.complete) && positive(s.series.partial) && positive(s.series.deadLettered) && s.totals.deadLettered >= 1);
    // Assess
    expect(body.eventIds).toHaveLength(2);
    expect(new Set(body.rejected.map((problem) => problem.index))).toEqual(new Set([2]));
    expect(accountedFor(outputs, body.eventIds)).toEqual([]);
    expect(positive(snapshot.series.complete)).toBe(true);
    expect(positive(snapshot.series.partial)).toBe(true);
    expect(positive(snapshot.series.deadLettered)).toBe(true);
    expect(snapshot.totals).toEqual({ complete: 1, partial: 1, deadLettered: 1, ingestAccepted: 2, ingestRejected: 1 });
    expect(positive(snapshot.series.ingestAccepted)).toBe(true);
    expect(positive(snapshot.series.ingestRejected)).toBe(true);
    expect(positive(snapshot.series.latencyP50Ms)).toBe(true);
    expect(positive(snapshot.series.endToEndP99Ms)).toBe(true);
    expect(snapshot.status).toBe('ok');
    expect(snapshot.breakers.map((breaker) => [breaker.name, breaker.state])).toEqual([
      ['redis', 'closed'],
      ['postgres', 'closed'],
    ]);
    expect(snapshot.memory.entries).toBeGreaterThan(0);
  });

  it("lists the unknown service's service.team: not_found among the partial reasons", async () => {
    // Act
    const snapshot = await snapshotWhen((s) => s.partialSeen >= 1);
    // Assess
    expect(snapshot.partialSeen).toBe(1);
    expect(snapshot.partialSampled).toBe(false);
    expect(snapshot.partialReasons).toContainEqual({ field: 'service.team', reason: 'not_found', count: 1 });
  });

  it('lists the dead letter with its coordinates and a printable preview', async () => {
    // Prepare
    const letter = outputs.dlq[0] as { source: { topic: string; partition: number; offset: number } };
    // Act
    const snapshot = await snapshotWhen((s) => s.deadLetters.length >= 1);
    // Assess
    expect(snapshot.deadLetters).toEqual([
      {
        at: expect.any(Number),
        reason: 'undecodable',
        topic: topics.raw,
        partition: letter.source.partition,
        offset: letter.source.offset,
        problem: expect.stringMatching(/^\(value\): is not valid JSON/),
        preview: `not json\\x07 ${id}`,
      },
    ]);
  });

  it('has a lag series for each partition of the raw topic', async () => {
    // Act
    const snapshot = await snapshotWhen((s) => Object.keys(s.series.lag).length >= 2);
    // Assess
    expect(Object.keys(snapshot.series.lag).sort()).toEqual([`${topics.raw}-0`, `${topics.raw}-1`]);
    for (const series of Object.values(snapshot.series.lag)) {
      expect(series).toHaveLength(snapshot.series.t.length);
      expect(series.some((value) => value !== null && value >= 0)).toBe(true);
    }
  });
});
