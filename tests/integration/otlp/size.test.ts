/**
 * No OTLP output larger than the brokers take, on the real services: the real enrich function behind the
 * local runner publishes through a real KafkaPublisher whose KAFKA_MESSAGE_MAX_BYTES is lowered to 64 KiB
 * (the broker itself takes 1 MiB: the publisher refuses up front, as it would at the brokers' limit). A
 * request whose logs together are too large for one output comes out as several, every log once and in
 * order; a log too large alone is dead-lettered, saying its size and the limit; the batch is never failed
 * for it (before, the publisher's MessageTooLargeError failed it on every redelivery).
 */
import { randomUUID } from 'node:crypto';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { otlpRequest, produceOtlp, type SdkResource } from '../../support/otlp-sdk.ts';
import { deleteTopics, enrichTestEnv, MetadataSeed, type Topics, throwawayTopics, uniqueNetwork } from '../enrich/support.ts';
import { collectRawOutputs, otlpViews, type RawOutputs } from './support.ts';

const LIMIT = 65_536;
const id = randomUUID().slice(0, 8);
const known = { hostname: `big-${id}`, ipAddress: uniqueNetwork().ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
const service = { name: `bulk-${id}`, team: 'bulk', owner: 'bob@example.com', tier: 'tier-2', version: '3.1.0', costCenter: 'cc-200' };
const resource = { 'service.name': service.name, 'host.name': known.hostname };

/** 300 logs of ~400 bytes: ~130 KB in, too large for one 64 KiB output once enriched. */
const MANY: SdkResource[] = [{ attributes: resource, scopes: [{ name: 'bulk', logs: Array.from({ length: 300 }, (_, i) => ({ body: `${i} ${'x'.repeat(400)}` })) }] }];
/** Three logs, the second with an 80 KB attribute: its output alone is over the limit. */
const ONE_TOO_LARGE: SdkResource[] = [{ attributes: resource, scopes: [{ name: 'bulk', logs: [{ body: 'before' }, { body: 'huge', attributes: { payload: 'p'.repeat(80_000) } }, { body: 'after' }] }] }];

const seed = new MetadataSeed();
const state: { topics?: Topics; runner?: EnrichRunner; outputs?: RawOutputs } = {};
const logsOf = (outputs: RawOutputs) => [...outputs.complete, ...outputs.partial].flatMap((output) => otlpViews(output.value, 'otlp_proto'));

beforeAll(async () => {
  await seed.host(known);
  await seed.service(service);
  state.topics = await throwawayTopics('otlp-size', 1);
  state.runner = await startEnrichRunner({
    env: enrichTestEnv(state.topics, { OUTPUT_ENCODING: 'otlp_proto', KAFKA_MESSAGE_MAX_BYTES: String(LIMIT) }),
    topic: state.topics.raw,
    groupId: `otlp-size-test-${randomUUID()}`,
    batchWindowMs: 100,
  });
  await produceOtlp(state.topics.raw, [{ value: await otlpRequest(MANY, 'otlp_proto') }, { value: await otlpRequest(ONE_TOO_LARGE, 'otlp_proto') }]);
  state.outputs = await collectRawOutputs(state.topics, (out) => logsOf(out).length >= 302 && out.dlq.length >= 1);
});

afterAll(async () => {
  await state.runner?.stop();
  await deleteTopics(state.topics);
  await seed.cleanup();
});

it('splits the outputs of a request too large for one, every log once and in order, none over the limit', () => {
  // Assess
  const outputs = state.outputs as RawOutputs;
  const many = outputs.complete.filter((output) => otlpViews(output.value, 'otlp_proto')[0]?.record.attributes['enrichment.source.offset'] === 0n);
  expect(many.length).toBeGreaterThan(2);
  for (const output of [...outputs.complete, ...outputs.partial]) expect(output.value.length).toBeLessThanOrEqual(LIMIT);
  const indexes = many.flatMap((output) => otlpViews(output.value, 'otlp_proto').map((log) => Number(log.record.attributes['enrichment.source.index'])));
  expect(indexes).toEqual(Array.from({ length: 300 }, (_, i) => i));
  expect(outputs.partial).toEqual([]);
});

it('dead-letters the one log whose output alone is too large, with its size and the limit, and publishes its neighbours', () => {
  // Assess
  const outputs = state.outputs as RawOutputs;
  expect(outputs.dlq).toEqual([
    expect.objectContaining({
      reason: 'invalid',
      problems: [{ field: '(output)', reason: expect.stringMatching(new RegExp(`^is \\d+ bytes as otlp_proto, larger than the brokers' limit of ${LIMIT} bytes`)) }],
      source: expect.objectContaining({ offset: 1, index: 1 }),
    }),
  ]);
  const neighbours = logsOf(outputs).filter((log) => log.record.attributes['enrichment.source.offset'] === 1n);
  expect(neighbours.map((log) => log.record.body)).toEqual(['before', 'after']);
});
