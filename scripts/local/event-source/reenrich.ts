/**
 * The local stand-in for the re-enrich function's event source mapping: a second runner, on the partial topic
 * with its own consumer group (default `reenrich-local`), invoking the re-enrich function
 * (functions/enrich/reenrich-dependencies.ts), with its own health and Prometheus metrics server. `npm start`
 * runs it beside enrich's runner; tests start it on their own services.
 *
 * The runner takes partial batch responses, as the AWS mapping with provisioned pollers does, so the
 * function is told it may hand records back one by one (ENRICH_REPORT_BATCH_ITEM_FAILURES=true).
 */
import { createReenrichDependencies, type ReenrichDependencies } from '../../../functions/enrich/reenrich-dependencies.ts';
import { PrometheusEnrichMetrics, PrometheusReenrichMetrics } from '../../../functions/enrich/src/adapters/prometheus-metrics.ts';
import { type EnrichComponent, start } from './index.ts';
import type { EnrichRunnerOptions } from './runner.ts';

export interface ReenrichComponent extends EnrichComponent {
  dependencies: ReenrichDependencies;
}

/**
 * @param options.env the functions' environment (REENRICH_*, topics, services); REENRICH_GROUP_ID names the group
 * @example
 * const reenrich = await startReenrich({ env, port: 8083 });
 * await reenrich.stop();
 */
export async function startReenrich(options: Omit<EnrichRunnerOptions, 'enrich' | 'dependencies' | 'metrics' | 'topic'> & { port?: number } = {}): Promise<ReenrichComponent> {
  const env = options.env ?? process.env;
  const metrics = new PrometheusEnrichMetrics();
  const dependencies = createReenrichDependencies(
    { ...env, ENRICH_REPORT_BATCH_ITEM_FAILURES: 'true' },
    { metrics, reenrichMetrics: new PrometheusReenrichMetrics(metrics.registry), ...(options.publisher === undefined ? {} : { publisher: options.publisher }) },
  );
  let component: EnrichComponent;
  try {
    component = await start({
      groupId: env.REENRICH_GROUP_ID ?? 'reenrich-local',
      ...options,
      env,
      topic: dependencies.enrich.config.PARTIAL_TOPIC,
      enrich: (event) => dependencies.reenrich(event),
      dependencies: dependencies.enrich,
      metrics,
    });
  } catch (error) {
    await dependencies.close();
    throw error;
  }
  return {
    ...component,
    dependencies,
    async stop() {
      // Waits end first (their records go back to the partition), so the runner's drain is quick.
      dependencies.reenrichBatch.stop();
      await component.stop();
      await dependencies.close();
    },
  };
}
