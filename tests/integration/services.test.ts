import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { createTopics, pipelineTopicList, pipelineTopics } from '#shared/kafka/topics.ts';
import { servicesConfig, servicesStatus } from '../../scripts/services/index.ts';

const config = servicesConfig();
const topics = pipelineTopics();

const admin = new Admin({
  clientId: 'services-test',
  bootstrapBrokers: [...config.kafka.brokers],
  retries: 2,
  retryDelay: 200,
  timeout: 5000,
});

afterAll(async () => {
  await admin.close();
});

describe('local services (npm run services -- up)', () => {
  it('reports Kafka, Redis and PostgreSQL up at their configured addresses', async () => {
    // Act
    const states = await servicesStatus();

    // Assess
    expect(states.map(({ service, up, address }) => ({ service, up, address }))).toEqual([
      { service: 'kafka', up: true, address: `${config.kafka.host}:${config.kafka.port}` },
      { service: 'redis', up: true, address: `${config.redis.host}:${config.redis.port}` },
      { service: 'postgres', up: true, address: `${config.postgres.host}:${config.postgres.port}` },
    ]);
  });

  it('has created the four pipeline topics with their partition counts', async () => {
    // Prepare
    const names = pipelineTopicList().map((topic) => topic.name);

    // Act
    const metadata = await admin.metadata({ topics: names, forceUpdate: true });

    // Assess
    const counts = Object.fromEntries(names.map((name) => [name, metadata.topics.get(name)?.partitionsCount]));
    // Defaults raw-logs 6, enriched-logs-complete 3, enriched-logs-partial 3, raw-logs-dlq 1 (env may override).
    expect(counts).toEqual({
      [topics.raw.name]: topics.raw.partitions,
      [topics.complete.name]: topics.complete.partitions,
      [topics.partial.name]: topics.partial.partitions,
      [topics.dlq.name]: topics.dlq.partitions,
    });
  });

  it('createTopics creates a missing topic, then reports it as existing', async () => {
    // Prepare
    const topic = { name: `services-test-${randomUUID()}`, partitions: 2 };

    try {
      // Act
      const first = await createTopics(config.kafka.brokers, [topic]);
      const second = await createTopics(config.kafka.brokers, [topic]);

      // Assess
      expect(first).toEqual([{ ...topic, status: 'created', actualPartitions: 2 }]);
      expect(second).toEqual([{ ...topic, status: 'exists', actualPartitions: 2 }]);
    } finally {
      await admin.deleteTopics({ topics: [topic.name] });
    }
  });
});
