/**
 * localstack/docker-compose.yml cannot run here (no Docker engine): these tests check its structure, and that
 * it matches what `cdk synth -c target=local` points the functions at.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';
import { settingsSchema } from '../../../infra/cdk/lib/settings.ts';

interface ComposeService {
  image?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  healthcheck?: { test?: string[] };
  restart?: string;
  command?: string[] | string;
}
interface ComposeFile {
  name?: string;
  networks?: Record<string, { name?: string }>;
  services: Record<string, ComposeService>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'localstack/docker-compose.yml'), 'utf8')) as ComposeFile;
const services = Object.entries(compose.services);
const localDefaults = settingsSchema.parse({});

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

it('runs Kafka, Redis, PostgreSQL, LocalStack, Prometheus and Grafana', () => {
  expect(Object.keys(compose.services)).toEqual(
    expect.arrayContaining(['kafka', 'redis', 'postgres', 'localstack', 'prometheus', 'grafana']),
  );
});

it('pins every image to an exact release (PostgreSQL numbers releases major.minor), never latest', () => {
  for (const [name, { image }] of services) {
    expect({ name, image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$/) });
    expect(image).not.toMatch(/:latest$/);
  }
});

it('binds every published port to 127.0.0.1', () => {
  const ports = services.flatMap(([, { ports: published }]) => published ?? []);
  expect(ports.length).toBeGreaterThan(0);
  for (const port of ports) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
});

it('gives every long-running service a healthcheck', () => {
  for (const [name, definition] of services) {
    if (definition.restart === 'no') continue; // one-shot jobs (topic creation)
    expect({ name, test: definition.healthcheck?.test?.length ?? 0 }).toEqual({ name, test: expect.any(Number) });
    expect(definition.healthcheck?.test?.length).toBeGreaterThan(1);
  }
});

it('runs Kafka 4.1 in KRaft mode with a listener for containers at the address the local stack uses', () => {
  const kafka = service('kafka');
  expect(kafka.image).toMatch(/^apache\/kafka:4\.1\.\d+$/);
  expect(kafka.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
  expect(String(kafka.environment?.KAFKA_ADVERTISED_LISTENERS).split(',')).toContain(
    `DOCKER://${localDefaults.localKafkaBrokers}`,
  );
});

it('creates the four pipeline topics with the partition counts of the AWS stack', () => {
  const script = [service('kafka-topics').command].flat().join('\n');
  for (const spec of ['raw-logs:6', 'enriched-logs-complete:3', 'enriched-logs-partial:3', 'raw-logs-dlq:1']) {
    expect(script).toContain(spec);
  }
});

it('serves Redis and PostgreSQL under the host names and database the local stack uses', () => {
  expect(new URL(localDefaults.localRedisUrl).hostname).toBe('redis');
  const database = new URL(localDefaults.localDatabaseUrl);
  expect(database.hostname).toBe('postgres');
  expect(service('postgres').environment).toMatchObject({
    POSTGRES_DB: database.pathname.slice(1),
    POSTGRES_USER: database.username,
    POSTGRES_PASSWORD: database.password,
  });
});

it('pins a LocalStack 4.x tag that starts without an auth token, and puts functions on the compose network', () => {
  const localstack = service('localstack');
  const [, minor] = /^localstack\/localstack:4\.(\d+)\.\d+$/.exec(localstack.image ?? '') ?? [];
  expect(Number(minor)).toBeLessThanOrEqual(14);
  expect(localstack.environment?.LAMBDA_DOCKER_NETWORK).toBe(compose.networks?.default?.name);
  expect(localstack.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
  expect(localstack.environment?.LOCALSTACK_AUTH_TOKEN).toBeUndefined();
});

it('mounts the observability configuration into Prometheus and Grafana', () => {
  expect(service('prometheus').volumes).toContain('../observability/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  expect(service('grafana').volumes?.some((volume) => volume.startsWith('../observability/grafana/'))).toBe(true);
});
