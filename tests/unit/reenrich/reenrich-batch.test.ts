/**
 * The re-enricher's use case over the real enrich use case and lookup (fakes for Redis, PostgreSQL and the
 * publisher): partials are made by enrich with its sources down, then read back as records of the partial
 * topic and handed to ReenrichBatch, with a fake clock whose sleeps move it.
 */
import { silentLog } from '#shared/log-port.ts';
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import { ATTEMPT_HEADER, EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { type KafkaEventRecord, toPollerHeaderBytes } from '../../../functions/enrich/src/kafka-event.ts';
import { REENRICH_OUTCOMES, ReenrichBatch, type ReenrichReport } from '../../../functions/enrich/src/reenrich/reenrich-batch.ts';
import type { Coordinates } from '../../../functions/enrich/src/replay/rebuild.ts';
import { coordinatesKey } from '../../../functions/enrich/src/replay/tally.ts';
import { BATCH_TOPICS, buildLookup, enrichBatchSetup, FakePublisher, FakeRemoteCache, FakeSource, host, kafkaEvent, kafkaRecord, RecordingMetrics, rawLog, service } from '../enrich/fakes.ts';
import { expectValidEnrichedLog } from '../enrich/schema.ts';

const POLICY = { maxAttempts: 4, maxAgeMs: 3_600_000, backoffMs: 1000, backoffMaxMs: 8000 };
const START = Date.parse('2026-12-01T12:00:00.000Z');

/** Partials of `logs`, made by enrich while Redis and PostgreSQL are down, as records of the partial topic. */
async function partialsOf(logs: Record<string, unknown>[], options: { provenance?: boolean; at?: number } = {}): Promise<KafkaEventRecord[]> {
  const remote = new FakeRemoteCache();
  remote.down = true;
  const source = new FakeSource();
  source.down = true;
  const publisher = new FakePublisher();
  const { lookup } = buildLookup(remote, source, { provenance: options.provenance ?? true });
  const enrich = new EnrichBatch({ lookup, publisher, metrics: new RecordingMetrics(), topics: BATCH_TOPICS, reportBatchItemFailures: false, log: silentLog, wallClock: () => new Date(options.at ?? START) });
  await enrich.enrich(kafkaEvent(logs.map((log) => kafkaRecord(log))));
  return onPartialTopic(publisher.published);
}

let partialOffset = 0;
/** Published messages as the event source delivers them from the partial topic. */
function onPartialTopic(messages: readonly OutgoingMessage[]): KafkaEventRecord[] {
  return messages
    .filter((message) => message.topic === BATCH_TOPICS.partial)
    .map((message) => ({
      topic: 'partial',
      partition: 0,
      offset: partialOffset++,
      timestamp: START,
      timestampType: 'CREATE_TIME',
      key: Buffer.from(message.key).toString('base64'),
      value: Buffer.from(message.value).toString('base64'),
      headers: Object.entries(message.headers ?? {}).map(([name, value]) => ({ [name]: toPollerHeaderBytes(Buffer.from(value)) })),
    }));
}

/** A re-enricher whose sources are up (the metadata known), with a clock that sleeps move. */
function reenricher(options: { gate?: () => boolean; reportBatchItemFailures?: boolean; maxWaitMs?: number; reads?: Map<string, KafkaEventRecord | string>; provenance?: boolean } = {}) {
  const setup = enrichBatchSetup({ provenance: options.provenance ?? true, wallClock: () => new Date(now) });
  setup.source.hosts.push(host({ ipAddress: '10.1.1.1', hostname: 'api-01' }));
  setup.source.services.push(service({ name: 'checkout' }));
  let now = START;
  const slept: number[] = [];
  const reports: ReenrichReport[] = [];
  const read: Coordinates[][] = [];
  const batch = new ReenrichBatch({
    enrichBatch: setup.useCase,
    reader: {
      async read(wanted) {
        read.push([...wanted]);
        return new Map(wanted.map((each) => [coordinatesKey(each), options.reads?.get(coordinatesKey(each)) ?? 'not on raw-logs at its offset']));
      },
    },
    gate: { ready: options.gate ?? (() => true) },
    metrics: { reenrich: (report) => reports.push(report) },
    log: silentLog,
    policy: POLICY,
    maxWaitMs: options.maxWaitMs ?? 10_000,
    reportBatchItemFailures: options.reportBatchItemFailures ?? true,
    clock: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  });
  return { ...setup, batch, slept, reports, read, advance: (ms: number) => (now += ms), now: () => now };
}

/** The partials as their log's attempt `attempt` (the header the re-enricher reads first). */
function atAttempt(records: KafkaEventRecord[], attempt: number): KafkaEventRecord[] {
  return records.map((record) => ({ ...record, headers: [{ [ATTEMPT_HEADER]: toPollerHeaderBytes(Buffer.from(String(attempt))) }] }));
}

function expectAccounted(report: ReenrichReport | undefined): void {
  expect(report).toBeDefined();
  const sum = REENRICH_OUTCOMES.reduce((total, outcome) => total + (report as ReenrichReport)[outcome], 0);
  expect(sum).toBe((report as ReenrichReport).read);
}

// Received just before the partials are made: the age bound measures from received_at.
const known = () => rawLog({ source_ip: '10.1.1.1', service: 'checkout', received_at: new Date(START - 1000).toISOString() });

describe('ReenrichBatch', () => {
  it('enriches a partial again once it is due, to complete, with the same event_id and attempt 2', async () => {
    const log = known();
    const partials = await partialsOf([log]);
    const first = JSON.parse(Buffer.from(partials[0]?.value as string, 'base64').toString('utf8'));
    expect(first.enrichment.missing['host.hostname']).toBe('unavailable');
    // Enrich's own pass is attempt 1: said by neither the header nor the event.
    expect(first.enrichment.attempt).toBeUndefined();
    expect((partials[0]?.headers ?? []).some((entry) => ATTEMPT_HEADER in entry)).toBe(false);
    const { batch, publisher, slept, reports } = reenricher();

    const response = await batch.handle(kafkaEvent(partials));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(slept[0]).toBe(1000); // its enriched_at + the first backoff
    const [complete] = publisher.json(BATCH_TOPICS.complete);
    expect(complete).toMatchObject({ event_id: log.event_id, host: { hostname: 'api-01' }, enrichment: { status: 'complete', attempt: 2 } });
    expectValidEnrichedLog(complete);
    expect(publisher.published[0]?.headers?.[ATTEMPT_HEADER]).toBe('2');
    expect(reports[0]).toMatchObject({ read: 1, reenriched: 1, complete: 1, partial: 0, published: true });
    expectAccounted(reports[0]);
  });

  it('writes the attempt in the header only, and a valid v1 event, with provenance off', async () => {
    const partials = await partialsOf([known()], { provenance: false });
    const { batch, publisher } = reenricher({ provenance: false });

    await batch.handle(kafkaEvent(partials));

    const [complete] = publisher.json(BATCH_TOPICS.complete);
    expect(complete?.schema_version).toBe(1);
    expect(complete?.enrichment).toBeDefined();
    expect(complete?.enrichment).not.toHaveProperty('attempt');
    expectValidEnrichedLog(complete);
    expect(publisher.published[0]?.headers?.[ATTEMPT_HEADER]).toBe('2');
  });

  it('sends a log still unavailable back to partial one attempt further, due after a doubled backoff', async () => {
    const partials = await partialsOf([known()]);
    const { batch, publisher, source, remote, reports } = reenricher();
    source.down = true;
    remote.down = true;

    await batch.handle(kafkaEvent(partials));

    const again = onPartialTopic(publisher.published);
    expect(again).toHaveLength(1);
    expect(publisher.published[0]?.headers?.[ATTEMPT_HEADER]).toBe('2');
    expect(reports[0]).toMatchObject({ reenriched: 1, complete: 0, partial: 1 });
    // Attempt 3 is due 2 s after attempt 2: not within a 1 s wait, so it is handed back.
    const { batch: later } = reenricher({ maxWaitMs: 1000 });
    expect(await later.handle(kafkaEvent(again))).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'partial-0', offset: again[0]?.offset } }] });
  });

  it('leaves a partial missing only not_found fields, and publishes nothing', async () => {
    const partials = onPartialTopic((await enrichOnce([rawLog({ source_ip: '10.9.9.9', service: 'nobody', received_at: new Date(START - 1000).toISOString() })])).published);
    const { batch, publisher, reports } = reenricher();

    await batch.handle(kafkaEvent(partials));

    expect(publisher.published).toEqual([]);
    expect(reports[0]).toMatchObject({ read: 1, settled: 1, reenriched: 0 });
    expectAccounted(reports[0]);
  });

  it('leaves a log that has had its attempts, counted exhausted, and never tries it again', async () => {
    const [partial] = await partialsOf([known()]);
    const exhausted = { ...(partial as KafkaEventRecord), headers: [{ [ATTEMPT_HEADER]: toPollerHeaderBytes(Buffer.from(String(POLICY.maxAttempts))) }] };
    const { batch, publisher, reports } = reenricher();

    await batch.handle(kafkaEvent([exhausted]));

    expect(publisher.published).toEqual([]);
    expect(reports[0]).toMatchObject({ read: 1, exhausted: 1 });
  });

  it('leaves a log received longer ago than the maximum age', async () => {
    const partials = await partialsOf([known()]);
    const { batch, publisher, reports, advance } = reenricher();
    advance(POLICY.maxAgeMs + 60_000);

    await batch.handle(kafkaEvent(partials));

    expect(publisher.published).toEqual([]);
    expect(reports[0]).toMatchObject({ exhausted: 1 });
  });

  it('hands back, from the first record not due within the wait, the rest of its partition; what came before is done', async () => {
    const settledLater = onPartialTopic((await enrichOnce([rawLog({ source_ip: '10.9.9.9', service: 'nobody', received_at: new Date(START - 1000).toISOString() })])).published);
    const soon = await partialsOf([known()]);
    // Its third attempt: due 4 s after it was made, past the 3 s wait.
    const late = atAttempt(await partialsOf([known()]), 3);
    const after = onPartialTopic((await enrichOnce([rawLog({ source_ip: '10.9.9.9', service: 'nobody', received_at: new Date(START - 1000).toISOString() })])).published);
    const records = [...settledLater, ...soon, ...late, ...after];
    const { batch, publisher, reports, slept } = reenricher({ maxWaitMs: 3000 });

    const response = await batch.handle(kafkaEvent(records));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'partial-0', offset: late[0]?.offset } }] });
    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
    expect(reports[0]).toMatchObject({ read: 4, settled: 1, reenriched: 1, deferred: 2 });
    expectAccounted(reports[0]);
    // It waited its whole budget before handing back (handed back at once, it would come straight again).
    expect(slept.reduce((sum, ms) => sum + ms, 0)).toBe(3000);
  });

  it('waits for the sources while a breaker is open, and hands everything due back when they stay closed to calls', async () => {
    const partials = await partialsOf([known(), known()]);
    const { batch, publisher, reports, slept } = reenricher({ gate: () => false, maxWaitMs: 3000 });

    const response = await batch.handle(kafkaEvent(partials));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'partial-0', offset: partials[0]?.offset } }] });
    expect(publisher.published).toEqual([]);
    expect(slept.reduce((sum, ms) => sum + ms, 0)).toBe(3000);
    expect(reports[0]).toMatchObject({ read: 2, deferred: 2, reenriched: 0 });
  });

  it('tries as soon as the gate opens while it waits', async () => {
    const partials = await partialsOf([known()]);
    let polls = 0;
    const { batch, publisher } = reenricher({ gate: () => ++polls > 3, maxWaitMs: 10_000 });

    await batch.handle(kafkaEvent(partials));

    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
  });

  it('without partial batch responses, fails a batch with anything handed back and publishes none of it', async () => {
    const soon = await partialsOf([known()]);
    // Its third attempt: due 4 s after it was made, past the 3 s wait.
    const late = atAttempt(await partialsOf([known()]), 3);
    const { batch, publisher, reports, slept } = reenricher({ reportBatchItemFailures: false, maxWaitMs: 3000 });

    await expect(batch.handle(kafkaEvent([...soon, ...late]))).rejects.toThrow(/handed back/);

    expect(publisher.published).toEqual([]);
    expect(reports[0]).toMatchObject({ read: 2, deferred: 2 });
    expect(slept.reduce((sum, ms) => sum + ms, 0)).toBe(3000);
  });

  it('waits for a record due within its budget, then enriches it', async () => {
    // Prepare: the head of the partition is due 4 s after it was made; the budget is 10 s
    const late = atAttempt(await partialsOf([known()]), 3);
    const { batch, publisher, slept } = reenricher({ maxWaitMs: 10_000 });
    // Act
    await batch.handle(kafkaEvent(late));
    // Assess: due within the budget, so not handed back: it waits 4 s and is enriched
    expect(slept).toEqual([4000]);
    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
  });

  it('takes a partial written by a clock ahead of its own as made now (one backoff, not the skew on top)', async () => {
    const ahead = await partialsOf([known()], { at: START + 6 * 3_600_000 });
    const { batch, publisher, slept } = reenricher({ maxWaitMs: 5000 });

    await batch.handle(kafkaEvent(ahead));

    expect(slept[0]).toBe(1000);
    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
  });

  it('hands every partition back from its first record when the outputs cannot be published', async () => {
    const partials = await partialsOf([known(), known()]);
    const { batch, publisher, reports } = reenricher();
    publisher.failing = true;

    const response = await batch.handle(kafkaEvent(partials));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'partial-0', offset: partials[0]?.offset } }] });
    expect(reports[0]?.published).toBe(false);
  });

  it('enriches a partial met twice in one batch once', async () => {
    const [partial] = await partialsOf([known()]);
    const twice = [partial as KafkaEventRecord, { ...(partial as KafkaEventRecord), offset: (partial as KafkaEventRecord).offset + 1000 }];
    const { batch, publisher } = reenricher();

    await batch.handle(kafkaEvent(twice));

    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
  });

  it('counts a record that is no partial of ours unreadable and goes on', async () => {
    const junk = { ...kafkaRecord('not json at all'), topic: 'partial', value: Buffer.from('not json').toString('base64') };
    const partials = await partialsOf([known()]);
    const { batch, publisher, reports } = reenricher();

    await batch.handle(kafkaEvent([{ ...junk, offset: 9_999_998 }, ...partials.map((each) => ({ ...each, offset: 9_999_999 }))]));

    expect(publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
    expect(reports[0]).toMatchObject({ read: 2, unreadable: 1, reenriched: 1 });
    expectAccounted(reports[0]);
  });

  it('reads an OTLP partial’s raw record back by its coordinates, and counts one it cannot find unrecoverable', async () => {
    const raw = kafkaRecord(known());
    const otlp = enrichBatchSetup({ outputEncoding: 'otlp_json', wallClock: () => new Date(START) });
    otlp.source.down = true;
    otlp.remote.down = true;
    await otlp.useCase.enrich(kafkaEvent([raw]));
    const partials = onPartialTopic(otlp.publisher.published);
    expect(partials).toHaveLength(1);
    const found = reenricher({ reads: new Map([[coordinatesKey(raw), raw]]) });

    await found.batch.handle(kafkaEvent(partials));

    expect(found.read).toEqual([[{ topic: raw.topic, partition: raw.partition, offset: raw.offset }]]);
    expect(found.publisher.json(BATCH_TOPICS.complete)).toHaveLength(1);
    const missing = reenricher();
    await missing.batch.handle(kafkaEvent(partials));
    expect(missing.publisher.published).toEqual([]);
    expect(missing.reports[0]).toMatchObject({ read: 1, unrecoverable: 1, reenriched: 0 });
    expectAccounted(missing.reports[0]);
  });

  it('enriches again only the log of a multi-log OTLP request its partial is about, never its siblings', async () => {
    // Prepare: one OTLP/JSON request of three logs, partial while the sources are down (our JSON output: one
    // partial per log, each naming its index in the request)
    const body = (text: string) => ({ timeUnixNano: String(BigInt(START - 1000) * 1_000_000n), severityText: 'ERROR', body: { stringValue: text } });
    const request = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'api-01' } }] },
          scopeLogs: [{ logRecords: [body('a'), body('b'), body('c')] }],
        },
      ],
    };
    const raw = kafkaRecord(Buffer.from(JSON.stringify(request)).toString('base64'), { timestamp: START - 1000 });
    const down = enrichBatchSetup({ provenance: true, wallClock: () => new Date(START) });
    down.source.down = true;
    down.remote.down = true;
    await down.useCase.enrich(kafkaEvent([raw]));
    const partials = onPartialTopic(down.publisher.published);
    expect(partials).toHaveLength(3);
    const second = JSON.parse(Buffer.from(partials[1]?.value as string, 'base64').toString('utf8'));
    expect(second.source.index).toBe(1);
    const { batch, publisher, reports } = reenricher({ reads: new Map([[coordinatesKey(raw), raw]]) });

    // Act: the re-enricher meets only the second log's partial
    await batch.handle(kafkaEvent([partials[1] as KafkaEventRecord]));

    // Assess: that log, complete at attempt 2; its siblings are neither published nor counted again
    expect(publisher.published.map((message) => JSON.parse(String(message.value)).event_id)).toEqual([second.event_id]);
    expect(publisher.json(BATCH_TOPICS.complete)).toMatchObject([{ event_id: second.event_id, enrichment: { attempt: 2 } }]);
    expect(reports[0]).toMatchObject({ reenriched: 1, complete: 1, partial: 0 });
  });

  it('ends its waits at once on stop, handing what waited back', async () => {
    const partials = await partialsOf([known()]);
    const { batch, publisher } = reenricher({ gate: () => false });
    batch.stop();

    const response = await batch.handle(kafkaEvent(partials));

    expect(response?.batchItemFailures).toHaveLength(1);
    expect(publisher.published).toEqual([]);
  });
});

/** Enrich with its sources up (the known metadata only): for not_found partials. */
async function enrichOnce(logs: Record<string, unknown>[]): Promise<FakePublisher> {
  const setup = enrichBatchSetup({ provenance: true, wallClock: () => new Date(START) });
  await setup.useCase.enrich(kafkaEvent(logs.map((log) => kafkaRecord(log))));
  return setup.publisher;
}
