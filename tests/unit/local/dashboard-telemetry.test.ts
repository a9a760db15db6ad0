/**
 * The dashboard's data (scripts/local/dashboard/telemetry.ts, tap.ts): quantiles from histogram buckets,
 * rates from counter deltas, breaker transitions, the tap on enrich's publisher (partial reasons from our JSON
 * and OTLP, dead letters, the sampling cap) and the rule that a value nobody measured is null. The runner is a
 * fake around a real PrometheusEnrichMetrics; the published messages are real enrich outputs (over fakes).
 */
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import { PrometheusEnrichMetrics } from '../../../functions/enrich/src/adapters/prometheus-metrics.ts';
import type { BatchReport, BreakerHealth, BreakerStateName, LookupHealth } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { deadLetterOf, printable } from '../../../scripts/local/dashboard/tap.ts';
import { breakerTransitions, DashboardTelemetry, histogramQuantile, type SampledRunner } from '../../../scripts/local/dashboard/telemetry.ts';
import { BATCH_TOPICS, enrichBatchSetup, FakePublisher, kafkaEvent, kafkaRecord, rawLog } from '../enrich/fakes.ts';

const TOPICS = { partial: BATCH_TOPICS.partial, deadLetter: BATCH_TOPICS.deadLetter };

function report(overrides: Partial<BatchReport> = {}): BatchReport {
  return { records: 0, complete: 0, partial: 0, deadLettered: 0, latencyMs: 1, published: true, tally: emptyTally(), breakers: [], ...overrides };
}

function breaker(name: string, state: BreakerStateName, openedAt: number | null = null): BreakerHealth {
  return { name, state, openedAt, probePending: false, counts: { fires: 0, failures: 0, successes: 0, rejects: 0, timeouts: 0 } };
}

const MEMORY = { entries: 3, bytes: 300, maxEntries: 100, maxBytes: 10_000 };

/** A runner whose metrics are real and whose health and lag the test sets; a clock the test moves. */
function harness(options: { lag?: () => Promise<Record<string, number>>; dependencies?: boolean; partialParsePerSecond?: number; lagTimeoutMs?: number } = {}) {
  const metrics = new PrometheusEnrichMetrics();
  let now = 1_000_000;
  const state: { health: LookupHealth; lag: () => Promise<Record<string, number>> } = {
    health: { breakers: [breaker('redis', 'closed'), breaker('postgres', 'closed')], memory: { ...MEMORY }, totals: emptyTally() },
    lag: options.lag ?? (async () => ({ 'raw-logs-0': 4, 'raw-logs-1': 0 })),
  };
  const runner: SampledRunner = {
    metrics,
    dependencies: options.dependencies === false ? undefined : { lookup: { health: () => state.health } },
    lag: () => state.lag(),
  };
  const telemetry = new DashboardTelemetry({
    clock: () => now,
    topics: TOPICS,
    autoSample: false,
    lagTimeoutMs: options.lagTimeoutMs ?? 50,
    ...(options.partialParsePerSecond === undefined ? {} : { partialParsePerSecond: options.partialParsePerSecond }),
  });
  telemetry.attach(runner);
  return {
    metrics,
    state,
    telemetry,
    advance(ms: number) {
      now += ms;
    },
    /** Moves the clock and samples. */
    async sampleAfter(ms: number) {
      now += ms;
      await telemetry.sample();
    },
  };
}

describe('histogramQuantile', () => {
  it('interpolates linearly inside the bucket holding the rank, as PromQL does', () => {
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: 0.2, count: 10 }, { le: Number.POSITIVE_INFINITY, count: 10 }])).toBeCloseTo(0.15);
    expect(histogramQuantile(0.99, [{ le: 1, count: 50 }, { le: 2, count: 100 }, { le: Number.POSITIVE_INFINITY, count: 100 }])).toBeCloseTo(1.98);
  });

  it('takes 0 as the lower bound of the first bucket', () => {
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 4 }, { le: Number.POSITIVE_INFINITY, count: 4 }])).toBeCloseTo(0.05);
  });

  it('answers the highest finite bound for a rank in the +Inf bucket', () => {
    expect(histogramQuantile(0.99, [{ le: 0.1, count: 1 }, { le: 0.5, count: 1 }, { le: Number.POSITIVE_INFINITY, count: 5 }])).toBe(0.5);
  });

  it('answers null without observations', () => {
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Number.POSITIVE_INFINITY, count: 0 }])).toBeNull();
    expect(histogramQuantile(0.5, [])).toBeNull();
  });
});

describe('DashboardTelemetry sampling', () => {
  it('has rates per second from counter deltas, null at the first sample', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    h.metrics.batch(report({ records: 17, complete: 10, partial: 5, deadLettered: 2 }));
    // Act
    await h.sampleAfter(2_000);
    const { series, totals } = h.telemetry.snapshot();
    // Assess
    expect(series.t).toHaveLength(2);
    expect(series.complete).toEqual([null, 5]);
    expect(series.partial).toEqual([null, 2.5]);
    expect(series.deadLettered).toEqual([null, 1]);
    expect(totals).toMatchObject({ complete: 10, partial: 5, deadLettered: 2 });
  });

  it('has latency quantiles of each interval from the delta of the buckets, null for an interval without batches', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    h.metrics.batch(report({ records: 10, complete: 10, latencyMs: 30 }));
    await h.sampleAfter(1_000);
    // Act: an interval without batches, then one of fast batches only
    await h.sampleAfter(1_000);
    h.metrics.batch(report({ records: 10, complete: 10, latencyMs: 2 }));
    await h.sampleAfter(1_000);
    const { series } = h.telemetry.snapshot();
    // Assess: 30 ms lies in the (25, 50] ms bucket, 2 ms in (1, 2.5] ms; the first interval does not leak into the third
    expect(series.latencyP50Ms[0]).toBeNull();
    expect(series.latencyP50Ms[1]).toBeCloseTo(37.5);
    expect(series.latencyP99Ms[1]).toBeCloseTo(49.75);
    expect(series.latencyP50Ms[2]).toBeNull();
    expect(series.latencyP50Ms[3]).toBeCloseTo(1.75);
  });

  it('has end-to-end quantiles from enrichment_end_to_end_seconds', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    // Act: 4 records of 40 s end to end (the (30, 60] s bucket)
    h.metrics.batch(report({ records: 4, complete: 4, endToEndMs: [40_000, 40_000, 40_000, 40_000] }));
    await h.sampleAfter(1_000);
    const { series } = h.telemetry.snapshot();
    // Assess
    expect(series.endToEndP50Ms).toEqual([null, 45_000]);
    expect(series.latencyP50Ms[1]).not.toBeNull();
  });

  it('has hit ratios per tier over the interval, null for a tier without lookups', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    const tally = emptyTally();
    tally.memory = { hits: 3, misses: 1 };
    h.metrics.batch(report({ tally }));
    // Act
    await h.sampleAfter(1_000);
    const { series } = h.telemetry.snapshot();
    // Assess
    expect(series.hitRatio).toEqual({ memory: [null, 0.75], redis: [null, null], postgres: [null, null] });
    expect(series.memoryEntries).toEqual([3, 3]);
  });

  it('has ingest series and totals null until ingest reports, then its rates', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    await h.sampleAfter(1_000);
    const before = h.telemetry.snapshot();
    // Act
    h.telemetry.ingestMetrics.logsAccepted(8);
    h.telemetry.ingestMetrics.logsRejected(2);
    await h.sampleAfter(2_000);
    const after = h.telemetry.snapshot();
    // Assess
    expect(before.series.ingestAccepted).toEqual([null, null]);
    expect(before.totals).toMatchObject({ ingestAccepted: null, ingestRejected: null });
    expect(after.series.ingestAccepted).toEqual([null, null, 4]);
    expect(after.series.ingestRejected).toEqual([null, null, 1]);
    expect(after.totals).toMatchObject({ ingestAccepted: 8, ingestRejected: 2 });
  });

  it('has lag per partition, null where the query failed or took too long, and nulls before a partition appeared', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    h.state.lag = async () => {
      throw new Error('broker down');
    };
    await h.sampleAfter(1_000);
    h.state.lag = () => new Promise(() => {});
    await h.sampleAfter(1_000);
    // Act
    h.state.lag = async () => ({ 'raw-logs-0': 1, 'raw-logs-2': 7 });
    await h.sampleAfter(1_000);
    const { series } = h.telemetry.snapshot();
    // Assess
    expect(series.lag).toEqual({ 'raw-logs-0': [4, null, null, 1], 'raw-logs-1': [0, null, null, null], 'raw-logs-2': [null, null, null, 7] });
  });

  it('has breaker states as 0/1/2, the transitions between samples, and status degraded while one is not closed', async () => {
    // Prepare
    const h = harness();
    await h.telemetry.sample();
    const t0 = h.telemetry.snapshot().now;
    // Act: redis opens at t0 + 500, is still open at the next sample
    h.state.health = { ...h.state.health, breakers: [breaker('redis', 'open', t0 + 500), breaker('postgres', 'closed')] };
    await h.sampleAfter(1_000);
    const open = h.telemetry.snapshot();
    // …half-opens, fails its probe and re-opens at t0 + 1_700 between two samples: still open, new openedAt
    h.state.health = { ...h.state.health, breakers: [breaker('redis', 'open', t0 + 1_700), breaker('postgres', 'closed')] };
    await h.sampleAfter(1_000);
    // …then closes again (through half-open) before the next sample
    h.state.health = { ...h.state.health, breakers: [breaker('redis', 'closed'), breaker('postgres', 'closed')] };
    await h.sampleAfter(1_000);
    const closed = h.telemetry.snapshot();
    // Assess
    expect(open.status).toBe('degraded');
    expect(open.breakers).toEqual([
      { name: 'redis', state: 'open', openedAt: t0 + 500 },
      { name: 'postgres', state: 'closed', openedAt: null },
    ]);
    expect(closed.status).toBe('ok');
    expect(closed.series.breakers).toEqual({ redis: [0, 2, 2, 0], postgres: [0, 0, 0, 0] });
    expect(closed.breakerTransitions).toEqual([
      { name: 'redis', from: 'closed', to: 'open', at: t0 + 500 },
      { name: 'redis', from: 'open', to: 'halfOpen', at: t0 + 1_700 },
      { name: 'redis', from: 'halfOpen', to: 'open', at: t0 + 1_700 },
      { name: 'redis', from: 'open', to: 'halfOpen', at: t0 + 3_000 },
      { name: 'redis', from: 'halfOpen', to: 'closed', at: t0 + 3_000 },
    ]);
  });

  it('keeps at most 100 breaker transitions, and only the samples of its window', async () => {
    // Prepare
    const metrics = new PrometheusEnrichMetrics();
    let now = 0;
    let open = false;
    const telemetry = new DashboardTelemetry({ clock: () => now, topics: TOPICS, autoSample: false, intervalMs: 1_000, windowMs: 10_000 });
    telemetry.attach({
      metrics,
      dependencies: { lookup: { health: () => ({ breakers: [breaker('redis', open ? 'open' : 'closed', open ? now : null)], memory: MEMORY, totals: emptyTally() }) } },
      lag: async () => ({}),
    });
    // Act: 120 samples, the breaker flipping each time
    for (let i = 0; i < 120; i++) {
      now += 1_000;
      open = !open;
      await telemetry.sample();
    }
    const snapshot = telemetry.snapshot();
    // Assess
    expect(snapshot.breakerTransitions).toHaveLength(100);
    expect(snapshot.breakerTransitions.at(-1)).toMatchObject({ at: 120_000, from: 'halfOpen', to: 'closed' });
    expect(snapshot.series.t).toHaveLength(10);
    expect(snapshot.series.t[0]).toBe(111_000);
    expect(snapshot.series.breakers.redis).toHaveLength(10);
  });

  it('answers empty series, closed breakers and null ingest before any sample; no memory without lookup dependencies', () => {
    // Prepare
    const h = harness({ dependencies: false });
    // Act
    const snapshot = h.telemetry.snapshot();
    // Assess
    expect(snapshot).toMatchObject({ status: 'ok', breakers: [], breakerTransitions: [], partialReasons: [], deadLetters: [], partialSeen: 0, partialSampled: false });
    expect(snapshot.series.t).toEqual([]);
    expect(snapshot.totals).toEqual({ complete: 0, partial: 0, deadLettered: 0, ingestAccepted: null, ingestRejected: null });
  });
});

describe('breakerTransitions', () => {
  it('passes through open when a breaker found half-open was closed before', () => {
    expect(breakerTransitions('redis', { state: 'closed', openedAt: null }, { state: 'halfOpen', openedAt: 1_500 }, 1_000, 2_000)).toEqual([
      { name: 'redis', from: 'closed', to: 'open', at: 1_500 },
      { name: 'redis', from: 'open', to: 'halfOpen', at: 2_000 },
    ]);
  });

  it('clamps an openedAt outside the interval into it, and says nothing for an unchanged breaker', () => {
    expect(breakerTransitions('pg', { state: 'closed', openedAt: null }, { state: 'open', openedAt: 10 }, 1_000, 2_000)).toEqual([{ name: 'pg', from: 'closed', to: 'open', at: 1_000 }]);
    expect(breakerTransitions('pg', { state: 'open', openedAt: 10 }, { state: 'open', openedAt: 10 }, 1_000, 2_000)).toEqual([]);
  });
});

/** Real enrich outputs over fakes: the publisher's messages for these raw logs. */
async function enrichOutputs(outputEncoding: 'json' | 'otlp_proto' | 'otlp_json', values: unknown[]): Promise<OutgoingMessage[]> {
  const { useCase, publisher } = enrichBatchSetup({ outputEncoding });
  await useCase.enrich(kafkaEvent(values.map((value) => kafkaRecord(value))));
  return publisher.published;
}

describe('DashboardTelemetry.tap', () => {
  it.each(['json', 'otlp_proto', 'otlp_json'] as const)('counts the missing fields × reasons of published partial outputs (%s)', async (encoding) => {
    // Prepare: one complete log, two partial ones of an unknown service
    const h = harness();
    const messages = await enrichOutputs(encoding, [rawLog(), rawLog({ service: 'nobody' }), rawLog({ service: 'nobody' })]);
    const inner = new FakePublisher();
    // Act
    await h.telemetry.tap(inner).publish(messages);
    const snapshot = h.telemetry.snapshot();
    // Assess
    expect(inner.published).toEqual(messages);
    expect(snapshot.partialSeen).toBe(2);
    expect(snapshot.partialSampled).toBe(false);
    expect(snapshot.partialReasons).toContainEqual({ field: 'service.team', reason: 'not_found', count: 2 });
    expect(snapshot.partialReasons.length).toBeLessThanOrEqual(10);
  });

  it('reads at most partialParsePerSecond partial outputs a second, the rest counted as sampled out', async () => {
    // Prepare
    const h = harness({ partialParsePerSecond: 2 });
    const messages = await enrichOutputs('json', Array.from({ length: 5 }, () => rawLog({ service: 'nobody' })));
    const tapped = h.telemetry.tap(new FakePublisher());
    // Act
    await tapped.publish(messages);
    const first = h.telemetry.snapshot();
    h.advance(1_000);
    await tapped.publish(messages.slice(0, 1));
    const second = h.telemetry.snapshot();
    // Assess
    expect(first.partialSeen).toBe(2);
    expect(first.partialSampled).toBe(true);
    expect(first.partialReasons).toContainEqual({ field: 'service.team', reason: 'not_found', count: 2 });
    expect(second.partialSeen).toBe(3);
  });

  it('keeps the last 10 dead letters, newest first, with their coordinates, first problem and a printable preview', async () => {
    // Prepare: 12 records that are not JSON; the last one holds control characters
    const h = harness();
    const values = Array.from({ length: 11 }, (_, i) => Buffer.from(`not json ${i}`).toString('base64'));
    values.push(Buffer.from('bad\n\u0000line\twith\u001b[31m').toString('base64'));
    const { useCase, publisher } = enrichBatchSetup();
    const records = values.map((value) => kafkaRecord(value));
    await useCase.enrich(kafkaEvent(records));
    // Act
    await h.telemetry.tap(new FakePublisher()).publish(publisher.published);
    const { deadLetters } = h.telemetry.snapshot();
    // Assess
    const last = records.at(-1);
    expect(deadLetters).toHaveLength(10);
    expect(deadLetters[0]).toMatchObject({ reason: 'undecodable', topic: 'raw-logs', partition: 0, offset: last?.offset, preview: 'bad\\n\\x00line\\twith\\x1b[31m' });
    expect(deadLetters[0]?.problem).toMatch(/^\(value\): is not valid JSON/);
    expect(deadLetters[9]?.preview).toBe('not json 2');
  });

  it('watches nothing of a publish that failed', async () => {
    // Prepare
    const h = harness();
    const messages = await enrichOutputs('json', [rawLog({ service: 'nobody' })]);
    const inner = new FakePublisher();
    inner.failing = true;
    // Act
    await expect(h.telemetry.tap(inner).publish(messages)).rejects.toThrow('broker unreachable');
    // Assess
    expect(h.telemetry.snapshot()).toMatchObject({ partialSeen: 0, partialReasons: [] });
  });
});

describe('dead-letter summaries', () => {
  it('lists a value that is not a dead letter as unreadable, with its own bytes as the preview', () => {
    const summary = deadLetterOf({ topic: 'dlq', key: 'k', value: 'x'.repeat(500) }, 5);
    expect(summary).toEqual({ at: 5, reason: 'unreadable dead letter', topic: null, partition: null, offset: null, problem: null, preview: 'x'.repeat(200) });
  });

  it('has no preview for a letter that kept no value, and null coordinates for a malformed record', () => {
    const letter = { reason: 'malformed', problems: [{ field: 'record.offset', reason: 'is required' }], source: { topic: 'raw-logs', partition: 1, offset: null }, original: { key: null, value: null } };
    expect(deadLetterOf({ topic: 'dlq', key: 'k', value: JSON.stringify(letter) }, 1)).toMatchObject({ topic: 'raw-logs', partition: 1, offset: null, problem: 'record.offset: is required', preview: null });
  });

  it('cuts a preview at 200 characters without cutting an escape', () => {
    expect(printable(`${'a'.repeat(199)}\n`)).toBe('a'.repeat(199));
    expect(printable('\u2028\u0085é')).toBe('\\u2028\\x85é');
    // Invisible and bidirectional controls are shown, not obeyed ("desrever" would read as "reversed").
    expect(printable('a\u202Edesrever\u200Bz')).toBe('a\\u202edesrever\\u200bz');
  });
});
