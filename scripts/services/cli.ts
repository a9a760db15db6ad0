/**
 * The local services on the command line (`npm run services -- <command>`):
 *
 *   node scripts/services/cli.ts up       start what is not running, reuse what is, create the topics
 *   node scripts/services/cli.ts status   print each service up/down; exit 0 only when all are up
 *   node scripts/services/cli.ts down     stop what this project started (pid files under .local/), nothing else
 *
 * Configuration comes from the environment (KAFKA_BROKERS, REDIS_URL, DATABASE_URL, SERVICES_TIMEOUT_MS,
 * RAW_TOPIC, RAW_TOPIC_PARTITIONS…; see env.ts).
 */
import { ConfigError } from '#shared/config.ts';
import { ServicesError, servicesDown, servicesStatus, servicesUp } from './index.ts';

/** Runs one command; resolves to the process exit code. */
export async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up':
      await servicesUp();
      return 0;
    case 'down':
      await servicesDown();
      return 0;
    case 'status': {
      const states = await servicesStatus();
      for (const state of states) {
        const owner = state.owner === 'project' ? `project, pid ${state.pid}` : state.owner;
        const detail = state.detail === undefined ? '' : `: ${state.detail}`;
        console.log(
          `${state.service.padEnd(8)} ${(state.up ? 'up' : 'down').padEnd(4)} ${state.address.padEnd(15)} (${owner})${detail}`,
        );
      }
      return states.every((state) => state.up) ? 0 : 1;
    }
    default:
      console.error('usage: node scripts/services/cli.ts up | down | status');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (error: unknown) => {
      // A bad variable or a missing tool deserves its one-line message, not a stack trace.
      console.error(error instanceof ConfigError ? `services: ${error.message}` : error instanceof ServicesError ? error.message : error);
      process.exit(1);
    },
  );
}
