/**
 * Deploy-time trigger (AWS target): creates the pipeline's topics on MSK through the same connection code as
 * the functions (IAM listener discovered from the cluster ARN, SASL OAUTHBEARER). Idempotent: topics that
 * exist are left as they are (partition counts are never lowered, and raising them would move keys between
 * partitions, which is an operator's decision), so the trigger can re-run on every code change.
 */
import { Admin } from '#shared/kafka/admin-client.ts';
import * as z from 'zod';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { ensureTopics, type TopicAdmin, type TopicSpec } from '#shared/kafka/topics.ts';
import { logger } from '#shared/observability.ts';

/** The port the unit tests fake; defined with the shared implementation. */
export type { TopicAdmin };

const topicSpec = z.object({ name: z.string().min(1), partitions: z.number().int().positive() }) satisfies z.ZodType<TopicSpec>;

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
    .pipe(z.array(topicSpec).min(1)),
});

/**
 * Creates the topics of `wanted` that `admin` does not list; returns the names it created.
 * Replication factor -1 lets the cluster choose (MSK Serverless fixes it; provisioned clusters use their
 * default.replication.factor, which matches their broker count).
 *
 * @example
 * const created = await createMissingTopics(admin, [{ name: 'raw-logs', partitions: 6 }]);
 */
export async function createMissingTopics(admin: TopicAdmin, wanted: readonly TopicSpec[]): Promise<string[]> {
  const results = await ensureTopics(admin, wanted, { replicas: -1 });
  return results.filter((topic) => topic.status === 'created').map((topic) => topic.name);
}

export async function handler(): Promise<{ created: string[] }> {
  const kafka = readConfig(kafkaEnv);
  const { KAFKA_TOPICS } = readConfig(topicsEnv);
  const admin = new Admin(await connectionOptions(kafka, `${kafka.KAFKA_CLIENT_ID}-create-topics`));
  try {
    const created = await createMissingTopics(admin, KAFKA_TOPICS);
    logger.info('topics ensured', { created, wanted: KAFKA_TOPICS.map((topic) => topic.name) });
    return { created };
  } finally {
    await admin.close();
  }
}
