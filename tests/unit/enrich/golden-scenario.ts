/**
 * A fixed scenario of three batches through the real EnrichBatch and lookup over the fakes, with every clock
 * injected, so its outputs are the same bytes on every run: what tests/unit/enrich/provenance.test.ts
 * compares, with provenance off, to v1-outputs.golden.json. That file was written by this scenario run on
 * the code before provenance existed (commit cad0d2b), so "off" is proven to be v1 byte for byte as it was.
 *
 * Batch 1 reaches PostgreSQL (complete; unknown host in a known network; unknown service; hostname only;
 * a record another producer wrote, with derived fields); batch 2 is the same logs again (cache hits, blocks
 * reused); batch 3 runs with Redis and PostgreSQL down after the in-process entries expired (stale, and
 * unavailable for a key never seen).
 */
import { silentLog } from '#shared/log-port.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { buildLookup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, network, service } from './fakes.ts';

export interface GoldenOutput {
  topic: string;
  key: string;
  value: string;
}

const log = (id: number, fields: Record<string, unknown>) => ({
  level: 'INFO',
  message: `golden ${id}`,
  service: 'payment-api',
  timestamp: '2024-01-15T10:30:00.000Z',
  received_at: '2024-01-15T10:30:00.100Z',
  event_id: `00000000-0000-4000-8000-00000000000${id}`,
  ...fields,
});

function batch(first: number): ReturnType<typeof kafkaEvent> {
  const values = [
    log(1, { source_ip: '10.0.0.1', trace_id: 'abc', attributes: { user: 'u-1' } }),
    log(2, { source_ip: '10.20.30.40' }),
    log(3, { source_ip: '10.0.0.1', service: 'nobody' }),
    log(4, { hostname: 'web-01' }),
    { level: 'warn', message: 'from another producer', service: 'payment-api', source_ip: '10.0.0.1' },
  ];
  return kafkaEvent(values.map((value, i) => kafkaRecord(value, { offset: first + i, timestamp: 1_705_314_600_000 + first + i })));
}

/** Runs the scenario; `provenance` is passed to the lookup (the code before provenance ignores it). */
export async function goldenOutputs(options: { provenance: boolean; clock?: () => number }): Promise<GoldenOutput[]> {
  const remote = new FakeRemoteCache();
  const source = new FakeSource();
  source.hosts = [host()];
  source.services = [service()];
  source.networks = [network({ cidr: '10.20.30.0/24' })];
  const publisher = new FakePublisher();
  const { lookup } = buildLookup(remote, source, { ttlMs: 1, provenance: options.provenance, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  let ticks = 0;
  let batches = 0;
  const useCase = new EnrichBatch({
    lookup,
    publisher,
    metrics: { batch: () => undefined },
    topics: { complete: 'complete', partial: 'partial', deadLetter: 'dlq' },
    reportBatchItemFailures: false,
    log: silentLog,
    // The monotonic clock moves 1.25 ms per reading; each batch starts a second after the last on the wall clock.
    monotonic: () => 1.25 * ticks++,
    wallClock: () => new Date(Date.UTC(2024, 0, 15, 10, 31, batches++)),
  });
  await useCase.handle(batch(100));
  await new Promise((resolve) => setTimeout(resolve, 5));
  await useCase.handle(batch(200));
  await new Promise((resolve) => setTimeout(resolve, 5));
  remote.down = true;
  source.down = true;
  const third = batch(300);
  third.records['raw-logs-0']?.push(kafkaRecord(log(6, { source_ip: '10.9.9.9' }), { offset: 399 }));
  await useCase.handle(third);
  return publisher.published.map((message) => ({ topic: message.topic, key: message.key, value: String(message.value) }));
}
