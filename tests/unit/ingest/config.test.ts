import { ConfigError } from '#shared/config.ts';
import { readIngestConfig } from '../../../functions/ingest/config.ts';

describe('readIngestConfig', () => {
  it('applies the documented defaults', () => {
    // Act
    const config = readIngestConfig({ KAFKA_BROKERS: '127.0.0.1:9092' });

    // Assess
    expect(config).toMatchObject({
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      RAW_TOPIC: 'raw-logs',
      INGEST_MAX_BODY_BYTES: 1_048_576,
      INGEST_MAX_BATCH: 1000,
      INGEST_RETRY_AFTER_SECONDS: 5,
    });
    expect(config.API_KEYS).toBeUndefined();
  });

  it('reads the limits and API keys from the environment', () => {
    // Act
    const config = readIngestConfig({
      KAFKA_BROKERS: '127.0.0.1:9092',
      INGEST_MAX_BODY_BYTES: '2048',
      INGEST_MAX_BATCH: '10',
      API_KEYS: 'one, two',
    });

    // Assess
    expect(config).toMatchObject({ INGEST_MAX_BODY_BYTES: 2048, INGEST_MAX_BATCH: 10, API_KEYS: ['one', 'two'] });
  });

  it('fails naming every bad variable at once', () => {
    // Act
    const act = () => readIngestConfig({ INGEST_MAX_BATCH: 'lots', INGEST_MAX_BODY_BYTES: String(7 * 1024 * 1024) });

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/KAFKA_BROKERS/);
    expect(act).toThrow(/INGEST_MAX_BATCH/);
    expect(act).toThrow(/INGEST_MAX_BODY_BYTES/);
  });
});
