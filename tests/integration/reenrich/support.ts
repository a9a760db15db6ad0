/**
 * Helpers for the re-enricher's integration tests: one pipeline per test (throwaway topics, its own
 * redis-server and its own TCP proxy in front of the shared PostgreSQL, which the test takes down and brings
 * back together), enrich's runner on the raw topic and the re-enricher's runner on the partial topic (its own
 * consumer group), sharing one environment; and readers of what they wrote: the attempt of an output (its
 * `enrichment-attempt` header), the re-enricher's Prometheus counts, how many records a topic holds. The rest
 * is ../enrich/support.ts (topics, seed, ingest) and ../otlp/support.ts (outputs kept with their headers).
 */
import { randomUUID } from 'node:crypto';
import { ATTEMPT_HEADER } from '../../../functions/enrich/src/enrich-batch.ts';
import { REENRICH_OUTCOMES } from '../../../functions/enrich/src/reenrich/reenrich-batch.ts';
import { type ReenrichComponent, startReenrich } from '../../../scripts/local/event-source/reenrich.ts';
import { type EnrichRunner, startEnrichRunner } from '../../../scripts/local/event-source/runner.ts';
import { latestOffsets } from '../../support/kafka.ts';
import { deleteTopics, enrichTestEnv, OwnRedis, TcpProxy, type Topics, throwawayTopics } from '../enrich/support.ts';
import type { RawOutput } from '../otlp/support.ts';

export type ReenrichOutcome = (typeof REENRICH_OUTCOMES)[number];
export type ReenrichCounts = Record<ReenrichOutcome, number>;

/** The metadata sources of one test: its own Redis and a proxy to the shared PostgreSQL, taken down together. */
export class Sources {
  readonly redis: OwnRedis;
  readonly proxy: TcpProxy;
  readonly databaseUrl: string;

  private constructor(redis: OwnRedis, proxy: TcpProxy, databaseUrl: string) {
    this.redis = redis;
    this.proxy = proxy;
    this.databaseUrl = databaseUrl;
  }

  static async start(): Promise<Sources> {
    const database = new URL(process.env.DATABASE_URL ?? '');
    const proxy = await TcpProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
    database.port = String(proxy.port);
    return new Sources(await OwnRedis.start(), proxy, database.toString());
  }

  /** Redis killed, PostgreSQL cut: every lookup that no in-process cache answers is `unavailable`. */
  async down(): Promise<void> {
    await this.redis.stop();
    await this.proxy.cut();
  }

  async up(): Promise<void> {
    await this.redis.start();
    await this.proxy.restore();
  }

  async destroy(): Promise<void> {
    await this.proxy.cut();
    await this.redis.destroy();
  }
}

export interface Pipeline {
  topics: Topics;
  sources: Sources;
  enrich: EnrichRunner;
  reenrich: ReenrichComponent;
  stop(): Promise<void>;
}

/**
 * A pipeline of its own: enrich on the raw topic, the re-enricher on the partial topic, both on `sources`,
 * with fast breakers (../enrich/support.ts `enrichTestEnv`) and `overrides` (REENRICH_*, OUTPUT_ENCODING).
 *
 * @example
 * const pipeline = await startPipeline('down', { REENRICH_BACKOFF_MS: '200' });
 * await pipeline.sources.down();
 * await pipeline.stop();
 */
export async function startPipeline(label: string, overrides: Record<string, string> = {}): Promise<Pipeline> {
  const topics = await throwawayTopics(`re-${label}`, 1);
  const sources = await Sources.start();
  const env = enrichTestEnv(topics, { REDIS_URL: sources.redis.url, DATABASE_URL: sources.databaseUrl, ...overrides });
  const [enrich, reenrich] = await Promise.all([
    startEnrichRunner({ env, topic: topics.raw, groupId: `enrich-test-${randomUUID()}`, batchWindowMs: 50 }),
    // A handed-back record comes again after the runner's retry delay: kept short, so a test never waits on it.
    startReenrich({ env: { ...env, REENRICH_GROUP_ID: `reenrich-test-${randomUUID()}` }, port: 0, batchWindowMs: 50, retryInitialMs: 100, retryMaxMs: 500 }),
  ]);
  return {
    topics,
    sources,
    enrich,
    reenrich,
    async stop() {
      await Promise.all([enrich.stop(), reenrich.stop()]);
      await sources.destroy();
      await deleteTopics(topics);
    },
  };
}

/** The attempt an output is: its `enrichment-attempt` header, 1 when it has none (enrich's own pass). */
export function attemptOf(output: RawOutput): number {
  const header = output.headers[ATTEMPT_HEADER];
  return header === undefined ? 1 : Number(header);
}

/** A JSON output's value. */
export function jsonOf(output: RawOutput): Record<string, unknown> {
  return JSON.parse(output.value.toString('utf8')) as Record<string, unknown>;
}

/** `reenrich_records_total{outcome}` of the re-enricher's registry, every outcome present. */
export async function reenrichCounts(reenrich: ReenrichComponent): Promise<ReenrichCounts> {
  const counts = Object.fromEntries(REENRICH_OUTCOMES.map((outcome) => [outcome, 0])) as ReenrichCounts;
  const metric = reenrich.runner.metrics.registry.getSingleMetric('reenrich_records_total');
  for (const { labels, value } of (await metric?.get())?.values ?? []) {
    const outcome = String(labels.outcome) as ReenrichOutcome;
    if (outcome in counts) counts[outcome] = value;
  }
  return counts;
}

/**
 * Reads of the partial topic that were final: every outcome but `deferred` (a deferred record is read again).
 * Once the re-enricher has read everything, this is the number of records the partial topic holds.
 */
export function finalReads(counts: ReenrichCounts): number {
  return REENRICH_OUTCOMES.filter((outcome) => outcome !== 'deferred').reduce((sum, outcome) => sum + counts[outcome], 0);
}

/** Records a throwaway topic holds (produced from offset 0 by non-transactional producers: its end offsets). */
export async function recordCount(topic: string): Promise<number> {
  return (await latestOffsets(topic)).reduce((sum, offset) => sum + Number(offset), 0);
}

/** Whether the re-enricher has committed everything on the partial topic. */
export async function caughtUp(reenrich: ReenrichComponent): Promise<boolean> {
  const lag = await reenrich.runner.lag();
  return Object.keys(lag).length > 0 && Object.values(lag).every((behind) => behind === 0);
}
