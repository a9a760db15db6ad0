/**
 * Jest global setup of the integration project: makes the real Kafka, Redis and PostgreSQL answer (reusing
 * whatever already does), creates the pipeline topics, and gives the tests a migrated database of their own,
 * once per run, before any test file loads; installs kcat and Chromium where they are missing. What this run
 * started is kept on globalThis, which Jest shares between global setup and teardown.
 */
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';
import { ensureChromium } from '../../scripts/ensure-chromium.ts';
import { ensureKcat } from '../../scripts/ensure-kcat.ts';
import { type ServicesHandle, servicesUp } from '../../scripts/services/index.ts';
import { TEST_ENV } from './test-env.ts';

declare global {
  /** Processes started by this Jest run's global setup (empty when everything was already running). */
  var __servicesStartedByJest: ServicesHandle | undefined;
}

export default async function globalSetup(): Promise<void> {
  // Tests produce with kcat, a Kafka producer that is not ours (installed here when missing and root).
  ensureKcat((line) => console.log(`[kcat] ${line}`));
  // The dashboard's browser test drives Debian's chromium through playwright-core (installed here when missing and root).
  ensureChromium((line) => console.log(`[chromium] ${line}`));
  globalThis.__servicesStartedByJest = await servicesUp({ log: (line) => console.log(`[services] ${line}`) });
  await ensureDatabase(TEST_ENV.DATABASE_URL);
  const applied = await migrate(TEST_ENV.DATABASE_URL);
  if (applied.length > 0) console.log(`[services] test database: applied ${applied.join(', ')}`);
}
