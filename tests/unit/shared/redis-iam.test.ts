/**
 * ElastiCache IAM authentication in the shared Redis client: the configuration that turns it on, and the
 * token that must be in ioredis' options before each connect (ioredis reads them synchronously then). The
 * connect itself is replaced by a spy: no socket is opened.
 */
import { jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createRedis, ensureConnected, type RedisPasswordSource } from '#shared/clients/redis.ts';
import { ConfigError, kafkaEnv, readConfig, redisEnv } from '#shared/config.ts';

const iamEnv = {
  REDIS_URL: 'rediss://primary.dev-le-cache.abc123.euw1.cache.amazonaws.com:6379',
  REDIS_AUTH: 'aws-iam',
  REDIS_USER: 'dev-le-enrich',
  REDIS_CACHE_NAME: 'dev-le-cache',
  AWS_REGION: 'eu-west-1',
};

/** Tokens `token-1`, `token-2`… one per call. */
function countingTokens(): RedisPasswordSource & { calls: number } {
  const source = {
    calls: 0,
    current: async () => `token-${++source.calls}`,
  };
  return source;
}

/** Records the password and user ioredis would send at each connect, instead of connecting. */
function recordConnects(redis: Redis): { password: string | undefined; username: string | undefined }[] {
  const seen: { password: string | undefined; username: string | undefined }[] = [];
  jest.spyOn(redis, 'connect').mockImplementation(async () => {
    seen.push({ password: redis.options.password, username: redis.options.username });
  });
  return seen;
}

describe('redisEnv', () => {
  it('needs no auth settings by default (local Redis)', () => {
    expect(readConfig(redisEnv, { REDIS_URL: 'redis://127.0.0.1:6379' }).REDIS_AUTH).toBe('none');
  });

  it('accepts IAM authentication with a user, the cache name, the region and TLS', () => {
    expect(readConfig(redisEnv, iamEnv)).toMatchObject({ REDIS_AUTH: 'aws-iam', REDIS_USER: 'dev-le-enrich' });
  });

  it.each([
    ['REDIS_USER', { REDIS_USER: undefined }],
    ['REDIS_CACHE_NAME', { REDIS_CACHE_NAME: undefined }],
    ['AWS_REGION', { AWS_REGION: undefined }],
    ['TLS', { REDIS_URL: 'redis://primary.example:6379' }],
  ])('refuses IAM authentication without %s', (_missing, change) => {
    expect(() => readConfig(redisEnv, { ...iamEnv, ...change })).toThrow(/REDIS_AUTH: REDIS_AUTH=aws-iam needs/);
  });

  it('refuses a user id ElastiCache would not take', () => {
    expect(() => readConfig(redisEnv, { ...iamEnv, REDIS_USER: 'Dev_Enrich' })).toThrow(/REDIS_USER/);
  });
});

describe('kafkaEnv', () => {
  it('refuses an MSK cluster without IAM auth (plain text to the IAM listener)', () => {
    const msk = { MSK_CLUSTER_ARN: 'arn:aws:kafka:eu-west-1:123456789012:cluster/log-enrichment/uuid' };

    expect(() => readConfig(kafkaEnv, msk)).toThrow(ConfigError);
    expect(() => readConfig(kafkaEnv, { ...msk, KAFKA_AUTH: 'none' })).toThrow(/KAFKA_AUTH: MSK_CLUSTER_ARN needs KAFKA_AUTH=aws-msk-iam/);
    expect(readConfig(kafkaEnv, { ...msk, KAFKA_AUTH: 'aws-msk-iam' }).KAFKA_AUTH).toBe('aws-msk-iam');
  });
});

describe('createRedis with IAM authentication', () => {
  it('connects as the user with a token put in place before the connect', async () => {
    // Prepare
    const redis = createRedis(readConfig(redisEnv, iamEnv), 'enrich', countingTokens());
    const connects = recordConnects(redis);

    // Act
    await ensureConnected(redis);

    // Assess
    expect(connects).toEqual([{ username: 'dev-le-enrich', password: 'token-1' }]);
    // Without grants for CLIENT SETNAME/SETINFO in the user's ACL, the client must not send them.
    expect(redis.options.connectionName).toBeFalsy();
    expect(redis.options.disableClientInfo).toBe(true);
    expect(redis.options.tls).toEqual({});
    redis.disconnect();
  });

  it('puts a fresh token in place when ioredis starts reconnecting', async () => {
    // Prepare
    const tokens = countingTokens();
    const redis = createRedis(readConfig(redisEnv, iamEnv), 'enrich', tokens);
    recordConnects(redis);
    await ensureConnected(redis);

    // Act
    redis.emit('reconnecting', 100);
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(redis.options.password).toBe('token-2');
    redis.disconnect();
  });

  it('shares one connect between concurrent callers while the token is signed', async () => {
    const redis = createRedis(readConfig(redisEnv, iamEnv), 'enrich', countingTokens());
    const connects = recordConnects(redis);

    await Promise.all([ensureConnected(redis), ensureConnected(redis), ensureConnected(redis)]);

    expect(connects).toHaveLength(1);
    redis.disconnect();
  });

  it('signs an ElastiCache token for the configured user and cache by default', async () => {
    // Prepare: the Node credential chain reads these first, as on Lambda.
    const fake = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'session' };
    const saved = Object.fromEntries(Object.keys(fake).map((name) => [name, process.env[name]]));
    Object.assign(process.env, fake);
    const redis = createRedis(readConfig(redisEnv, iamEnv), 'enrich');
    const connects = recordConnects(redis);

    // Act
    await ensureConnected(redis);
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }

    // Assess
    const token = connects[0]?.password ?? '';
    expect(token.startsWith('dev-le-cache/?Action=connect&User=dev-le-enrich&')).toBe(true);
    expect(new URL(`https://${token}`).searchParams.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\/\d{8}\/eu-west-1\/elasticache\/aws4_request$/);
    redis.disconnect();
  });

  it('keeps a local client as it was: no user, no token, a connection name', async () => {
    const redis = createRedis(readConfig(redisEnv, { REDIS_URL: 'redis://127.0.0.1:6379' }), 'enrich');
    const connects = recordConnects(redis);

    await ensureConnected(redis);

    expect(connects).toEqual([{ username: null, password: null }]);
    expect(redis.options.connectionName).toBe('enrich');
    redis.disconnect();
  });
});
