/**
 * Deploy-time trigger (AWS target): creates the pipeline's topics on MSK through the same connection code as
 * the functions (IAM listener discovered from the cluster ARN, SASL OAUTHBEARER). Idempotent: topics that
 * exist are left as they are (partition counts are never lowered, and raising them would move keys between
 * partitions, which is an operator's decision), so the trigger can re-run on every code change.
 */
import { Admin } from '@platformatic/kafka';
import { z } from 'zod';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { logger } from '#shared/observability.ts';

const TopicSpec = z.object({ name: z.string().min(1), partitions: z.number().int().positive() });
export type TopicSpec = z.infer<typeof TopicSpec>;

export const topicsEnv = z.object({
  KAFKA_TOPICS: z
    .string()
    .transform((text, context) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        context.addIssue({ code: 'custom', message: 'must be a JSON array of {name, partitions}' });
        return z.NEVER;
      }
    })
    .pipe(z.array(TopicSpec).min(1)),
});

/** The part of @platformatic/kafka's Admin this step uses (a port, so the logic is testable without a broker). */
export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  createTopics(options: { topics: { topic: string; partitions: number }[]; replicas: number }): Promise<unknown>;
}

/**
 * Creates the topics of `wanted` that `admin` does not list; returns the names it created.
 * Replication factor -1 lets the cluster choose (MSK Serverless fixes it; provisioned clusters use their
 * default.replication.factor, which matches their broker count).
 *
 * @example
 * const created = await ensureTopics(admin, [{ name: 'raw-logs', partitions: 6 }]);
 */
export async function ensureTopics(admin: TopicAdmin, wanted: readonly TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((topic) => !existing.has(topic.name));
  if (missing.length === 0) return [];
  await admin.createTopics({
    topics: missing.map((topic) => ({ topic: topic.name, partitions: topic.partitions })),
    replicas: -1,
  });
  return missing.map((topic) => topic.name);
}

export async function handler(): Promise<{ created: string[] }> {
  const kafka = readConfig(kafkaEnv);
  const { KAFKA_TOPICS } = readConfig(topicsEnv);
  const admin = new Admin(await connectionOptions(kafka, `${kafka.KAFKA_CLIENT_ID}-create-topics`));
  try {
    const created = await ensureTopics(admin, KAFKA_TOPICS);
    logger.info('topics ensured', { created, wanted: KAFKA_TOPICS.map((topic) => topic.name) });
    return { created };
  } finally {
    await admin.close();
  }
}
