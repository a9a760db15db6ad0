/**
 * Jest global teardown of the integration project: stops nothing, on purpose.
 *
 * The broker takes about 4 s to start and milliseconds to reuse, so it stays up for the next run (and for the
 * other engineers on this machine); `npm run services -- down` stops what the project started. Redis and
 * PostgreSQL are usually the machine's own and are never the tests' to stop. Test files close their own
 * clients. A CI job that wants a clean machine can call `stopStarted(globalThis.__servicesStartedByJest)`.
 */
export default async function globalTeardown(): Promise<void> {}
