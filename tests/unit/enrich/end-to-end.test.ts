/**
 * End-to-end latency (BatchReport.endToEndMs): per Kafka record with a log enriched, the raw record's Kafka
 * timestamp (ingest's receipt) to the outputs acknowledged, in wall-clock ms; observed by
 * PrometheusEnrichMetrics as enrichment_end_to_end_seconds.
 */
import { PrometheusEnrichMetrics } from '../../../functions/enrich/src/adapters/prometheus-metrics.ts';
import type { BatchReport } from '../../../functions/enrich/src/ports.ts';
import { emptyTally } from '../../../functions/enrich/src/tiered-lookup.ts';
import { enrichBatchSetup, kafkaEvent, kafkaRecord, rawLog } from './fakes.ts';

const WALL_START = Date.UTC(2024, 0, 15, 10, 31, 0);

/** A batch that starts at WALL_START and takes 25 ms (monotonic: start, lookup done, end). */
function timedSetup() {
  const ticks = [0, 5, 25];
  let i = 0;
  return enrichBatchSetup({ wallClock: () => new Date(WALL_START), monotonic: () => ticks[Math.min(i++, ticks.length - 1)] as number });
}

describe('end-to-end latency', () => {
  it('is reported per record with a timestamp, from it to the batch acknowledged', async () => {
    // Prepare: two logs received 2 s and 300 ms before the batch, one without a timestamp, one dead letter
    const { useCase, metrics } = timedSetup();
    const records = [
      kafkaRecord(rawLog(), { timestamp: WALL_START - 2_000 }),
      kafkaRecord(rawLog({ service: 'nobody' }), { timestamp: WALL_START - 300 }),
      kafkaRecord(rawLog(), { timestamp: -1 }),
      kafkaRecord(Buffer.from('not json').toString('base64'), { timestamp: WALL_START - 1 }),
    ];
    // Act
    await useCase.enrich(kafkaEvent(records));
    // Assess
    expect(metrics.reports[0]?.endToEndMs).toEqual([2_025, 325]);
  });

  it('is absent after a failed publish and for a re-enrich attempt', async () => {
    // Prepare
    const failed = timedSetup();
    failed.publisher.failing = true;
    const again = timedSetup();
    const event = () => kafkaEvent([kafkaRecord(rawLog(), { timestamp: WALL_START - 10 })]);
    // Act
    await expect(failed.useCase.enrich(event())).rejects.toThrow();
    await again.useCase.enrich(event(), { attemptOf: () => 2 });
    // Assess
    expect(failed.metrics.reports[0]?.endToEndMs).toBeUndefined();
    expect(again.metrics.reports[0]?.endToEndMs).toBeUndefined();
  });

  it('is observed as enrichment_end_to_end_seconds', async () => {
    // Prepare
    const metrics = new PrometheusEnrichMetrics();
    const report: BatchReport = { records: 2, complete: 2, partial: 0, deadLettered: 0, latencyMs: 3, published: true, tally: emptyTally(), breakers: [], endToEndMs: [40, 90_000] };
    // Act
    metrics.batch(report);
    const text = await metrics.registry.metrics();
    // Assess
    expect(text).toMatch(/^enrichment_end_to_end_seconds_bucket\{le="0\.05"\} 1$/m);
    expect(text).toMatch(/^enrichment_end_to_end_seconds_bucket\{le="120"\} 2$/m);
    expect(text).toMatch(/^enrichment_end_to_end_seconds_count 2$/m);
  });
});
