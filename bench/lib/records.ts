/**
 * `raw-logs` records as ingest writes them (validated log + event_id + timestamps, keyed by source_ip),
 * drawn from the load mix so the enricher meets the same spread of known and unknown hosts and services.
 */
import { randomUUID } from 'node:crypto';
import type { IngestedLogRecord } from '#shared/schemas/log.ts';
import { createLogMix, type MixCatalog } from '../../load/lib/mix.ts';
import type { KafkaRecordFixture } from './kafka-fixtures.ts';

export interface RawFixture extends KafkaRecordFixture {
  eventId: string;
}

/**
 * @example
 * const records = rawRecords(catalog, 10_000);
 */
export function rawRecords(catalog: MixCatalog, count: number, runId = randomUUID().slice(0, 8)): RawFixture[] {
  const next = createLogMix(catalog, { runId });
  const now = new Date().toISOString();
  return Array.from({ length: count }, () => {
    const { log } = next();
    const record = { ...log, event_id: randomUUID(), timestamp: now, received_at: now } satisfies IngestedLogRecord;
    return { eventId: record.event_id, key: Buffer.from(record.source_ip), value: Buffer.from(JSON.stringify(record)) };
  });
}
