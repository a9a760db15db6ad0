/**
 * The pipeline's Kafka topics and the one way the project creates topics: the local services (`npm run
 * services -- up`), test and bench fixtures, and the deploy-time topic trigger on AWS
 * (infra/cdk/lambda/create-topics.ts) all go through {@link ensureTopics}. Brokers never auto-create topics.
 */
import * as z from 'zod';
import { readConfig, topicsEnv } from '../config.ts';
import { Admin } from './admin-client.ts';

/** A Kafka topic the project creates. */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
}

export type PipelineTopic = 'raw' | 'complete' | 'partial' | 'dlq';

const partitions = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Topic names (RAW_TOPIC…) and partition counts (RAW_TOPIC_PARTITIONS…), with the local defaults. */
export const pipelineTopicsEnv = topicsEnv.extend({
  RAW_TOPIC_PARTITIONS: partitions(6),
  COMPLETE_TOPIC_PARTITIONS: partitions(3),
  PARTIAL_TOPIC_PARTITIONS: partitions(3),
  DLQ_TOPIC_PARTITIONS: partitions(1),
});

/**
 * The pipeline's topics as `env` names them; throws a ConfigError naming the variable when one is invalid.
 *
 * @example
 * const { raw } = pipelineTopics(); // { name: 'raw-logs', partitions: 6 } unless RAW_TOPIC… say otherwise
 */
export function pipelineTopics(env: NodeJS.ProcessEnv = process.env): Readonly<Record<PipelineTopic, TopicSpec>> {
  const config = readConfig(pipelineTopicsEnv, env);
  return Object.freeze({
    raw: Object.freeze({ name: config.RAW_TOPIC, partitions: config.RAW_TOPIC_PARTITIONS }),
    complete: Object.freeze({ name: config.COMPLETE_TOPIC, partitions: config.COMPLETE_TOPIC_PARTITIONS }),
    partial: Object.freeze({ name: config.PARTIAL_TOPIC, partitions: config.PARTIAL_TOPIC_PARTITIONS }),
    dlq: Object.freeze({ name: config.DLQ_TOPIC, partitions: config.DLQ_TOPIC_PARTITIONS }),
  });
}

/** {@link pipelineTopics} as a list, in a stable order (raw, complete, partial, dlq). */
export function pipelineTopicList(env: NodeJS.ProcessEnv = process.env): readonly TopicSpec[] {
  return Object.freeze(Object.values(pipelineTopics(env)));
}

/** What one topic's partitions look like in a metadata answer (the part {@link ensureTopics} reads). */
export interface TopicMetadata {
  readonly partitionsCount: number;
  readonly partitions: readonly { readonly leader: number }[];
}

/** The part of @platformatic/kafka's Admin topic creation uses (a port, so the logic is testable without a broker). */
export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  createTopics(options: { topics: { topic: string; partitions: number }[]; replicas: number }): Promise<unknown>;
  /** Needed only to wait for partition leaders (`leaderWaitMs`). */
  metadata?(options: { topics: string[]; forceUpdate?: boolean }): Promise<{ topics: Map<string, TopicMetadata> }>;
}

export interface TopicResult extends TopicSpec {
  readonly status: 'created' | 'exists';
  /**
   * Partition count the broker reports, when `leaderWaitMs` was given; differs from `partitions` when the
   * topic existed with another count (existing topics are never changed).
   */
  readonly actualPartitions?: number;
}

export interface EnsureTopicsOptions {
  /** Replication factor; default -1, the cluster's own (1 on the local node, fixed on MSK Serverless). */
  readonly replicas?: number;
  /** Wait until every partition has a leader, so a producer can use the topics at once; needs `admin.metadata`. */
  readonly leaderWaitMs?: number;
}

/**
 * Creates the topics of `wanted` that `admin` does not list, in one request, and leaves the others as they
 * are (partition counts are never changed: raising them moves keys between partitions). When the request
 * fails, the topics are listed again: a missing topic that now exists (another process created it, or an
 * attempt the client retried did) counts as existing; the error is rethrown only if some are still missing.
 *
 * @example
 * const results = await ensureTopics(admin, [{ name: 'raw-logs', partitions: 6 }], { leaderWaitMs: 15_000 });
 */
export async function ensureTopics(
  admin: TopicAdmin,
  wanted: readonly TopicSpec[],
  options: EnsureTopicsOptions = {},
): Promise<TopicResult[]> {
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((topic) => !existing.has(topic.name));
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic: topic.name, partitions: topic.partitions })),
        replicas: options.replicas ?? -1,
      });
    } catch (error) {
      const now = new Set(await admin.listTopics().catch(() => [] as string[]));
      if (missing.some((topic) => !now.has(topic.name))) throw error;
      for (const topic of missing) existing.add(topic.name);
    }
  }

  let counts: Map<string, number> | undefined;
  if (options.leaderWaitMs !== undefined) counts = await waitForLeaders(admin, wanted, options.leaderWaitMs);
  return wanted.map((topic) => ({
    ...topic,
    status: existing.has(topic.name) ? 'exists' : 'created',
    ...(counts === undefined ? {} : { actualPartitions: counts.get(topic.name) ?? 0 }),
  }));
}

/**
 * {@link ensureTopics} on a plain broker list (local brokers, tests, bench), waiting for partition leaders.
 *
 * @example
 * await createTopics(['127.0.0.1:9092'], [{ name: `test-${randomUUID()}`, partitions: 2 }]);
 */
export async function createTopics(brokers: readonly string[], topics: readonly TopicSpec[]): Promise<TopicResult[]> {
  const admin = new Admin({
    clientId: 'services-topics',
    bootstrapBrokers: [...brokers],
    retries: 3,
    retryDelay: 250,
    timeout: 10_000,
  });
  try {
    return await ensureTopics(admin, topics, { leaderWaitMs: 15_000 });
  } finally {
    await admin.close().catch(() => undefined);
  }
}

async function waitForLeaders(admin: TopicAdmin, topics: readonly TopicSpec[], timeoutMs: number): Promise<Map<string, number>> {
  if (admin.metadata === undefined) throw new TypeError('ensureTopics: leaderWaitMs needs an admin with metadata()');
  const names = topics.map((topic) => topic.name);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const metadata = await admin.metadata({ topics: names, forceUpdate: true }).catch(() => undefined);
    if (metadata !== undefined) {
      const led = names.every((name) => {
        const partitionList = metadata.topics.get(name)?.partitions ?? [];
        return partitionList.length > 0 && partitionList.every((partition) => partition.leader >= 0);
      });
      if (led) return new Map([...metadata.topics].map(([name, topic]) => [name, topic.partitionsCount]));
    }
    if (performance.now() >= deadline) {
      throw new Error(`topics ${names.join(', ')} have no partition leaders after ${timeoutMs / 1000} s`);
    }
    await new Promise((done) => setTimeout(done, 250));
  }
}
