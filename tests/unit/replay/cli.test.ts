import { localDefaults, summaryText } from '../../../scripts/replay.ts';

describe('npm run replay: environment and summary', () => {
  it("uses npm start's services only where the environment names none", () => {
    expect(localDefaults({}, undefined)).toMatchObject({ KAFKA_BROKERS: '127.0.0.1:9092', REDIS_URL: 'redis://127.0.0.1:6379/0', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/log_enrichment' });
    expect(localDefaults({ KAFKA_BROKERS: 'b:9092' }, 'c:9098').KAFKA_BROKERS).toBe('c:9098');
    // An environment copied from the enrich function on AWS: nothing local is added to it.
    const aws = localDefaults({ MSK_CLUSTER_ARN: 'arn:aws:kafka:…', KAFKA_AUTH: 'aws-msk-iam', REDIS_URL: 'rediss://cache:6379', DATABASE_HOST: 'proxy', DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:…' }, undefined);
    expect(aws.KAFKA_BROKERS).toBeUndefined();
    expect(aws.DATABASE_URL).toBeUndefined();
    expect(aws.REDIS_URL).toBe('rediss://cache:6379');
  });

  it('prints every count, skipped and unrecoverable with their reasons', () => {
    const text = summaryText({
      topic: 'raw-logs-dlq',
      dryRun: false,
      read: 10,
      matched: 8,
      unmatched: 1,
      records: 6,
      readBack: 1,
      complete: 4,
      partial: 1,
      deadLettered: 1,
      skipped: { 'already in this replay': 1 },
      unrecoverable: { 'no longer on raw-logs (past its retention)': 1 },
    });
    expect(text.split('\n')).toEqual([
      'replay of raw-logs-dlq',
      '  read            10',
      '  matched         8',
      '  unmatched       1',
      '  records sent    6 (1 read back whole from their source topic)',
      '  complete        4',
      '  still partial   1',
      '  dead-lettered   1',
      '  skipped         1 (already in this replay: 1)',
      '  unrecoverable   1 (no longer on raw-logs (past its retention): 1)',
    ]);
  });
});
