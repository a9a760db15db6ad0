/**
 * The local stand-in for the Kafka event source mapping, as one component: runner (consumer group → enrich
 * function) plus the health server. `scripts/start.ts` (npm start) calls `start()`; `main.ts` runs it standalone.
 */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
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

/**
 * Starts the runner and its health server; options override the environment (ENRICH_HEALTH_PORT, ENRICH_HEALTH_HOST,
 * ENRICH_GROUP_ID, ENRICH_BATCH_SIZE, ENRICH_BATCH_WINDOW_MS).
 *
 * @example
 * const enrich = await start();
 * process.on('SIGTERM', () => void enrich.stop());
 */
export async function start(options: EnrichRunnerOptions & { port?: number } = {}): Promise<EnrichComponent> {
  const env = readConfig(localEnv, options.env ?? process.env);
  const runner = await startEnrichRunner({
    groupId: env.ENRICH_GROUP_ID,
    batchSize: env.ENRICH_BATCH_SIZE,
    batchWindowMs: env.ENRICH_BATCH_WINDOW_MS,
    ...options,
  });
  let health: HealthServer;
  try {
    health = await startHealthServer({ runner, port: options.port ?? env.ENRICH_HEALTH_PORT, host: env.ENRICH_HEALTH_HOST, log: options.log });
  } catch (error) {
    await runner.stop();
    throw error;
  }
  return {
    runner,
    health,
    async stop() {
      await health.close();
      await runner.stop();
    },
  };
}
