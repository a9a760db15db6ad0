/**
 * The load tool's output reader and its accounting across broker trouble, on a broker of the test's own:
 * a read across a restart completes (the reader reconnects and resumes where it was), and a reader that
 * cannot reach the broker says "unknown" for what it could not check, never "lost".
 *
 * No enricher here: the accounting reads ingest's own output (`raw-logs`, whose records carry the
 * `event_id` the 202 named) as its "complete" topic, so what is tested is the reader and the ledger, with
 * the real ingest handler over HTTP in front of the real broker.
 */
import { jest } from '@jest/globals';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { logger } from '#shared/observability.ts';
import { createIngestDependencies, type IngestDependencies } from '../../../functions/ingest/dependencies.ts';
import { createIngestHandler, ROUTES } from '../../../functions/ingest/src/http-handler.ts';
import { loadCatalog } from '../../../load/lib/catalog.ts';
import { type LoadRunOptions, runLoad } from '../../../load/lib/run.ts';
import { serveHandler, type ServedHandler } from '../../../scripts/local/api-gateway/index.ts';
import { OwnBroker } from '../../support/own-broker.ts';

// A restart after SIGKILL takes the broker ~12 s; the runs are sized around it.
jest.setTimeout(180_000);

const print = (line: string) => console.log(`[load-reader] ${line}`);

let broker: OwnBroker;
let wiring: IngestDependencies;
let served: ServedHandler;

beforeAll(async () => {
  // Refused requests log an error each by design (the restart test makes a few hundred of them).
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  broker = await OwnBroker.start({
    topics: [
      { name: 'raw-logs', partitions: 3 },
      { name: 'never-written', partitions: 2 },
    ],
    log: print,
  });
  wiring = createIngestDependencies({ ...process.env, KAFKA_BROKERS: broker.bootstrap, INGEST_RETRY_AFTER_SECONDS: '1' });
  const { handler } = createIngestHandler(wiring);
  served = await serveHandler({ name: 'ingest-load-reader-test', port: 0, handler, routes: ROUTES });
});

afterAll(async () => {
  await served?.close();
  await wiring?.close();
  await broker?.stop();
  jest.restoreAllMocks();
});

/** runLoad against this file's ingest and broker, reading `outputTopic` as the "complete" output. */
async function load(outputTopic: string, overrides: Partial<LoadRunOptions>) {
  const kafka = readConfig(kafkaEnv, { ...process.env, KAFKA_BROKERS: broker.bootstrap });
  return runLoad({
    url: served.url,
    rate: 20,
    durationSeconds: 2,
    batch: 1,
    maxInFlight: 256,
    drainTimeoutSeconds: 5,
    catalog: await loadCatalog(),
    kafka: {
      connection: await connectionOptions(kafka, 'load-reader-test'),
      topics: { complete: outputTopic, partial: 'never-written', deadLetter: 'never-written' },
    },
    ...overrides,
  });
}

describe('load tool output reader', () => {
  it('reads across a broker restart to the end and accounts for every accepted log', async () => {
    // Prepare: the broker is killed 2 s into a 30 s run and restarted at once (it answers again 12–19 s
    // later on this 2-core machine; an 18 s run once ended before it was back, and nothing after the
    // restart was read), so logs are accepted both before the kill and after the restart
    let responses = 0;
    let restarted: Promise<void> | undefined;

    // Act
    const report = await load('raw-logs', {
      durationSeconds: 30,
      drainTimeoutSeconds: 60,
      onResponse: () => {
        responses += 1;
        if (responses === 40) restarted = broker.kill().then(() => broker.restart());
      },
    });
    await restarted;

    // Assess
    const refused = report.http.statuses.get('503') ?? 0;
    print(
      `restart: ${report.http.logsAccepted} accepted, ${refused} refused (503), reader reconnected ` +
        `${report.readerReconnects} time(s), drain ${((report.drainMs ?? 0) / 1000).toFixed(1)} s`,
    );
    expect(refused).toBeGreaterThan(0);
    expect(report.readerReconnects).toBeGreaterThanOrEqual(1);
    expect(report.readerFailure).toBeUndefined();
    expect(report.coverage?.complete).toBe(true);
    expect(report.accounting).toMatchObject({ accepted: report.http.logsAccepted, complete: report.http.logsAccepted, lost: 0, unknown: 0, duplicates: 0 });
  });

  it('counts accepted logs it read everything for and never saw as lost', async () => {
    // Prepare: nothing writes `never-written`, so every accepted log is missing from the outputs

    // Act
    const report = await load('never-written', { drainTimeoutSeconds: 2 });

    // Assess: the control for the next test, where the only difference is a broker that cannot be read
    expect(report.http.logsAccepted).toBeGreaterThan(0);
    expect(report.coverage?.complete).toBe(true);
    expect(report.accounting).toMatchObject({ lost: report.http.logsAccepted, unknown: 0 });
    expect(report.readerFailure).toBeUndefined();
  });

  it('says unknown, not lost, for what it could not read when the broker is gone', async () => {
    // Prepare: the broker is killed as the last response arrives, before the drain and the final check
    let responses = 0;
    let killed: Promise<void> | undefined;

    // Act
    const report = await load('never-written', {
      drainTimeoutSeconds: 2,
      onResponse: () => {
        responses += 1;
        if (responses === 40) killed = broker.kill();
      },
    });
    await killed;

    // Assess
    print(`unreachable: ${report.readerFailure ?? '(no reader failure reported)'}`);
    expect(report.http.logsAccepted).toBeGreaterThan(0);
    expect(report.coverage?.complete).toBe(false);
    expect(report.readerFailure).toBeDefined();
    expect(report.accounting).toMatchObject({ lost: 0, unknown: report.http.logsAccepted });
  });
});
