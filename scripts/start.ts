/**
 * `npm start`: the whole pipeline on this machine, in one process.
 *
 *   1. services: Kafka, Redis, PostgreSQL and the topics (`scripts/services.ts`; reuses what already runs)
 *   2. database: `log_enrichment` created if missing, migrated, demo metadata seeded
 *   3. environment for the functions, THEN the function modules are imported (they read config at load)
 *   4. components: each HTTP function behind the local API Gateway stand-in (`scripts/local/apigw-server.ts`)
 *
 * Ctrl-C stops the components in reverse order, closes their clients, and stops only the services this run
 * started (a broker or database that was already running is left alone).
 *
 * Adding a component (the enrich runner and its health/metrics server, say) is one entry in `components()`:
 * anything with `start()` returning `{ stop() }`.
 */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import type { ProxyHandler } from './local/apigw-server.ts';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/** Everything `npm start` reads; each has a default that matches the README. */
const startEnv = z.object({
  INGEST_PORT: port(8080),
  ENRICH_PORT: port(8081),
  METADATA_PORT: port(8082),
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  // Logical database 0 and database log_enrichment: the integration tests use /15 and log_enrichment_test,
  // so a running `npm start` and a test run never see each other's data.
  REDIS_URL: z.string().regex(/^rediss?:\/\//).default('redis://127.0.0.1:6379/0'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//).default('postgres://postgres@127.0.0.1:5432/log_enrichment'),
  // EMF metrics are CloudWatch's input format; printed locally they would be one JSON blob per request on
  // stdout. Locally the enrich health server exposes Prometheus metrics instead. Set to false to see EMF.
  POWERTOOLS_METRICS_DISABLED: z.enum(['true', 'false']).default('true'),
  API_KEYS: z.string().optional(),
});
export type StartConfig = z.infer<typeof startEnv>;

/** A running part of the local pipeline. */
export interface Running {
  stop(): Promise<void>;
  /** Where it listens, if it does. */
  url?: string;
  /** Lines printed in the "ready" banner (where it listens, how to call it). */
  banner?: readonly string[];
}

export interface Component {
  readonly name: string;
  start(): Promise<Running>;
}

type Log = (line: string) => void;

export interface LocalPipeline {
  config: StartConfig;
  /** Component name → base URL, e.g. `{ ingest: 'http://127.0.0.1:8080', metadata: 'http://127.0.0.1:8082' }`. */
  urls: Record<string, string>;
  /** Stops the components (reverse order), then the services this call started. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Brings the local pipeline up in this process. Must run before any function module is imported here:
 * they read their configuration when they load.
 *
 * @example
 * const pipeline = await startLocalPipeline();
 * // … http://127.0.0.1:8080/api/logs …
 * await pipeline.stop();
 */
export async function startLocalPipeline(options: { log?: Log; env?: NodeJS.ProcessEnv } = {}): Promise<LocalPipeline> {
  const log = options.log ?? console.log;
  const config = readConfig(startEnv, options.env);
  // services.ts reads these at import. It gets the server's maintenance database: it refuses a server
  // that lacks the database DATABASE_URL names, and creating that database is this script's job.
  Object.assign(process.env, {
    KAFKA_BROKERS: config.KAFKA_BROKERS,
    REDIS_URL: config.REDIS_URL,
    DATABASE_URL: maintenanceUrl(config.DATABASE_URL),
    POWERTOOLS_METRICS_DISABLED: config.POWERTOOLS_METRICS_DISABLED,
    ...(config.API_KEYS === undefined ? {} : { API_KEYS: config.API_KEYS }),
  });
  const { ServicesError, servicesUp, stopStarted } = await import('./services.ts');
  // The function modules read it when they load, which is after this line.
  process.env.DATABASE_URL = config.DATABASE_URL;

  let services: Awaited<ReturnType<typeof servicesUp>>;
  try {
    services = await servicesUp({ log });
  } catch (error) {
    // A partial start (the broker came up, PostgreSQL did not) must not leave the broker behind.
    if (error instanceof ServicesError) await stopStarted(error, { log });
    throw error;
  }
  const running: { name: string; running: Running }[] = [];
  let stopping: Promise<void> | undefined;

  const stop = () => {
    stopping ??= (async () => {
      for (const { name, running: part } of [...running].reverse()) {
        await part.stop().catch((error: unknown) => log(`${name}: stop failed: ${describe(error)}`));
      }
      await stopStarted(services, { log });
    })();
    return stopping;
  };

  try {
    const { ensureDatabase } = await import('#shared/db/database.ts');
    const { migrate } = await import('#shared/db/migrate.ts');
    await ensureDatabase(config.DATABASE_URL);
    const applied = await migrate(config.DATABASE_URL);
    log(`database: ${databaseName(config.DATABASE_URL)} ${applied.length === 0 ? 'up to date' : `migrated (${applied.join(', ')})`}`);
    const { seedDemoMetadata } = await import('./seed.ts');
    await seedDemoMetadata(config.DATABASE_URL, config.REDIS_URL);
    log('database: demo metadata seeded');

    for (const component of components(config)) {
      running.push({ name: component.name, running: await component.start() });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const urls: Record<string, string> = Object.fromEntries(
    running.flatMap(({ name, running: part }) => (part.url === undefined ? [] : [[name, part.url]])),
  );
  log('');
  log('local pipeline ready:');
  for (const { running: part } of running) for (const line of part.banner ?? []) log(`  ${line}`);
  log('');
  log('try:');
  for (const line of examples(config, urls)) log(`  ${line}`);
  log('');
  log('Ctrl-C stops it (and the services this run started).');
  return { config, urls, stop };
}

/**
 * The parts of the local pipeline, started in this order and stopped in the reverse one.
 */
function components(config: StartConfig): Component[] {
  return [
    httpFunction('ingest', config.INGEST_PORT, '../functions/ingest/handler.ts', '../functions/ingest/dependencies.ts'),
    httpFunction('metadata', config.METADATA_PORT, '../functions/metadata/handler.ts', '../functions/metadata/dependencies.ts'),
    enrichRunner(config.ENRICH_PORT),
  ];
}

/**
 * The enrich function fed from `raw-logs` by the local event-source runner (the MSK mapping's stand-in),
 * with its health and Prometheus metrics server.
 */
function enrichRunner(port: number): Component {
  return {
    name: 'enrich',
    async start() {
      const { start } = await import('../functions/enrich/local/index.ts');
      const enrich = await start({ port });
      return {
        url: enrich.health.url,
        banner: [`enrich    ${enrich.health.url}/health  ${enrich.health.url}/metrics  (runner on raw-logs)`],
        stop: () => enrich.stop(),
      };
    },
  };
}

/**
 * A Lambda HTTP function served by the local API Gateway stand-in. The handler module exports `handler`
 * and, optionally, `routes` (method + path, API Gateway style) so events carry `resource` and
 * `pathParameters` as in AWS. The dependencies module's `closeDependencies()` (or `close()`), if any,
 * closes its clients on stop.
 */
export function httpFunction(name: string, port: number, handlerModule: string, dependenciesModule?: string): Component {
  return {
    name,
    async start() {
      const { serveHandler } = await import('./local/apigw-server.ts');
      const loaded: Record<string, unknown> = await import(new URL(handlerModule, import.meta.url).href);
      const handler = loaded.handler;
      if (typeof handler !== 'function') throw new Error(`${handlerModule} exports no handler function`);
      // Loaded now, not at stop: the handler module imported it already, so this is the same instance.
      const deps: Record<string, unknown> =
        dependenciesModule === undefined ? {} : await import(new URL(dependenciesModule, import.meta.url).href);
      const closeClients = deps.closeDependencies ?? deps.close;
      const served = await serveHandler({
        name,
        port,
        host: '127.0.0.1',
        handler: handler as ProxyHandler,
        routes: routesOf(loaded.routes),
      });
      return {
        url: served.url,
        banner: [`${name.padEnd(9)} ${served.url}`],
        async stop() {
          await served.close();
          if (typeof closeClients === 'function') await closeClients();
        },
      };
    },
  };
}

function routesOf(value: unknown): { method: string; path: string }[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((route: unknown) => {
    if (route === null || typeof route !== 'object') return [];
    const { method, path } = route as Record<string, unknown>;
    return typeof method === 'string' && typeof path === 'string' ? [{ method, path }] : [];
  });
}

function examples(config: StartConfig, urls: Record<string, string>): string[] {
  const key = config.API_KEYS?.split(',')[0]?.trim();
  const auth = key === undefined || key === '' ? '' : ` -H "x-api-key: ${key}"`;
  // The README's curls say localhost; the servers listen on 127.0.0.1, which curl reaches by that name.
  const at = (name: string) => (urls[name] ?? '').replace('127.0.0.1', 'localhost');
  return [
    ...(urls.ingest === undefined
      ? []
      : [
          `curl -X POST ${at('ingest')}/api/logs -H "Content-Type: application/json"${auth} -d '{"level":"ERROR","message":"Payment processing failed","service":"payment-service","source_ip":"192.168.1.100"}'`,
        ]),
    ...(urls.metadata === undefined
      ? []
      : [
          `curl -X POST ${at('metadata')}/api/metadata/hosts -H "Content-Type: application/json"${auth} -d '{"hostname":"new-server","ipAddress":"192.168.1.150","datacenter":"us-west-2","environment":"production","costCenter":"engineering"}'`,
        ]),
  ];
}

/** The same server and user, database `postgres`. */
function maintenanceUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  const pipeline = await startLocalPipeline();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      console.log(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    console.log(`\n${signal}: stopping (press Ctrl-C again to exit at once)`);
    pipeline.stop().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        console.error(`stop failed: ${describe(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    // Errors with a message written for people (ports, services, configuration) need no stack trace.
    const known = error instanceof Error && /already in use|invalid configuration|not found|not ready/.test(error.message);
    console.error(known ? `npm start: ${(error as Error).message}` : error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
