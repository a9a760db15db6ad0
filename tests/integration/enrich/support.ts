/**
 * Helpers for the enrich integration tests: throwaway topics, uniquely named metadata rows, logs sent through
 * the ingest use case, outputs collected from the three output topics, and real services that a test may
 * stop (its own redis-server; a TCP proxy in front of the shared PostgreSQL). No mocks.
 */
import { freePort } from '../../support/net.ts';
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, type Message, MessagesStreamModes } from '@platformatic/kafka';
import pg from 'pg';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { type EventPublisher, KafkaPublisher, type OutgoingMessage } from '#shared/kafka/publisher.ts';
import { createTopics } from '#shared/kafka/topics.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { logger, metrics } from '#shared/observability.ts';
import { AcceptLogs } from '../../../functions/ingest/src/accept-logs.ts';
import { PowertoolsIngestMetrics } from '../../../functions/ingest/src/adapters/powertools-metrics.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { restEvent } from '../../support/apigw.ts';

export interface Topics {
  raw: string;
  complete: string;
  partial: string;
  dlq: string;
}

export const kafka = () => readConfig(kafkaEnv);

/** Fresh topics for one test file (raw with 2 partitions by default, so two runners can share it). */
export async function throwawayTopics(label: string, rawPartitions = 2): Promise<Topics> {
  const id = randomUUID().slice(0, 8);
  const topics = { raw: `t-enrich-${label}-raw-${id}`, complete: `t-enrich-${label}-complete-${id}`, partial: `t-enrich-${label}-partial-${id}`, dlq: `t-enrich-${label}-dlq-${id}` };
  await createTopics(kafka().KAFKA_BROKERS ?? [], [
    { name: topics.raw, partitions: rawPartitions },
    { name: topics.complete, partitions: 1 },
    { name: topics.partial, partitions: 1 },
    { name: topics.dlq, partitions: 1 },
  ]);
  return topics;
}

/** Deletes a test's throwaway topics (best effort: the broker is shared, a leftover only costs disk). */
export async function deleteTopics(topics: Topics | undefined): Promise<void> {
  if (topics === undefined) return;
  const admin = new Admin({ clientId: 'enrich-test-cleanup', bootstrapBrokers: kafka().KAFKA_BROKERS ?? [], retries: 2, retryDelay: 100 });
  try {
    await admin.deleteTopics({ topics: [topics.raw, topics.complete, topics.partial, topics.dlq] });
  } catch {
    // leave them
  } finally {
    await admin.close();
  }
}

/** Environment for enrich dependencies under test: own topics, own breaker keys, fast breakers. */
export function enrichTestEnv(topics: Topics, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RAW_TOPIC: topics.raw,
    COMPLETE_TOPIC: topics.complete,
    PARTIAL_TOPIC: topics.partial,
    DLQ_TOPIC: topics.dlq,
    ENRICH_BREAKER_KEY_PREFIX: `test:enrich:breaker:${randomUUID()}:`,
    ENRICH_BREAKER_RESET_MS: '1000',
    ENRICH_BREAKER_VOLUME: '1',
    // One call per batch: a success then a failure (50 %) must be enough to open in a short test.
    ENRICH_BREAKER_ERROR_PERCENT: '25',
    // Tighter than a test machine under load can always meet, these would open a breaker on a healthy
    // service now and then (a GC pause, the broker's JVM on the other core); an outage is still seen at once
    // because a stopped service refuses connections rather than hanging.
    ENRICH_DB_TIMEOUT_MS: '500',
    REDIS_TIMEOUT_MS: '250',
    KAFKA_PRODUCE_RETRIES: '2',
    ...overrides,
  };
}

const randomOctet = () => 1 + Math.floor(Math.random() * 250);

/** A /24 and an address in it, in 100.64.0.0/10 (shared address space: no other test uses it). */
export function uniqueNetwork(): { cidr: string; ip: (host: number) => string } {
  const prefix = `100.${64 + Math.floor(Math.random() * 64)}.${randomOctet()}`;
  return { cidr: `${prefix}.0/24`, ip: (host) => `${prefix}.${host}` };
}

/** An address in 198.18.0.0/15 (benchmarking range): no network of any test contains it. */
export function unroutedIp(): string {
  return `198.${18 + Math.floor(Math.random() * 2)}.${randomOctet()}.${randomOctet()}`;
}

/** Inserts uniquely named metadata rows and deletes exactly those rows afterwards. */
export class MetadataSeed {
  readonly pool: pg.Pool;
  readonly #hosts: string[] = [];
  readonly #services: string[] = [];
  readonly #networks: string[] = [];

  constructor(databaseUrl = process.env.DATABASE_URL ?? '') {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  }

  async host(host: Omit<Host, 'tags'>): Promise<void> {
    await this.pool.query(
      'INSERT INTO hosts (hostname, ip_address, datacenter, environment, cost_center) VALUES ($1, $2, $3, $4, $5)',
      [host.hostname, host.ipAddress, host.datacenter, host.environment, host.costCenter],
    );
    this.#hosts.push(host.hostname);
  }

  async service(service: Omit<Service, 'tags'>): Promise<void> {
    await this.pool.query(
      'INSERT INTO services (name, team, owner, tier, version, cost_center) VALUES ($1, $2, $3, $4, $5, $6)',
      [service.name, service.team, service.owner, service.tier, service.version, service.costCenter],
    );
    this.#services.push(service.name);
  }

  async network(network: Omit<Network, 'description'>): Promise<void> {
    await this.pool.query('INSERT INTO networks (cidr, datacenter, environment, zone) VALUES ($1, $2, $3, $4)', [
      network.cidr,
      network.datacenter,
      network.environment,
      network.zone,
    ]);
    this.#networks.push(network.cidr);
  }

  async cleanup(): Promise<void> {
    await this.pool.query('DELETE FROM hosts WHERE hostname = ANY($1)', [this.#hosts]);
    await this.pool.query('DELETE FROM services WHERE name = ANY($1)', [this.#services]);
    await this.pool.query('DELETE FROM networks WHERE cidr = ANY($1::cidr[])', [this.#networks]);
    await this.pool.end();
  }
}

/** Posts logs through the ingest use case (the real HTTP handler, publishing to `topic`); returns the event ids. */
export async function ingest(publisher: EventPublisher, topic: string, logs: readonly Record<string, unknown>[]): Promise<string[]> {
  const { postLogs } = createIngestHandler({
    acceptLogs: new AcceptLogs({ publisher, topic, retryAfterSeconds: 1, log: logger, metrics: new PowertoolsIngestMetrics(metrics) }),
    apiKeys: undefined,
    maxBodyBytes: 1024 * 1024,
    maxBatch: 1000,
  });
  const response = await postLogs(restEvent('apigw-rest-post-logs', { body: JSON.stringify(logs), headers: { 'Content-Type': 'application/json' } }));
  if (response.statusCode !== 202) throw new Error(`ingest answered ${response.statusCode}: ${response.body}`);
  const body = JSON.parse(response.body) as { eventIds: string[]; rejected: unknown[] };
  if (body.rejected.length > 0) throw new Error(`ingest rejected logs: ${JSON.stringify(body.rejected)}`);
  return body.eventIds;
}

export function logFor(overrides: Record<string, unknown>): Record<string, unknown> {
  return { level: 'INFO', message: `enrich test ${randomUUID()}`, service: 'unknown-service', source_ip: unroutedIp(), ...overrides };
}

export interface Outputs {
  complete: Map<string, Record<string, unknown>>;
  partial: Map<string, Record<string, unknown>>;
  dlq: Record<string, unknown>[];
}

/**
 * Reads with a throwaway consumer group (nothing committed) until `take(message)` returns true, `done()` holds
 * before any message arrives, or the timeout: the one reader the enrich and OTLP test helpers share.
 *
 * @example
 * await readTopicsUntil({ topics: [t.complete], autocommit: false, mode: MessagesStreamModes.EARLIEST }, (m) => seen.add(m.key) && seen.size >= 3);
 */
export async function readTopicsUntil(
  consume: Parameters<Consumer['consume']>[0],
  take: (message: Message) => boolean,
  options: { done?: () => boolean; timeoutMs?: number } = {},
): Promise<void> {
  const consumer = new Consumer({
    ...(await connectionOptions(kafka(), `test-reader-${randomUUID()}`)),
    groupId: `test-reader-${randomUUID()}`,
    retries: 40,
    retryDelay: 250,
    maxWaitTime: 200,
  });
  try {
    const stream = await consumer.consume(consume);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, options.timeoutMs ?? 30_000);
      function finish() {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve();
      }
      function onData(message: Message) {
        if (take(message)) finish();
      }
      stream.on('data', onData);
      if (options.done?.() === true) finish();
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
}

/**
 * Reads the three output topics (throwaway, so from the start) until `done(outputs)` or the timeout; returns
 * what it collected. Redeliveries of one event id are kept once (downstream dedupes on event_id).
 */
export async function collectOutputs(topics: Topics, done: (outputs: Outputs) => boolean, timeoutMs = 30_000): Promise<Outputs> {
  const outputs: Outputs = { complete: new Map(), partial: new Map(), dlq: [] };
  const stream = { topics: [topics.complete, topics.partial, topics.dlq], autocommit: false, mode: MessagesStreamModes.EARLIEST };
  await readTopicsUntil(
    stream,
    (message) => {
      const value = JSON.parse(message.value.toString('utf8')) as Record<string, unknown>;
      if (message.topic === topics.dlq) outputs.dlq.push(value);
      else (message.topic === topics.complete ? outputs.complete : outputs.partial).set(String(value.event_id), value);
      return done(outputs);
    },
    { done: () => done(outputs), timeoutMs },
  );
  return outputs;
}

/** Every id is in complete ∪ partial ∪ dead-letter. */
export function accountedFor(outputs: Outputs, ids: readonly string[]): string[] {
  const dead = new Set(outputs.dlq.map((letter) => String(letter.event_id)));
  return ids.filter((id) => !outputs.complete.has(id) && !outputs.partial.has(id) && !dead.has(id));
}

/** Produces raw bytes to a topic (for records ingest would never write). */
export async function produceRaw(messages: OutgoingMessage[]): Promise<void> {
  const publisher = new KafkaPublisher(kafka(), 'enrich-test-raw');
  try {
    await publisher.publish(messages);
  } finally {
    await publisher.close();
  }
}


export { OwnRedis, TcpProxy } from '../../support/own-services.ts';

export { eventually } from '../../support/eventually.ts';

export { freePort };
