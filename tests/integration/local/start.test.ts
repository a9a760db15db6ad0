/**
 * `npm start` in-process: services reused, the test database migrated and seeded, both HTTP functions
 * served on free ports, and everything it started stopped again.
 */
import { jest } from '@jest/globals';
import { startLocalPipeline } from '../../../scripts/start.ts';
import { TEST_ENV } from '../env.ts';

// Services, migrations and seeding take a few seconds; the project's testTimeout does not reach the
// projects (it is a global Jest option), so say it here.
jest.setTimeout(60_000);

const CURL_BODY = {
  level: 'ERROR',
  message: 'Payment processing failed',
  service: 'payment-service',
  source_ip: '192.168.1.100',
};

describe('startLocalPipeline', () => {
  it('serves ingest and the seeded metadata API, then stops serving', async () => {
    // Prepare
    const lines: string[] = [];
    const pipeline = await startLocalPipeline({
      log: (line) => lines.push(line),
      env: {
        INGEST_PORT: '0',
        METADATA_PORT: '0',
        KAFKA_BROKERS: TEST_ENV.KAFKA_BROKERS,
        REDIS_URL: TEST_ENV.REDIS_URL,
        DATABASE_URL: TEST_ENV.DATABASE_URL,
      },
    });
    const { ingest, metadata } = pipeline.urls;

    try {
      // Act
      const accepted = await fetch(`${ingest}/api/logs`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(CURL_BODY),
      });
      const seededHost = await fetch(`${metadata}/api/metadata/hosts/payment-api-01`);

      // Assess
      expect(accepted.status).toBe(202);
      expect(seededHost.status).toBe(200);
      expect(lines).toContain('local pipeline ready:');
      expect(lines.some((line) => line.includes(`curl -X POST http://localhost:${new URL(ingest ?? '').port}/api/logs`))).toBe(true);
    } finally {
      await pipeline.stop();
    }
    await expect(fetch(`${ingest}/api/health`)).rejects.toThrow();
  });
});
