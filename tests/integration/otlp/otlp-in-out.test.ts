/**
 * OTLP in and out on the real services: log requests emitted through the OpenTelemetry JS logs SDK and
 * serialized by its OTLP transformer (tests/support/otlp-sdk.ts) are produced onto a throwaway raw topic, in
 * protobuf and in OTLP/JSON, sniffed (no header, as a Collector's Kafka exporter writes them) and announced by
 * a `content-type` header; the real enrich function behind the local runner enriches them from PostgreSQL and
 * Redis; the outputs are read back from the real output topics in each OUTPUT_ENCODING (with OTLP, one request
 * per raw record, topic and resource; none above the brokers' limit, here lowered). OTLP outputs are
 * decoded with protobufjs from the vendored official .proto text (tests/support/otlp-proto.ts), never with the
 * pipeline's own generated types.
 */
import { randomUUID } from 'node:crypto';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { derivedEventId } from '../../../functions/enrich/src/log-event.ts';
import type { OutputEncoding } from '../../../functions/enrich/src/otlp/types.ts';
import { encodedResources, otlpJsonProblems } from '../../support/otlp-proto.ts';
import { expectValidEnrichedLog } from '../../unit/enrich/schema.ts';
import { CONTENT_TYPE, logPositions, type OtlpEncoding, otlpRequest, produceOtlp, type SdkResource, SeverityNumber, serializeLogs } from '../../support/otlp-sdk.ts';
import { deleteTopics, enrichTestEnv, MetadataSeed, type Topics, throwawayTopics, uniqueNetwork } from '../enrich/support.ts';
import { collectRawOutputs, type OtlpLogView, type RawOutput, type RawOutputs, otlpView, otlpViews } from './support.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const LOGGED_AT_MS = 1_764_504_000_123;

const id = randomUUID().slice(0, 8);
const net = uniqueNetwork();
const known = { hostname: `web-${id}`, ipAddress: net.ip(10), datacenter: 'dc-east-1', environment: 'production', costCenter: 'cc-100' };
const service = { name: `orders-${id}`, team: 'orders', owner: 'bob@example.com', tier: 'tier-2', version: '3.1.0', costCenter: 'cc-200' };

/**
 * One request, three resources, four scopes, five log records: a host named by `host.name`, a host found by its
 * resource's `host.ip` (its record's `client.address`, a remote client, is no lookup key), and a service and host
 * nobody registered (partial).
 */
const REQUEST: SdkResource[] = [
  {
    attributes: { 'service.name': service.name, 'host.name': known.hostname, 'service.namespace': 'shop', 'cloud.region': 'eu-west-1', 'k8s.pod.name': `pod-${id}` },
    scopes: [
      {
        name: 'checkout.http',
        version: '1.4.0',
        attributes: { 'scope.kind': 'http' },
        logs: [
          {
            body: `paid ${id}`,
            severityNumber: SeverityNumber.ERROR,
            severityText: 'ERROR',
            timestamp: LOGGED_AT_MS,
            attributes: { 'http.route': '/pay', 'retry.count': 3, amount: 12.5, ok: true, tags: ['a', 'b'] },
            span: { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 },
          },
          { body: `slow ${id}`, severityNumber: SeverityNumber.WARN2 },
        ],
      },
      { name: 'checkout.db', logs: [{ eventName: 'db.query', body: { statement: 'SELECT 1', rows: 0 }, severityText: 'info' }] },
    ],
  },
  {
    attributes: { 'service.name': service.name, 'host.ip': [known.ipAddress] },
    scopes: [{ name: 'worker', logs: [{ body: `by address ${id}`, attributes: { 'client.address': '203.0.113.7' } }] }],
  },
  { attributes: { 'service.name': `ghost-${id}`, 'host.name': `nowhere-${id}` }, scopes: [{ name: 'ghost', logs: [{ body: `partial ${id}` }] }] },
];
const POSITIONS = logPositions(REQUEST);

/** Two logs, the second with neither body nor event name: the contract refuses it alone. */
const WITH_INVALID: SdkResource[] = [
  { attributes: { 'service.name': service.name, 'host.name': known.hostname }, scopes: [{ name: 'app', logs: [{ body: `fine ${id}` }, { severityNumber: SeverityNumber.INFO }] }] },
];

/** What goes onto the raw topic, in this order (one partition: offsets 0, 1, 2, …). */
interface Produced {
  offset: number;
  encoding: OtlpEncoding;
  headers?: Record<string, string>;
}
const MAIN: Produced[] = [
  { offset: 0, encoding: 'otlp_proto' },
  { offset: 1, encoding: 'otlp_json' },
  { offset: 2, encoding: 'otlp_proto', headers: { 'content-type': CONTENT_TYPE.otlp_proto } },
  { offset: 3, encoding: 'otlp_json', headers: { 'content-type': 'Application/JSON; charset=utf-8' } },
];
const INVALID_AT = 4;
const EMPTY_AT = 5;
const EXPECTED_OUTPUTS = MAIN.length * POSITIONS.length + 1;
/**
 * OTLP requests: per MAIN record one per resource (three, the first holding positions 0-2 in its two scopes),
 * and the one valid log of INVALID_AT.
 */
const EXPECTED_REQUESTS = MAIN.length * REQUEST.length + 1;

const seed = new MetadataSeed();

beforeAll(async () => {
  await seed.host(known);
  await seed.service(service);
  await seed.network({ cidr: net.cidr, datacenter: 'dc-net', environment: 'staging', zone: 'zone-b' });
});

afterAll(async () => {
  await seed.cleanup();
});

async function produceAll(topics: Topics): Promise<void> {
  await produceOtlp(topics.raw, [
    ...(await Promise.all(MAIN.map(async (entry) => ({ value: await otlpRequest(REQUEST, entry.encoding), ...(entry.headers === undefined ? {} : { headers: entry.headers }) })))),
    { value: await otlpRequest(WITH_INVALID, 'otlp_proto') },
    // The SDK's JSON serializer for no log records at all.
    { value: serializeLogs([], 'otlp_json') },
  ]);
}

const enrichedCount = (outputs: RawOutputs) => outputs.complete.length + outputs.partial.length;

/** A test's own raw topic (one partition), output topics and runner with OUTPUT_ENCODING = `encoding`. */
function pipelineWith(encoding: OutputEncoding) {
  const state: { topics?: Topics; runner?: EnrichRunner; outputs?: RawOutputs } = {};
  beforeAll(async () => {
    state.topics = await throwawayTopics(`otlp-${encoding.replace('_', '')}`, 1);
    state.runner = await startEnrichRunner({
      env: enrichTestEnv(state.topics, { OUTPUT_ENCODING: encoding }),
      topic: state.topics.raw,
      groupId: `otlp-test-${randomUUID()}`,
      batchWindowMs: 100,
    });
    await produceAll(state.topics);
    const expected = encoding === 'json' ? EXPECTED_OUTPUTS : EXPECTED_REQUESTS;
    state.outputs = await collectRawOutputs(state.topics, (out) => enrichedCount(out) >= expected && out.dlq.length >= 2);
  });
  afterAll(async () => {
    await state.runner?.stop();
    await deleteTopics(state.topics);
  });
  return state as Required<typeof state>;
}

describe('OUTPUT_ENCODING=json: OTLP logs in, our JSON out', () => {
  const pipeline = pipelineWith('json');
  const json = () => [...pipeline.outputs.complete, ...pipeline.outputs.partial].map((output) => JSON.parse(output.value.toString('utf8')) as Record<string, unknown>);
  const at = (offset: number, index: number) => json().find((log) => (log.source as { offset: number; index?: number }).offset === offset && (log.source as { index?: number }).index === index);

  it('gives one output per log record, from both encodings, sniffed or by header, each with its source index', () => {
    // Assess
    const outputs = json();
    expect(outputs).toHaveLength(EXPECTED_OUTPUTS);
    for (const { offset } of MAIN) {
      expect(outputs.filter((log) => (log.source as { offset: number }).offset === offset).map((log) => (log.source as { index: number }).index).sort()).toEqual(POSITIONS.map((p) => p.index));
    }
    for (const output of outputs) expectValidEnrichedLog(output);
    // event_id: UUID v5 of <topic>/<partition>/<offset>/<index>, listed as derived
    for (const log of outputs) {
      const source = log.source as { topic: string; partition: number; offset: number; index: number };
      expect(log.event_id).toBe(derivedEventId(source, source.index));
      expect(log.enrichment).toMatchObject({ derived: expect.arrayContaining(['event_id']) });
    }
    expect(new Set(outputs.map((log) => log.event_id)).size).toBe(outputs.length);
  });

  it('maps body, severity, time, trace ids and the resource, and enriches host and service from the metadata', () => {
    for (const { offset } of MAIN) {
      // Assess
      expect(at(offset, 0)).toMatchObject({
        message: `paid ${id}`,
        level: 'ERROR',
        timestamp: new Date(LOGGED_AT_MS).toISOString(),
        trace_id: TRACE_ID,
        hostname: known.hostname,
        service: { name: service.name, team: 'orders', owner: 'bob@example.com', tier: 'tier-2', version: '3.1.0', cost_center: 'cc-200' },
        host: { hostname: known.hostname, datacenter: 'dc-east-1', environment: 'production', cost_center: 'cc-100' },
        enrichment: { status: 'complete' },
        source: { partition: 0, offset, index: 0 },
        attributes: {
          'http.route': '/pay',
          'retry.count': 3,
          amount: 12.5,
          ok: true,
          tags: ['a', 'b'],
          'otel.scope.name': 'checkout.http',
          'otel.scope.version': '1.4.0',
          'otlp.span_id': SPAN_ID,
          'otlp.resource': { 'service.namespace': 'shop', 'cloud.region': 'eu-west-1', 'k8s.pod.name': `pod-${id}` },
        },
      });
      expect(at(offset, 1)).toMatchObject({ message: `slow ${id}`, level: 'WARN' });
      expect(at(offset, 2)).toMatchObject({ message: JSON.stringify({ statement: 'SELECT 1', rows: 0 }), level: 'INFO', attributes: { 'otel.scope.name': 'checkout.db', 'otlp.event_name': 'db.query', 'otlp.body': { statement: 'SELECT 1', rows: 0 } } });
      // Found by the resource's host.ip (not the record's client.address): the registered host, with the network's zone.
      expect(at(offset, 3)).toMatchObject({ source_ip: known.ipAddress, host: { hostname: known.hostname, ip: known.ipAddress, zone: 'zone-b' }, enrichment: { status: 'complete' } });
    }
  });

  it('sends a log nobody registered to partial, saying what is missing', () => {
    for (const { offset } of MAIN) {
      expect(at(offset, 4)).toMatchObject({
        message: `partial ${id}`,
        enrichment: { status: 'partial', missing: { 'host.cost_center': 'not_found', 'service.team': 'not_found' } },
      });
    }
    expect(pipeline.outputs.partial).toHaveLength(MAIN.length);
  });

  it('dead-letters the one log record the contract refuses, replayable as a request of that record alone', () => {
    // Assess: its neighbour is enriched
    expect(at(INVALID_AT, 0)).toMatchObject({ message: `fine ${id}`, enrichment: { status: 'complete' } });
    const letter = pipeline.outputs.dlq.find((candidate) => (candidate.source as { offset: number }).offset === INVALID_AT);
    expect(letter).toMatchObject({
      reason: 'invalid',
      problems: [expect.objectContaining({ field: 'resourceLogs[0].scopeLogs[0].logRecords[1].body' })],
      source: { partition: 0, offset: INVALID_AT, index: 1 },
    });
    const original = (letter?.original as { value?: string } | undefined)?.value ?? '';
    const replay = otlpView(Buffer.from(original, 'base64'), 'otlp_proto');
    expect(replay).toMatchObject({ resourceCount: 1, scopeCount: 1, recordCount: 1, resource: { 'host.name': known.hostname }, scope: { name: 'app' }, record: { severityNumber: SeverityNumber.INFO } });
  });

  it('dead-letters a request that holds no log records', () => {
    const letter = pipeline.outputs.dlq.find((candidate) => (candidate.source as { offset: number }).offset === EMPTY_AT);
    expect(letter).toMatchObject({ reason: 'invalid', problems: [expect.objectContaining({ reason: expect.stringContaining('holds no log records') })] });
  });
});

describe.each(['otlp_proto', 'otlp_json'] as const)('OUTPUT_ENCODING=%s: OTLP logs in, OTLP out', (encoding) => {
  const pipeline = pipelineWith(encoding);
  const views = () => [...pipeline.outputs.complete, ...pipeline.outputs.partial].flatMap((output) => otlpViews(output.value, encoding).map((view) => ({ output, view })));
  const at = (offset: number, index: number) =>
    views().find(({ view }) => view.record.attributes['enrichment.source.offset'] === BigInt(offset) && view.record.attributes['enrichment.source.index'] === BigInt(index));
  const viewAt = (offset: number, index: number): OtlpLogView => {
    const found = at(offset, index);
    if (found === undefined) throw new Error(`no output for offset ${offset} index ${index}`);
    return found.view;
  };

  it('gives one ExportLogsServiceRequest per raw record and resource, its logs in input order, keyed by its first log, with its content-type', () => {
    // Assess
    const outputs = [...pipeline.outputs.complete, ...pipeline.outputs.partial];
    expect(outputs).toHaveLength(EXPECTED_REQUESTS);
    expect(views()).toHaveLength(EXPECTED_OUTPUTS);
    const indexesOf = (logs: OtlpLogView[]) => logs.map((log) => Number(log.record.attributes['enrichment.source.index']));
    for (const output of outputs) {
      const logs = otlpViews(output.value, encoding);
      expect(output.headers['content-type']).toBe(CONTENT_TYPE[encoding]);
      expect(logs[0]?.resourceCount).toBe(1);
      // log.record.uid: the same derived event id as our JSON output; the output's Kafka key is its first log's
      for (const log of logs) {
        const source = { topic: pipeline.topics.raw, partition: 0, offset: Number(log.record.attributes['enrichment.source.offset']) };
        expect(log.record.attributes['log.record.uid']).toBe(derivedEventId(source, Number(log.record.attributes['enrichment.source.index'])));
      }
      expect(output.key).toBe(logs[0]?.record.attributes['log.record.uid']);
      if (encoding === 'otlp_json') expect(otlpJsonProblems(JSON.parse(output.value.toString('utf8')))).toEqual([]);
    }
    for (const { offset } of MAIN) {
      const mine = outputs.map((output) => otlpViews(output.value, encoding)).filter((logs) => logs[0]?.record.attributes['enrichment.source.offset'] === BigInt(offset));
      // Resource 1 (two scopes, three logs), resource 2, resource 3 (partial)
      expect(mine.map(indexesOf).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))).toEqual([[0, 1, 2], [3], [4]]);
      expect(mine.find((logs) => logs.length === 3)?.map((log) => log.scope?.name)).toEqual(['checkout.http', 'checkout.http', 'checkout.db']);
      expect(mine.find((logs) => logs.length === 3)?.[0]).toMatchObject({ resourceCount: 1, scopeCount: 2, recordCount: 3 });
    }
  });

  it('carries host.name and deployment.environment.name from the metadata, the host and service enrichment under enrichment.*, and the resource as received', () => {
    for (const { offset } of MAIN) {
      // Assess
      const view = viewAt(offset, 0);
      expect(view.resource).toMatchObject({
        'service.name': service.name,
        'service.version': '3.1.0',
        'service.namespace': 'shop',
        'host.name': known.hostname,
        'deployment.environment.name': 'production',
        'cloud.region': 'eu-west-1',
        'k8s.pod.name': `pod-${id}`,
        'enrichment.service.team': 'orders',
        'enrichment.service.owner': 'bob@example.com',
        'enrichment.service.tier': 'tier-2',
        'enrichment.service.cost_center': 'cc-200',
        'enrichment.host.datacenter': 'dc-east-1',
        'enrichment.host.cost_center': 'cc-100',
        'enrichment.status': 'complete',
      });
      // What differs from one log to the next is on the record, not the resource.
      expect(Object.keys(view.resource).filter((key) => key.startsWith('enrichment.source.') || ['enrichment.enriched_at', 'enrichment.latency_ms', 'enrichment.received_at', 'enrichment.derived'].includes(key))).toEqual([]);
      expect(view.record.attributes).toMatchObject({
        'enrichment.source.topic': pipeline.topics.raw,
        'enrichment.source.partition': 0n,
        'enrichment.source.offset': BigInt(offset),
        'enrichment.source.index': 0n,
        'enrichment.derived': ['event_id', 'received_at'],
      });
      expect(typeof view.record.attributes['enrichment.enriched_at']).toBe('string');
      expect(typeof view.record.attributes['enrichment.received_at']).toBe('string');
      expect(typeof view.record.attributes['enrichment.latency_ms']).toBe('number');
      // The host found by the resource's host.ip: its registered name and address, the network's zone.
      expect(viewAt(offset, 3).resource).toMatchObject({ 'host.name': known.hostname, 'host.ip': [known.ipAddress], 'cloud.availability_zone': 'zone-b', 'deployment.environment.name': 'production' });
    }
  });

  it('gives the logs of one host and service identical resources, across Kafka records and input encodings', () => {
    // Assess: positions 0-2 share the SDK's first resource; position 3 names its host by host.ip only
    const resourceOf = (offset: number, index: number) => {
      const found = at(offset, index);
      if (found === undefined) throw new Error(`no output for offset ${offset} index ${index}`);
      return encoding === 'otlp_proto' ? encodedResources(found.output.value) : (JSON.parse(found.output.value.toString('utf8')) as { resourceLogs: { resource: unknown }[] }).resourceLogs.map((r) => r.resource);
    };
    const shared = resourceOf(0, 0);
    expect(shared).toHaveLength(1);
    for (const { offset } of MAIN) {
      for (const index of [0, 1, 2]) expect({ offset, index, resource: resourceOf(offset, index) }).toEqual({ offset, index, resource: shared });
      expect(resourceOf(offset, 3)).not.toEqual(shared);
      expect(resourceOf(offset, 3)).toEqual(resourceOf(0, 3));
    }
  });

  it('keeps the log record and its scope as the SDK wrote them, with log.record.uid = event_id', () => {
    for (const { offset } of MAIN) {
      // Assess
      const paid = viewAt(offset, 0);
      expect(paid.scope).toEqual({ name: 'checkout.http', version: '1.4.0', attributes: { 'scope.kind': 'http' } });
      expect(paid.record).toMatchObject({
        body: `paid ${id}`,
        severityNumber: SeverityNumber.ERROR,
        severityText: 'ERROR',
        timeUnixNano: `${LOGGED_AT_MS}000000`,
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        flags: 1,
        attributes: { 'http.route': '/pay', 'retry.count': 3n, amount: 12.5, ok: true, tags: ['a', 'b'] },
      });
      const query = viewAt(offset, 2);
      expect(query.scope?.name).toBe('checkout.db');
      expect(query.record).toMatchObject({ eventName: 'db.query', body: { statement: 'SELECT 1', rows: 0n }, severityText: 'info' });
    }
  });

  it('sends a log nobody registered to partial, enrichment.missing saying what is missing', () => {
    expect(pipeline.outputs.partial).toHaveLength(MAIN.length);
    for (const output of pipeline.outputs.partial) {
      const view = otlpView(output.value, encoding);
      expect(view.record.body).toBe(`partial ${id}`);
      expect(view.resource).toMatchObject({
        'service.name': `ghost-${id}`,
        'host.name': `nowhere-${id}`,
        'enrichment.status': 'partial',
        'enrichment.missing': expect.objectContaining({ 'host.cost_center': 'not_found', 'service.team': 'not_found' }),
      });
      expect(view.resource['deployment.environment.name']).toBeUndefined();
    }
  });

  it('keeps dead letters in our JSON', () => {
    expect(pipeline.outputs.dlq.map((letter) => (letter.source as { offset: number }).offset).sort()).toEqual([INVALID_AT, EMPTY_AT]);
  });
});

describe('redelivery of an OTLP record', () => {
  const pipeline = pipelineWith('otlp_proto');

  it('gives every log record the same event_id, source index and request (by its key) again', async () => {
    // Prepare: what the first delivery published, by position
    const identity = (output: RawOutput) =>
      otlpViews(output.value, 'otlp_proto').map((view) => `${view.record.attributes['enrichment.source.offset']}/${view.record.attributes['enrichment.source.index']} ${view.record.attributes['log.record.uid']} key ${output.key}`);
    const first = [...pipeline.outputs.complete, ...pipeline.outputs.partial].flatMap(identity).sort();
    // Act: a second consumer group reads the same raw records again (as after a lost commit)
    const again = await startEnrichRunner({
      env: enrichTestEnv(pipeline.topics, { OUTPUT_ENCODING: 'otlp_proto' }),
      topic: pipeline.topics.raw,
      groupId: `otlp-test-again-${randomUUID()}`,
      batchWindowMs: 100,
    });
    let outputs: RawOutputs;
    try {
      outputs = await collectRawOutputs(pipeline.topics, (out) => enrichedCount(out) >= 2 * EXPECTED_REQUESTS);
    } finally {
      await again.stop();
    }
    // Assess: each identity twice, none new
    const both = [...outputs.complete, ...outputs.partial].flatMap(identity).sort();
    expect(both).toHaveLength(2 * EXPECTED_OUTPUTS);
    expect([...new Set(both)].sort()).toEqual(first);
    expect(new Set(first).size).toBe(EXPECTED_OUTPUTS);
  });
});
