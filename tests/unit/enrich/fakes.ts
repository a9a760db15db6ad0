/**
 * In-memory fakes of the enrich ports, for unit tests only (integration tests use the real adapters).
 */
import { readFileSync } from 'node:fs';
import type { EventPublisher, OutgoingMessage } from '#shared/kafka/publisher.ts';
import { PublishError } from '#shared/kafka/publisher.ts';
import { silentLog } from '#shared/log-port.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import type { RawLogRecord } from '#shared/schemas/log.ts';
import { MemoryCache } from '../../../functions/enrich/src/adapters/memory-cache.ts';
import { SharedBreaker } from '../../../functions/enrich/src/breaker.ts';
import { EnrichBatch } from '../../../functions/enrich/src/enrich-batch.ts';
import { createEnrichFunction } from '../../../functions/enrich/src/enrich-handler.ts';
import type { KafkaEvent, KafkaEventRecord } from '../../../functions/enrich/src/kafka-event.ts';
import type { OutputEncoding } from '../../../functions/enrich/src/otlp/types.ts';
import { kafkaEventOf } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { TieredMetadataLookup } from '../../../functions/enrich/src/tiered-lookup.ts';
import type {
  BatchReport,
  BreakerReports,
  CacheWrite,
  CachedValue,
  EnrichMetrics,
  Entity,
  MetadataCacheTier,
  MetadataRequest,
  MetadataSource,
  RemoteCacheRead,
  SharedOpenReport,
  SourceRequest,
  SourceResult,
} from '../../../functions/enrich/src/ports.ts';

const FIXTURES = new URL('../../fixtures/', import.meta.url);

/** A fresh copy of a fixture event for every call (tests mutate theirs). */
export function fixture<T = KafkaEvent>(
  name: 'msk-event.json' | 'self-managed-kafka-event.json' | 'aws-msk-event.json' | 'aws-self-managed-kafka-event.json' | 'poller-msk-event.json',
): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

export function host(overrides: Partial<Host> = {}): Host {
  return { hostname: 'web-01', ipAddress: '10.0.0.1', datacenter: 'dc-east', environment: 'prod', costCenter: 'cc-1', tags: {}, ...overrides };
}
export function service(overrides: Partial<Service> = {}): Service {
  return { name: 'payment-api', team: 'payments', owner: 'alice', tier: 'tier-1', version: '1.2.3', costCenter: 'cc-9', tags: {}, ...overrides };
}
export function network(overrides: Partial<Network> = {}): Network {
  return { cidr: '10.0.0.0/24', datacenter: 'dc-net', environment: 'staging', zone: 'zone-a', description: null, ...overrides };
}

let offsetCounter = 0;
export function rawLog(overrides: Partial<RawLogRecord> = {}): RawLogRecord {
  return {
    level: 'INFO',
    message: 'hello',
    service: 'payment-api',
    source_ip: '10.0.0.1',
    timestamp: '2024-01-15T10:30:00.000Z',
    received_at: '2024-01-15T10:30:00.100Z',
    event_id: crypto.randomUUID(),
    ...overrides,
  };
}

export function kafkaRecord(value: unknown, overrides: Partial<KafkaEventRecord> = {}): KafkaEventRecord {
  return {
    topic: 'raw-logs',
    partition: 0,
    offset: offsetCounter++,
    timestamp: 1_705_314_600_000,
    timestampType: 'CREATE_TIME',
    value: typeof value === 'string' ? value : Buffer.from(JSON.stringify(value)).toString('base64'),
    headers: [],
    ...overrides,
  };
}

export function kafkaEvent(records: KafkaEventRecord[]): KafkaEvent {
  return kafkaEventOf(records, '127.0.0.1:9092');
}

/**
 * A Redis tier over a Map; `down` makes every call fail like a dead connection. `fetchedAt` holds the
 * PostgreSQL read time of the entries written with one; an entry put in `store` alone is one an older
 * version wrote (no time).
 */
export class FakeRemoteCache implements MetadataCacheTier {
  readonly store = new Map<string, Entity | null>();
  readonly fetchedAt = new Map<string, number>();
  version: string | null = '1';
  down = false;
  reads: string[][] = [];
  writes: CacheWrite[][] = [];

  async read(keys: readonly string[]): Promise<RemoteCacheRead> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    this.reads.push([...keys]);
    const values: CachedValue[] = keys.map((key) => (this.store.has(key) ? this.store.get(key) : undefined));
    return { version: this.version, values, fetchedAt: keys.map((key) => (this.store.has(key) ? (this.fetchedAt.get(key) ?? null) : null)) };
  }

  async write(entries: readonly CacheWrite[], seenVersion: string | null): Promise<void> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    if (seenVersion !== this.version) return;
    this.writes.push([...entries]);
    for (const entry of entries) {
      this.store.set(entry.key, entry.value);
      if (entry.fetchedAt === undefined) this.fetchedAt.delete(entry.key);
      else this.fetchedAt.set(entry.key, entry.fetchedAt);
    }
  }
}

/**
 * Breaker reports shared by every breaker given this store, as the Redis script keeps them: the latest
 * report per name, a counter for the epoch, and the store's own clock. `down` fails every call.
 */
export class FakeBreakerReports implements BreakerReports {
  readonly latest = new Map<string, SharedOpenReport>();
  down = false;
  #epoch = 0;
  #clock = 1_000;

  async read(names: readonly string[]): Promise<SharedOpenReport[]> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    return names.flatMap((name) => {
      const report = this.latest.get(name);
      return report === undefined ? [] : [report];
    });
  }

  async reportOpen(name: string, instanceId: string): Promise<SharedOpenReport> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    this.#epoch += 1;
    this.#clock += 10;
    const report = { name, epoch: this.#epoch, reportedAt: this.#clock, instanceId };
    this.latest.set(name, report);
    return report;
  }
}

/**
 * A PostgreSQL tier over arrays; `down` fails every call; `gate` holds calls until released. A held call
 * answers with the data as it was when the call began (as a PostgreSQL statement sees its snapshot).
 */
export class FakeSource implements MetadataSource {
  hosts: Host[] = [];
  services: Service[] = [];
  networks: Network[] = [];
  down = false;
  calls: SourceRequest[] = [];
  gate: Promise<void> | undefined;

  async fetch(request: SourceRequest): Promise<SourceResult> {
    this.calls.push(request);
    const answer = this.#answer(request);
    if (this.gate !== undefined) await this.gate;
    if (this.down) throw new Error('connect ECONNREFUSED');
    return answer;
  }

  #answer(request: SourceRequest): SourceResult {
    const hostsByIp = new Map<string, Host>();
    for (const ip of request.hostIps) {
      const match = this.hosts.find((candidate) => candidate.ipAddress === ip);
      if (match !== undefined) hostsByIp.set(ip, match);
    }
    const hostsByName = new Map<string, Host>();
    for (const name of request.hostnames) {
      const match = this.hosts.find((candidate) => candidate.hostname === name);
      if (match !== undefined) hostsByName.set(name, match);
    }
    const services = new Map<string, Service>();
    for (const name of request.services) {
      const match = this.services.find((candidate) => candidate.name === name);
      if (match !== undefined) services.set(name, match);
    }
    const networks = new Map<string, Network>();
    for (const ip of request.networkIps) {
      // Test networks are /24s written as a.b.c.0/24: "contains" is a prefix match on the first three octets.
      const match = this.networks.find((candidate) => ip.startsWith(`${candidate.cidr.split('.').slice(0, 3).join('.')}.`));
      if (match !== undefined) networks.set(ip, match);
    }
    return { hostsByIp, hostsByName, services, networks };
  }
}

export class FakePublisher implements EventPublisher {
  readonly published: OutgoingMessage[] = [];
  failing = false;
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.failing) throw new PublishError('broker unreachable');
    this.published.push(...messages);
  }
  async close(): Promise<void> {}
  json(topic: string): Record<string, unknown>[] {
    return this.published.filter((message) => message.topic === topic).map((message) => JSON.parse(String(message.value)));
  }
}

export class RecordingMetrics implements EnrichMetrics {
  readonly reports: BatchReport[] = [];
  batch(report: BatchReport): void {
    this.reports.push(report);
  }
}

/** The real lookup (in-process cache + breakers) over the fakes, with short breaker settings. */
export function buildLookup(
  remote: FakeRemoteCache,
  source: FakeSource,
  options: { instanceId?: string; resetMs?: number; volume?: number; ttlMs?: number; reports?: FakeBreakerReports; provenance?: boolean; clock?: () => number } = {},
): { lookup: TieredMetadataLookup; memory: MemoryCache; redisBreaker: SharedBreaker; postgresBreaker: SharedBreaker } {
  const settings = { resetMs: options.resetMs ?? 60_000, errorPercent: 50, volume: options.volume ?? 1, windowMs: 10_000, timeoutMs: 1_000 };
  const instanceId = options.instanceId ?? 'test-instance';
  // As wired in functions/enrich/dependencies.ts: only the PostgreSQL breaker shares reports.
  const redisBreaker = new SharedBreaker({ ...settings, name: 'redis' }, { instanceId, log: silentLog });
  const postgresBreaker = new SharedBreaker({ ...settings, name: 'postgres' }, { reports: options.reports ?? new FakeBreakerReports(), instanceId, log: silentLog });
  const ttlMs = options.ttlMs ?? 60_000;
  const memory = new MemoryCache({ maxEntries: 1000, maxBytes: 1_000_000, ttlMs, negativeTtlMs: ttlMs });
  const lookup = new TieredMetadataLookup({
    memory,
    remote,
    source,
    redisBreaker,
    postgresBreaker,
    log: silentLog,
    ...(options.provenance === undefined ? {} : { provenance: options.provenance }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return { lookup, memory, redisBreaker, postgresBreaker };
}

/** A lookup request from lists (each a Set, as EnrichBatch builds one). */
export function metadataRequest(parts: Partial<{ ips: string[]; hostnames: string[]; services: string[] }>): MetadataRequest {
  return { ips: new Set(parts.ips ?? []), hostnames: new Set(parts.hostnames ?? []), services: new Set(parts.services ?? []) };
}

export const BATCH_TOPICS = { complete: 'complete', partial: 'partial', deadLetter: 'dlq' };

/**
 * The enrich use case over fakes with two known hosts, one service and one network: what the EnrichBatch
 * tests share. `enrich` is the raw Lambda function (envelope check included).
 */
export function enrichBatchSetup(
  options: { reportBatchItemFailures?: boolean; outputEncoding?: OutputEncoding; provenance?: boolean; clock?: () => number; monotonic?: () => number; wallClock?: () => Date } = {},
) {
  const remote = new FakeRemoteCache();
  const source = new FakeSource();
  source.hosts = [host({ ipAddress: '192.168.1.100', hostname: 'web-server-01' }), host()];
  source.services = [service()];
  source.networks = [network({ cidr: '10.20.30.0/24' })];
  const publisher = new FakePublisher();
  const metrics = new RecordingMetrics();
  const { lookup } = buildLookup(remote, source, {
    ...(options.provenance === undefined ? {} : { provenance: options.provenance }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const useCase = new EnrichBatch({
    lookup,
    publisher,
    metrics,
    topics: BATCH_TOPICS,
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    log: silentLog,
    ...(options.outputEncoding === undefined ? {} : { outputEncoding: options.outputEncoding }),
    ...(options.monotonic === undefined ? {} : { monotonic: options.monotonic }),
    ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
  });
  return { publisher, metrics, source, remote, useCase, enrich: createEnrichFunction(useCase) };
}
