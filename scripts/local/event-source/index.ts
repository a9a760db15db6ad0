/**
 * The local stand-in for the Kafka event source mapping, as one component: runner (consumer group → enrich
 * function) plus the health server, with the dashboard when given a telemetry. `scripts/start.ts` (npm start)
 * calls `start()`; `main.ts` runs it standalone.
 */
import { z } from 'zod';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import type { DashboardHandlers } from '../dashboard/index.ts';
import { createPage } from '../dashboard/page.ts';
import { createPreview } from '../dashboard/preview.ts';
import type { DashboardTelemetry } from '../dashboard/telemetry.ts';
import { type HealthServer, startHealthServer } from './health.ts';
import { type EnrichRunner, type EnrichRunnerOptions, startEnrichRunner } from './runner.ts';

export { type EnrichRunner, type EnrichRunnerOptions, startEnrichRunner, toKafkaEvent } from './runner.ts';
export { type HealthServer, healthReport, startHealthServer } from './health.ts';

/** Exported for `npm run bench`, which labels its paced run with these defaults (npm start's). */
export const localEnv = z.object({
  ENRICH_HEALTH_PORT: z.coerce.number().int().min(0).max(65_535).default(8081),
  /** Loopback by default; `0.0.0.0` lets the compose file's Prometheus (in a container) scrape it. */
  ENRICH_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  ENRICH_GROUP_ID: z.string().min(1).default('enrich-local'),
  ENRICH_BATCH_SIZE: z.coerce.number().int().positive().max(10_000).default(100),
  ENRICH_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(300_000).default(500),
});

export interface EnrichComponent {
  runner: EnrichRunner;
  health: HealthServer;
  stop(): Promise<void>;
}

export interface StartOptions extends EnrichRunnerOptions {
  port?: number;
  /**
   * Serve the dashboard (scripts/local/dashboard/) on the health server, fed by this telemetry: enrich's
   * publisher is tapped (partial reasons, dead letters), the runner sampled, and the preview answers with
   * the runner's own lookup. `npm start` passes one (its ingest reports to the same telemetry).
   */
  telemetry?: DashboardTelemetry;
}

/**
 * Starts the runner and its health server; options override the environment (ENRICH_HEALTH_PORT, ENRICH_HEALTH_HOST,
 * ENRICH_GROUP_ID, ENRICH_BATCH_SIZE, ENRICH_BATCH_WINDOW_MS).
 *
 * @example
 * const enrich = await start({ telemetry: new DashboardTelemetry() });
 * process.on('SIGTERM', () => void enrich.stop());
 */
export async function start(options: StartOptions = {}): Promise<EnrichComponent> {
  const { telemetry, port, ...runnerOptions } = options;
  const source = options.env ?? process.env;
  const env = readConfig(localEnv, source);
  const tapped =
    telemetry === undefined || options.enrich !== undefined
      ? {}
      : { publisher: telemetry.tap(options.publisher ?? new KafkaPublisher(readConfig(kafkaEnv, source), 'enrich')) };
  const runner = await startEnrichRunner({
    groupId: env.ENRICH_GROUP_ID,
    batchSize: env.ENRICH_BATCH_SIZE,
    batchWindowMs: env.ENRICH_BATCH_WINDOW_MS,
    ...runnerOptions,
    ...tapped,
  });
  let health: HealthServer;
  try {
    const dashboard = telemetry === undefined ? undefined : dashboardOf(telemetry, runner);
    health = await startHealthServer({ runner, port: port ?? env.ENRICH_HEALTH_PORT, host: env.ENRICH_HEALTH_HOST, log: options.log, ...(dashboard === undefined ? {} : { dashboard }) });
  } catch (error) {
    telemetry?.stop();
    await runner.stop();
    throw error;
  }
  return {
    runner,
    health,
    async stop() {
      await health.close();
      telemetry?.stop();
      await runner.stop();
    },
  };
}

/** The dashboard's handlers over a running runner: its samples, its lookup for the preview, the page. */
function dashboardOf(telemetry: DashboardTelemetry, runner: EnrichRunner): DashboardHandlers | undefined {
  const dependencies = runner.dependencies;
  if (dependencies === undefined) return undefined;
  telemetry.attach(runner);
  const preview = createPreview({ dependencies });
  const page = createPage();
  return { snapshot: () => telemetry.snapshot(), preview, asset: (path) => page.asset(path) };
}
