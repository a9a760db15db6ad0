/**
 * bench:enrich — throughput of the enrich handler in-process (a benchmark, not a test).
 *
 * Runs the raw enrich function (envelope validation → decode → lookups → merge → branch → publish) over many
 * MSK-shaped batches with warm caches and a realistic mix (known hosts, unknown hosts inside and outside known
 * networks, logs carrying their hostname, a few unknown services). The publisher only counts bytes: this
 * measures the handler, not Kafka.
 *
 *   npm run bench:enrich                         # Redis and PostgreSQL stand-ins answering in-process
 *   npm run bench:enrich -- --real               # real Redis + PostgreSQL (REDIS_URL, DATABASE_URL): adds the
 *                                                # per-batch Redis round trip (version + breaker reports)
 *   npm run bench:enrich -- --batches 3000 --batch-size 100
 *   npm run bench:enrich -- --otlp               # the same mix as OTLP: each record an ExportLogsServiceRequest
 *                                                # in protobuf holding one log record (as a Collector's Kafka
 *                                                # exporter writes it, no content-type header: sniffed), and
 *                                                # OUTPUT_ENCODING=otlp_proto
 *   npm run bench:enrich -- --otlp --otlp-logs-per-request 100 --batch-size 10 --batches 300
 *                                                # Collector-shaped: each record a request of 100 log records
 *                                                # under 4 resources (--otlp-resources-per-request), as a
 *                                                # Collector's batch processor on a node hands them on: its
 *                                                # few hosts and services, many records each
 *
 * Prints records/s (log records: with OTLP a Kafka record holds --otlp-logs-per-request of them), and per
 * record: latency p50/p99 (batch start → outputs handed to the publisher; every record of a batch completes
 * together) and cost p50/p99 (batch time / records).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '3000' },
    'batch-size': { type: 'string', default: '100' },
    warmup: { type: 'string', default: '400' },
    real: { type: 'boolean', default: false },
    otlp: { type: 'boolean', default: false },
    'otlp-logs-per-request': { type: 'string', default: '1' },
    'otlp-resources-per-request': { type: 'string', default: '4' },
  },
});
const OTLP = args.otlp;
const BATCHES = Number(args.batches);
const BATCH_SIZE = Number(args['batch-size']);
const WARMUP = Number(args.warmup);
/** Log records per Kafka record (OTLP only), and the resources they come under (at most as many). */
const LOGS_PER_RECORD = OTLP ? Number(args['otlp-logs-per-request']) : 1;
const RESOURCES_PER_RECORD = Math.min(LOGS_PER_RECORD, Number(args['otlp-resources-per-request']));

// Imported after the environment above is set: the shared logger reads it at load.
const { logger, metrics: powertoolsMetrics } = await import('#shared/observability.ts');
const { PrometheusEnrichMetrics } = await import('../functions/enrich/src/adapters/prometheus-metrics.ts');
const { MemoryCache } = await import('../functions/enrich/src/adapters/memory-cache.ts');
const { SharedBreaker } = await import('../functions/enrich/src/breaker.ts');
const { EnrichBatch } = await import('../functions/enrich/src/enrich-batch.ts');
const { createEnrichFunction } = await import('../functions/enrich/src/enrich-handler.ts');
const { TieredMetadataLookup } = await import('../functions/enrich/src/tiered-lookup.ts');
const { create, toBinary } = await import('@bufbuild/protobuf');
const { ExportLogsServiceRequestSchema } = await import('#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js');
const { SeverityNumber } = await import('#shared/otlp/gen/opentelemetry/proto/logs/v1/logs_pb.js');

import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import type { EnrichFunction } from '../functions/enrich/src/enrich-handler.ts';
import type {
  BreakerReports,
  CachedValue,
  Entity,
  MetadataCacheTier,
  MetadataSource,
  RemoteCacheRead,
  SourceRequest,
  SourceResult,
} from '../functions/enrich/src/ports.ts';

/** Counts what would be produced. */
class CountingPublisher implements EventPublisher {
  messages = 0;
  bytes = 0;
  /** Messages per topic: a mix that dead-letters would measure something else. */
  readonly byTopic = new Map<string, number>();
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.messages += messages.length;
    for (const message of messages) {
      this.bytes += message.value.length;
      this.byTopic.set(message.topic, (this.byTopic.get(message.topic) ?? 0) + 1);
    }
  }
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------- the metadata mix
const RUN = randomUUID().slice(0, 6);
const hosts: Host[] = [];
const networks: Network[] = [];
const services: Service[] = [];
for (let n = 0; n < 20; n++) {
  networks.push({ cidr: `100.${64 + n}.0.0/16`, datacenter: `dc-${n % 4}`, environment: n % 3 === 0 ? 'staging' : 'production', zone: `zone-${n}`, description: null });
}
for (let i = 0; i < 2000; i++) {
  const n = i % 20;
  hosts.push({
    hostname: `bench-${RUN}-host-${i}`,
    ipAddress: `100.${64 + n}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    datacenter: `dc-${n % 4}`,
    environment: 'production',
    costCenter: `cc-${i % 17}`,
    tags: { rack: `r${i % 40}` },
  });
}
for (let s = 0; s < 40; s++) {
  services.push({ name: `bench-${RUN}-svc-${s}`, team: `team-${s % 8}`, owner: `owner${s}@example.com`, tier: `tier-${s % 3}`, version: `1.${s}.0`, costCenter: `cc-${s}`, tags: {} });
}

/**
 * The value of Kafka record `i`: one log, or with OTLP LOGS_PER_RECORD of them under RESOURCES_PER_RECORD
 * resources (log j of the record under resource j % RESOURCES_PER_RECORD, whose host and service are those of
 * log `i * RESOURCES_PER_RECORD + j % RESOURCES_PER_RECORD` of the one-log mix: the same mix of hosts).
 */
function logValue(i: number): Buffer {
  if (!OTLP) return Buffer.from(JSON.stringify(logFields(i)));
  const logs = Array.from({ length: LOGS_PER_RECORD }, (_, j) => logFields(i * RESOURCES_PER_RECORD + (j % RESOURCES_PER_RECORD), i * LOGS_PER_RECORD + j));
  return otlpValue(logs);
}

/** ~80 % known hosts, ~12 % unknown hosts inside known networks, ~8 % outside any network; ~5 % unknown services. */
function logFields(source: number, i = source): Record<string, unknown> {
  // Where the log comes from (host, service) follows `source`, the rest `i`.
  const roll = (source * 7919) % 100;
  let sourceIp: string;
  if (roll < 80) sourceIp = (hosts[(source * 31) % hosts.length] as Host).ipAddress;
  else if (roll < 92) sourceIp = `100.${64 + (source % 20)}.200.${(source % 200) + 1}`;
  else sourceIp = `198.18.${source % 50}.${(source % 200) + 1}`;
  const service = roll % 20 === 0 ? `bench-${RUN}-ghost-${source % 5}` : (services[source % services.length] as Service).name;
  const now = new Date(1_764_000_000_000 + i).toISOString();
  const log: Record<string, unknown> = {
    level: (['INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG'] as const)[i % 6],
    message: `request ${i} handled in ${i % 300} ms`,
    service,
    source_ip: sourceIp,
    timestamp: now,
    event_id: randomUUID(),
    received_at: now,
  };
  if (source % 3 === 0) log.hostname = (hosts[(source * 13) % hosts.length] as Host).hostname;
  if (i % 2 === 0) log.trace_id = `trace-${i}`;
  if (i % 4 === 0) log.attributes = { user_id: `u-${i % 1000}`, path: '/api/checkout', status: 200 };
  return log;
}

const SEVERITY: Record<string, number> = { DEBUG: SeverityNumber.DEBUG, INFO: SeverityNumber.INFO, WARN: SeverityNumber.WARN, ERROR: SeverityNumber.ERROR };

/**
 * The logs as OTLP apps would send them: service.name, host.ip and host.name on the resource (one ResourceLogs
 * per distinct resource, in order of first use), the rest on the record (no event_id or received_at: enrich
 * derives them for OTLP logs), built with the Protobuf-ES types generated from the official .proto files.
 */
function otlpValue(logs: readonly Record<string, unknown>[]): Buffer {
  const text = (value: unknown) => ({ value: { case: 'stringValue' as const, value: String(value) } });
  const byResource = new Map<string, { attributes: { key: string; value: ReturnType<typeof text> }[]; records: unknown[] }>();
  for (const log of logs) {
    const i = Date.parse(String(log.timestamp)) - 1_764_000_000_000;
    const name = `${log.service} ${log.source_ip} ${log.hostname ?? ''}`;
    let resource = byResource.get(name);
    if (resource === undefined) {
      resource = {
        attributes: [
          { key: 'service.name', value: text(log.service) },
          { key: 'host.ip', value: text(log.source_ip) },
          ...(log.hostname === undefined ? [] : [{ key: 'host.name', value: text(log.hostname) }]),
        ],
        records: [],
      };
      byResource.set(name, resource);
    }
    const attributes = Object.entries((log.attributes as Record<string, unknown> | undefined) ?? {}).map(([key, value]) =>
      typeof value === 'number' ? { key, value: { value: { case: 'intValue' as const, value: BigInt(value) } } } : { key, value: text(value) },
    );
    resource.records.push({
      timeUnixNano: BigInt(Date.parse(String(log.timestamp))) * 1_000_000n,
      severityNumber: SEVERITY[String(log.level)] ?? SeverityNumber.UNSPECIFIED,
      severityText: String(log.level),
      body: text(log.message),
      attributes,
      ...(i % 2 === 0 ? { traceId: Buffer.from(`4bf92f3577b34da6a3ce929d${(i % 0xffffffff).toString(16).padStart(8, '0')}`, 'hex'), spanId: Buffer.from('00f067aa0ba902b7', 'hex'), flags: 1 } : {}),
    });
  }
  const request = create(ExportLogsServiceRequestSchema, {
    resourceLogs: [...byResource.values()].map(({ attributes, records }) => ({
      resource: { attributes },
      scopeLogs: [{ scope: { name: 'bench', version: '1.0.0' }, logRecords: records as never[] }],
    })),
  });
  return Buffer.from(toBinary(ExportLogsServiceRequestSchema, request));
}

const TRACEPARENT = [...Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')];

function mskEvent(batch: number): unknown {
  const records: Record<string, unknown[]> = {};
  for (let r = 0; r < BATCH_SIZE; r++) {
    const i = batch * BATCH_SIZE + r;
    const partition = r % 6;
    const key = `raw-logs-${partition}`;
    let list = records[key];
    if (list === undefined) {
      list = [];
      records[key] = list;
    }
    list.push({
      topic: 'raw-logs',
      partition,
      offset: i,
      timestamp: 1_764_000_000_000 + i,
      timestampType: 'CREATE_TIME',
      key: Buffer.from('k').toString('base64'),
      value: logValue(i).toString('base64'),
      headers: [{ traceparent: TRACEPARENT }],
    });
  }
  return { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/bench/x', records };
}

// ---------------------------------------------------------------- in-process stand-ins for Redis and PostgreSQL
class InProcessRedis implements MetadataCacheTier {
  readonly store = new Map<string, Entity | null>();
  async read(keys: readonly string[]): Promise<RemoteCacheRead> {
    const values: CachedValue[] = keys.map((key) => (this.store.has(key) ? this.store.get(key) : undefined));
    return { version: '1', values };
  }
  async write(entries: readonly { key: string; value: Entity | null }[]): Promise<void> {
    for (const entry of entries) this.store.set(entry.key, entry.value);
  }
}

/** No other instance ever reports a failure. */
const noReports: BreakerReports = {
  read: async () => [],
  reportOpen: async (name, instanceId) => ({ name, epoch: 1, reportedAt: 0, instanceId }),
};

class InProcessPostgres implements MetadataSource {
  readonly #byIp = new Map(hosts.map((host) => [host.ipAddress, host]));
  readonly #byName = new Map(hosts.map((host) => [host.hostname, host]));
  readonly #services = new Map(services.map((service) => [service.name, service]));
  async fetch(request: SourceRequest): Promise<SourceResult> {
    const pick = <T>(ids: readonly string[], index: Map<string, T>) => new Map(ids.flatMap((id) => (index.has(id) ? [[id, index.get(id) as T]] : [])));
    const networkOf = (ip: string) => networks.find((network) => ip.startsWith(`${network.cidr.split('.').slice(0, 2).join('.')}.`));
    return {
      hostsByIp: pick(request.hostIps, this.#byIp),
      hostsByName: pick(request.hostnames, this.#byName),
      services: pick(request.services, this.#services),
      networks: new Map(request.networkIps.flatMap((ip) => (networkOf(ip) === undefined ? [] : [[ip, networkOf(ip) as Network]]))),
    };
  }
}

async function buildHandler(publisher: CountingPublisher): Promise<{ enrich: EnrichFunction; close: () => Promise<void> }> {
  const metrics = new PrometheusEnrichMetrics();
  if (args.real) {
    const { createEnrichDependencies } = await import('../functions/enrich/dependencies.ts');
    const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/log_enrichment';
    const { createPool } = await import('#shared/clients/postgres.ts');
    const { postgresEnv, readConfig } = await import('#shared/config.ts');
    const { PgMetadataRepository } = await import('../functions/metadata/src/adapters/pg-metadata-repository.ts');
    const { MetadataCatalog } = await import('../functions/metadata/src/catalog.ts');
    const { PowertoolsMetadataMetrics } = await import('../functions/metadata/src/adapters/powertools-metrics.ts');
    const pool = createPool(readConfig(postgresEnv, { DATABASE_URL: databaseUrl, DATABASE_POOL_MAX: '2' }), 'bench-enrich');
    // The metadata function's own use case writes the bench's hosts and services (its Redis keys are new
    // names, so there is nothing to invalidate).
    const catalog = new MetadataCatalog(
      new PgMetadataRepository(pool),
      { invalidate: async () => undefined },
      { log: logger, metrics: new PowertoolsMetadataMetrics(powertoolsMetrics) },
    );
    for (const host of hosts) await catalog.hosts.upsert(host);
    for (const service of services) await catalog.services.upsert(service);
    const deps = createEnrichDependencies(
      {
        ...process.env,
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
        DATABASE_URL: databaseUrl,
        ENRICH_BREAKER_KEY_PREFIX: `bench:${RUN}:breaker:`,
        OUTPUT_ENCODING: OTLP ? 'otlp_proto' : 'json',
      },
      { publisher, metrics },
    );
    return {
      enrich: deps.enrich,
      async close() {
        await deps.close();
        for (const host of hosts) await catalog.hosts.remove(host.hostname);
        for (const service of services) await catalog.services.remove(service.name);
        await pool.end();
      },
    };
  }
  const remote = new InProcessRedis();
  const settings = { resetMs: 5_000, errorPercent: 50, volume: 3, windowMs: 10_000, timeoutMs: 250 };
  const lookup = new TieredMetadataLookup({
    memory: new MemoryCache({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024, ttlMs: 60_000, negativeTtlMs: 10_000 }),
    remote,
    source: new InProcessPostgres(),
    redisBreaker: new SharedBreaker({ ...settings, name: 'redis' }, { instanceId: 'bench', log: logger }),
    postgresBreaker: new SharedBreaker({ ...settings, name: 'postgres' }, { reports: noReports, instanceId: 'bench', log: logger }),
    log: logger,
  });
  const useCase = new EnrichBatch({
    lookup,
    publisher,
    metrics,
    topics: { complete: 'enriched-logs-complete', partial: 'enriched-logs-partial', deadLetter: 'raw-logs-dlq' },
    reportBatchItemFailures: false,
    log: logger,
    outputEncoding: OTLP ? 'otlp_proto' : 'json',
  });
  return { enrich: createEnrichFunction(useCase), close: async () => undefined };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

// ---------------------------------------------------------------- run
const publisher = new CountingPublisher();
const { enrich, close } = await buildHandler(publisher);
process.stdout.write(
  `bench:enrich  mode=${args.real ? 'real Redis + PostgreSQL' : 'in-process tiers'}  ${OTLP ? `in/out=otlp_proto (${LOGS_PER_RECORD} log(s) per record under ${RESOURCES_PER_RECORD} resource(s))` : 'in/out=json'}  batches=${BATCHES}  batch size=${BATCH_SIZE} records  node ${process.version}\n`,
);
process.stdout.write('preparing events…\n');
const total = WARMUP + BATCHES;
// Events are built beforehand (base64 JSON, as the event source mapping delivers them), then cloned lazily
// by the handler's envelope parse: the timed loop sees only the handler.
// At most 40,000 log records prepared (400 batches of 100 one-log records), whatever the shape.
const DISTINCT = Math.min(total, Math.max(4, Math.floor(40_000 / (BATCH_SIZE * LOGS_PER_RECORD))));
const distinct = Array.from({ length: DISTINCT }, (_, batch) => mskEvent(batch));
const eventAt = (b: number) => distinct[b % DISTINCT];

for (let b = 0; b < WARMUP; b++) await enrich(eventAt(b));
publisher.messages = 0;
publisher.bytes = 0;
publisher.byTopic.clear();

const durations = new Float64Array(BATCHES);
const cpuBefore = process.cpuUsage();
const started = performance.now();
for (let b = 0; b < BATCHES; b++) {
  const t0 = performance.now();
  await enrich(eventAt(WARMUP + b));
  durations[b] = performance.now() - t0;
}
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
// CPU time of this process (GC threads included): the fairer "one core" figure on a shared, busy machine.
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
durations.sort();
// Log records: what the handler enriches one by one.
const records = BATCHES * BATCH_SIZE * LOGS_PER_RECORD;
const perRecordUs = (ms: number) => ((ms * 1000) / (BATCH_SIZE * LOGS_PER_RECORD)).toFixed(2);
process.stdout.write(
  [
    `records:            ${records}  (${publisher.messages} outputs, ${(publisher.bytes / publisher.messages).toFixed(0)} B/output, ${(publisher.bytes / records).toFixed(0)} B/record; ${[...publisher.byTopic].map(([topic, n]) => `${topic} ${n}`).join(', ')})`,
    `throughput:         ${Math.round(records / (elapsedMs / 1000)).toLocaleString('en-US')} records/s (one core, ${elapsedMs.toFixed(0)} ms)`,
    `per CPU-second:     ${Math.round(records / cpuSeconds).toLocaleString('en-US')} records (${cpuSeconds.toFixed(2)} s user+system; differs from the above when the machine is busy)`,
    `latency per record: p50 ${percentile(durations, 50).toFixed(3)} ms  p99 ${percentile(durations, 99).toFixed(3)} ms  (batch start → outputs handed to the publisher)`,
    `cost per record:    p50 ${perRecordUs(percentile(durations, 50))} µs  p99 ${perRecordUs(percentile(durations, 99))} µs  (batch time / records)`,
    '',
  ].join('\n'),
);
await close();
