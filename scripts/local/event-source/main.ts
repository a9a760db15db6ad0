/**
 * Standalone local enrich runtime: `npm run runner` (`node scripts/local/event-source/main.ts`). Run two of
 * them (with different ENRICH_HEALTH_PORT) to watch the consumer group share the partitions of raw-logs.
 */
import { logger } from '#shared/observability.ts';
import { start } from './index.ts';

const component = await start();
logger.info('enrich runner started', { health: `${component.health.url}/health`, metrics: `${component.health.url}/metrics` });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info('enrich runner stopping', { signal });
  await component.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
