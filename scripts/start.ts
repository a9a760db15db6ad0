/**
 * `npm start`: the whole pipeline on this machine, in one process.
 *
 *   1. services: Kafka, Redis, PostgreSQL and the topics (`scripts/services/`; reuses what already runs)
 *   2. database: `log_enrichment` created if missing, migrated, demo metadata seeded
 *   3. one environment for the functions, this run's services filled in: each is wired from it
 *      (`create…Dependencies(env)`), never from edits to process.env
 *   4. components: each HTTP function behind the local API Gateway stand-in (`scripts/local/api-gateway/`),
 *      enrich fed by the local event-source runner (`scripts/local/event-source/`), and the re-enricher fed
 *      by a second runner, on `enriched-logs-partial` with its own consumer group (AWS: a second mapping)
 *
 * Ctrl-C stops the components in reverse order, closes their clients, and stops only the services this run
 * started (a broker or database that was already running is left alone).
 *
 * Adding a component is one entry in `components()`: anything with `start()` returning `{ stop() }`.
 */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import { type ServicesHandle, ServicesError, servicesUp, stopStarted } from './services/index.ts';
import type { ProxyHandler } from './local/api-gateway/index.ts';
import type { DashboardTelemetry } from './local/dashboard/telemetry.ts';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/** Everything `npm start` reads; each has a default that matches the README. */
const startEnv = z.object({
  INGEST_PORT: port(8080),
  ENRICH_PORT: port(8081),
  METADATA_PORT: port(8082),
  /** The re-enricher's health and Prometheus metrics. */
  REENRICH_PORT: port(8083),
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
 * Brings the local pipeline up in this process.
 *
 * @example
 * const pipeline = await startLocalPipeline();
 * // … http://127.0.0.1:8080/api/logs …
 * await pipeline.stop();
 */
export async function startLocalPipeline(options: { log?: Log; env?: NodeJS.ProcessEnv } = {}): Promise<LocalPipeline> {
  const log = options.log ?? console.log;
  // One source for the services and the functions: the caller's env, else this process's.
  const base = options.env ?? process.env;
  const config = readConfig(startEnv, base);
  // Powertools reads POWERTOOLS_METRICS_DISABLED from process.env itself (when `#shared/observability.ts`
  // loads, on the first component's import); everything else reaches the functions as an explicit env.
  process.env.POWERTOOLS_METRICS_DISABLED = config.POWERTOOLS_METRICS_DISABLED;

  // The services get the server's maintenance database: they refuse a server that lacks the database
  // DATABASE_URL names, and creating that database is this script's job.
  const servicesEnv = {
    ...base,
    KAFKA_BROKERS: config.KAFKA_BROKERS,
    REDIS_URL: config.REDIS_URL,
    DATABASE_URL: maintenanceUrl(config.DATABASE_URL),
  };
  let services: ServicesHandle;
  try {
    services = await servicesUp({ log, env: servicesEnv });
  } catch (error) {
    // A partial start (the broker came up, PostgreSQL did not) must not leave the broker behind.
    if (error instanceof ServicesError) await stopStarted(error, { log, env: servicesEnv });
    throw error;
  }
  const running: { name: string; running: Running }[] = [];
  let stopping: Promise<void> | undefined;

  const stop = () => {
    stopping ??= (async () => {
      for (const { name, running: part } of [...running].reverse()) {
        await part.stop().catch((error: unknown) => log(`${name}: stop failed: ${describe(error)}`));
      }
      await stopStarted(services, { log, env: servicesEnv });
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

    for (const component of components(config, base)) {
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
 * The parts of the local pipeline, started in this order and stopped in the reverse one. Each HTTP function is
 * wired as its handler.ts wires it, from `env` with this run's services filled in.
 */
function components(config: StartConfig, env: NodeJS.ProcessEnv): Component[] {
  // The services as this run resolved them (with their defaults); everything else as `env` has it.
  const functionEnv: NodeJS.ProcessEnv = {
    ...env,
    KAFKA_BROKERS: config.KAFKA_BROKERS,
    REDIS_URL: config.REDIS_URL,
    DATABASE_URL: config.DATABASE_URL,
  };
  // The dashboard's data (served with enrich's health, http://127.0.0.1:8081/): enrich's runner is sampled and
  // its publisher tapped, and ingest, in this same process, reports its counts to it too.
  let telemetry: Promise<DashboardTelemetry> | undefined;
  const dashboardTelemetry = () => {
    telemetry ??= import('./local/dashboard/telemetry.ts').then(({ DashboardTelemetry }) => new DashboardTelemetry({ env: functionEnv }));
    return telemetry;
  };
  // Imported when a component starts, not at the top: `#shared/observability.ts` reads POWERTOOLS_* from
  // process.env when it loads, after startLocalPipeline has set POWERTOOLS_METRICS_DISABLED.
  return [
    httpFunction('ingest', config.INGEST_PORT, async () => {
      const { createIngestDependencies } = await import('../functions/ingest/dependencies.ts');
      const { createIngestHandler, ROUTES } = await import('../functions/ingest/src/http-handler.ts');
      const { CompositeIngestMetrics, PowertoolsIngestMetrics } = await import('../functions/ingest/src/adapters/powertools-metrics.ts');
      const { metrics } = await import('#shared/observability.ts');
      const dashboard = (await dashboardTelemetry()).ingestRuns();
      const dependencies = createIngestDependencies(functionEnv, { metrics: new CompositeIngestMetrics([new PowertoolsIngestMetrics(metrics), dashboard]) });
      return { handler: createIngestHandler(dependencies).handler, routes: ROUTES, close: dependencies.close };
    }),
    httpFunction('metadata', config.METADATA_PORT, async () => {
      const { createMetadataDependencies } = await import('../functions/metadata/dependencies.ts');
      const { createMetadataApi } = await import('../functions/metadata/src/routes.ts');
      const dependencies = createMetadataDependencies(functionEnv);
      const { handler, routes } = createMetadataApi(dependencies);
      return { handler, routes, close: dependencies.close };
    }),
    enrichRunner(config.ENRICH_PORT, functionEnv, dashboardTelemetry),
    reenrichRunner(config.REENRICH_PORT, functionEnv),
  ];
}

/**
 * The enrich function fed from `raw-logs` by the local event-source runner (the MSK mapping's stand-in),
 * with its health and Prometheus metrics server, which also serves the dashboard and the preview API.
 */
function enrichRunner(port: number, env: NodeJS.ProcessEnv, telemetry: () => Promise<DashboardTelemetry>): Component {
  return {
    name: 'enrich',
    async start() {
      const { start } = await import('./local/event-source/index.ts');
      const { readConfig, topicsEnv } = await import('#shared/config.ts');
      const enrich = await start({ port, env, telemetry: await telemetry() });
      const url = enrich.health.url;
      return {
        url,
        banner: [
          `enrich    ${url}/health  ${url}/metrics  (runner on ${readConfig(topicsEnv, env).RAW_TOPIC})`,
          `dashboard ${url}/  (live charts; "why is this log partial?": POST ${url}/api/enrich/preview)`,
        ],
        stop: () => enrich.stop(),
      };
    },
  };
}

/** The re-enrich function fed from the partial topic by a second runner (scripts/local/event-source/reenrich.ts). */
function reenrichRunner(port: number, env: NodeJS.ProcessEnv): Component {
  return {
    name: 'reenrich',
    async start() {
      const { startReenrich } = await import('./local/event-source/reenrich.ts');
      const reenrich = await startReenrich({ port, env });
      const topic = reenrich.dependencies.enrich.config.PARTIAL_TOPIC;
      return {
        url: reenrich.health.url,
        banner: [`reenrich  ${reenrich.health.url}/health  ${reenrich.health.url}/metrics  (runner on ${topic})`],
        stop: () => reenrich.stop(),
      };
    },
  };
}

/** A Lambda HTTP function as the local runtime serves it: its handler, its routes, and its clients to close. */
export interface HttpFunction {
  handler: ProxyHandler;
  /** Method + path, API Gateway style, so events carry `resource` and `pathParameters` as in AWS. */
  routes: readonly { method: string; path: string }[];
  close(): Promise<void>;
}

/**
 * A Lambda HTTP function served by the local API Gateway stand-in: `build` wires it when the component starts,
 * and its clients are closed on stop.
 */
export function httpFunction(name: string, port: number, build: () => Promise<HttpFunction>): Component {
  return {
    name,
    async start() {
      const { serveHandler } = await import('./local/api-gateway/index.ts');
      const wired = await build();
      let served: Awaited<ReturnType<typeof serveHandler>>;
      try {
        served = await serveHandler({ name, port, host: '127.0.0.1', handler: wired.handler, routes: wired.routes });
      } catch (error) {
        await wired.close();
        throw error;
      }
      return {
        url: served.url,
        banner: [`${name.padEnd(9)} ${served.url}`],
        async stop() {
          await served.close();
          await wired.close();
        },
      };
    },
  };
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
