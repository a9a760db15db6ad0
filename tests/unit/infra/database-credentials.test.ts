/**
 * The AWS way of reaching PostgreSQL: DATABASE_HOST/PORT/NAME/USER from the stack, the password from the
 * Secrets Manager secret in DATABASE_SECRET_ARN (fetched through Powertools' getSecret, faked here).
 */
import { jest } from '@jest/globals';

const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';
const requested: string[] = [];

jest.unstable_mockModule('@aws-lambda-powertools/parameters/secrets', () => ({
  getSecret: async (name: string) => {
    requested.push(name);
    return { username: 'log_enrichment', password: 'p@ss/w:rd' };
  },
}));

const { postgresEnv, readConfig } = await import('../../../layers/shared/src/config.ts');
const { createPool, resolveDatabaseUrl } = await import('../../../layers/shared/src/clients/postgres.ts');

const awsEnv = {
  DATABASE_HOST: 'proxy.example.internal',
  DATABASE_PORT: '5432',
  DATABASE_NAME: 'log_enrichment',
  DATABASE_USER: 'log_enrichment',
  DATABASE_SECRET_ARN: secretArn,
  DATABASE_SSL: 'require',
};

beforeEach(() => {
  requested.length = 0;
});

it('accepts either DATABASE_URL or the host/name/user/secret parts, and names what is missing otherwise', () => {
  expect(readConfig(postgresEnv, { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' }).DATABASE_URL).toBe(
    'postgres://postgres@127.0.0.1:5432/x',
  );
  expect(readConfig(postgresEnv, awsEnv).DATABASE_HOST).toBe('proxy.example.internal');
  expect(() => readConfig(postgresEnv, { DATABASE_HOST: 'proxy.example.internal' })).toThrow(/DATABASE_SECRET_ARN/);
});

it('keeps DATABASE_URL as is (local runs)', async () => {
  const env = readConfig(postgresEnv, { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' });

  await expect(resolveDatabaseUrl(env)).resolves.toBe('postgres://postgres@127.0.0.1:5432/x');
  expect(requested).toEqual([]);
});

it('builds a verify-full TLS URL with the secret password, escaped', async () => {
  // Act
  const url = new URL(await resolveDatabaseUrl(readConfig(postgresEnv, awsEnv)));

  // Assess
  expect(requested).toEqual([secretArn]);
  expect(url.hostname).toBe('proxy.example.internal');
  expect(url.pathname).toBe('/log_enrichment');
  expect(decodeURIComponent(url.username)).toBe('log_enrichment');
  expect(decodeURIComponent(url.password)).toBe('p@ss/w:rd');
  expect(url.searchParams.get('sslmode')).toBe('verify-full');
});

it('gives the pool the parts and a password function that reads the secret, with TLS verification', async () => {
  // Act
  const pool = createPool(readConfig(postgresEnv, awsEnv), 'test');
  const options = pool.options as { host?: string; user?: string; password?: () => Promise<string>; ssl?: unknown };

  // Assess
  expect(options).toMatchObject({ host: 'proxy.example.internal', user: 'log_enrichment', ssl: { rejectUnauthorized: true } });
  await expect(options.password?.()).resolves.toBe('p@ss/w:rd');
  expect(requested).toEqual([secretArn]);
  await pool.end();
});
