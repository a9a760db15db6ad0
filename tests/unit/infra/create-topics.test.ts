/** The deploy-time topic step: creates what is missing, leaves what exists, reads its list from KAFKA_TOPICS. */
import { createMissingTopics, type TopicAdmin, topicsEnv } from '../../../infra/cdk/lambda/create-topics.ts';
import { ensureTopics } from '../../../layers/shared/src/kafka/topics.ts';
import { readConfig } from '../../../layers/shared/src/config.ts';

class FakeAdmin implements TopicAdmin {
  readonly created: { topic: string; partitions: number }[][] = [];
  readonly replicas: number[] = [];
  readonly existing: string[];
  /** When set, createTopics adds `createdAnyway` to the listed topics and then rejects with this error. */
  failure: Error | undefined;
  createdAnyway: string[] = [];

  constructor(existing: string[]) {
    this.existing = existing;
  }

  async listTopics(): Promise<string[]> {
    return [...this.existing];
  }

  async createTopics(options: { topics: { topic: string; partitions: number }[]; replicas: number }): Promise<unknown> {
    this.created.push(options.topics);
    this.replicas.push(options.replicas);
    if (this.failure !== undefined) {
      this.existing.push(...this.createdAnyway);
      throw this.failure;
    }
    return [];
  }
}

const wanted = [
  { name: 'raw-logs', partitions: 6 },
  { name: 'raw-logs-dlq', partitions: 1 },
];

it('creates every topic on an empty cluster with its partition count and the broker default replication', async () => {
  // Prepare
  const admin = new FakeAdmin([]);

  // Act
  const created = await createMissingTopics(admin, wanted);

  // Assess
  expect(created).toEqual(['raw-logs', 'raw-logs-dlq']);
  expect(admin.created).toEqual([
    [
      { topic: 'raw-logs', partitions: 6 },
      { topic: 'raw-logs-dlq', partitions: 1 },
    ],
  ]);
  expect(admin.replicas).toEqual([-1]);
});

it('creates only the missing topics when some exist', async () => {
  // Prepare
  const admin = new FakeAdmin(['raw-logs', '__consumer_offsets']);

  // Act
  const created = await createMissingTopics(admin, wanted);

  // Assess
  expect(created).toEqual(['raw-logs-dlq']);
  expect(admin.created).toEqual([[{ topic: 'raw-logs-dlq', partitions: 1 }]]);
});

it('makes no create call when every topic exists (re-run of the trigger)', async () => {
  // Prepare
  const admin = new FakeAdmin(['raw-logs', 'raw-logs-dlq']);

  // Act
  const created = await createMissingTopics(admin, wanted);

  // Assess
  expect(created).toEqual([]);
  expect(admin.created).toEqual([]);
});

it('counts the topics as existing when the create request fails but a new listing shows them all', async () => {
  // Prepare: the client retried after a network error, and the retry found the topics it had created
  const admin = new FakeAdmin(['raw-logs']);
  admin.createdAnyway = ['raw-logs-dlq'];
  admin.failure = new AggregateError([new Error('socket hang up'), new Error('Topic already exists')], 'failed 2 times');

  // Act
  const results = await ensureTopics(admin, wanted);

  // Assess
  expect(results.map((topic) => [topic.name, topic.status])).toEqual([
    ['raw-logs', 'exists'],
    ['raw-logs-dlq', 'exists'],
  ]);
  expect(admin.created).toEqual([[{ topic: 'raw-logs-dlq', partitions: 1 }]]);
});

it('rethrows the create error when a new listing still misses a topic', async () => {
  // Prepare: of the two missing topics, only one exists after the failed request
  const admin = new FakeAdmin([]);
  admin.createdAnyway = ['raw-logs'];
  const failure = new AggregateError([new Error('socket hang up'), new Error('Topic already exists')], 'failed 2 times');
  admin.failure = failure;

  // Act
  const attempt = ensureTopics(admin, wanted);

  // Assess
  await expect(attempt).rejects.toBe(failure);
});

it('reads the topic list from KAFKA_TOPICS and rejects malformed JSON', () => {
  expect(readConfig(topicsEnv, { KAFKA_TOPICS: JSON.stringify(wanted) }).KAFKA_TOPICS).toEqual(wanted);
  expect(() => readConfig(topicsEnv, { KAFKA_TOPICS: 'raw-logs' })).toThrow(/KAFKA_TOPICS/);
  expect(() => readConfig(topicsEnv, { KAFKA_TOPICS: '[{"name":"raw-logs","partitions":0}]' })).toThrow(/KAFKA_TOPICS/);
});
