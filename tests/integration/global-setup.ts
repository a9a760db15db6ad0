/**
 * Jest global setup of the integration project: makes the real Kafka, Redis and PostgreSQL answer (reusing
 * whatever already does) and creates the pipeline topics, once per run, before any test file loads.
 * What this run started is kept on globalThis, which Jest shares between global setup and teardown.
 */
import { type ServicesHandle, servicesUp } from '../../scripts/services.ts';

declare global {
  /** Processes started by this Jest run's global setup (empty when everything was already running). */
  var __servicesStartedByJest: ServicesHandle | undefined;
}

export default async function globalSetup(): Promise<void> {
  globalThis.__servicesStartedByJest = await servicesUp({ log: (line) => console.log(`[services] ${line}`) });
}
