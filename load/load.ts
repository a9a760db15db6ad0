/**
 * `npm run load -- --rate 500 --duration 60 [--url …] [--api-key …] [--batch N] [--brokers …]`
 *
 * Open-loop load against ingest, then end-to-end accounting of every accepted log on the output topics.
 * Against a local target with nothing listening, the local pipeline (services, database, ingest, enrich
 * runner: `scripts/start.ts`) is started in this process first and stopped afterwards; note that it then
 * shares this process's event loop with the load generator, so for the heaviest runs start `npm start` in
 * another terminal and point the load at it.
 *
 * Exit code: 0 when every accepted log was accounted for, 1 when logs were lost or unknown (the outputs
 * could not all be read) or none was accepted, 2 on a usage error.
 */
import { z } from 'zod';
import { kafkaEnv, readConfig, topicsEnv } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { tcpOpen } from '../scripts/services/index.ts';
import { loadCatalog } from './lib/catalog.ts';
import { isLocalTarget, type LoadOptions, parseLoadOptions, UsageError } from './lib/options.ts';
import { formatReport } from './lib/report.ts';
import { type LoadRunOptions, runLoad } from './lib/run.ts';

const loadEnv = topicsEnv.extend({
  /** Brokers for accounting against a local target (the local pipeline's default). */
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
});

/** Where the enrich runner's health server listens (the runner's own default). */
const enrichLocalEnv = z.object({ ENRICH_HEALTH_PORT: z.coerce.number().int().min(0).max(65_535).default(8081) });

const log = (line: string) => console.log(line);

async function main(argv: readonly string[]): Promise<number> {
  const options = parseLoadOptions(argv);
  const env = readConfig(loadEnv);
  const local = isLocalTarget(options.url);

  let pipeline: { stop(): Promise<void> } | undefined;
  if (local && !(await listening(options.url))) {
    log(`nothing listens at ${options.url}: starting the local pipeline in this process (stopped after the run)`);
    pipeline = await startPipeline(options.url);
  }
  try {
    const report = await runLoad({
      url: options.url,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      rate: options.rate,
      durationSeconds: options.duration,
      batch: options.batch,
      maxInFlight: options.maxInFlight,
      drainTimeoutSeconds: options.drainTimeout,
      catalog: await loadCatalog(),
      kafka: await accountingTarget(options, local, env),
      log,
    });
    for (const line of formatReport(report)) log(line);
    if (report.http.logsAccepted === 0) return 1;
    const accounting = report.accounting;
    if (accounting === undefined) return 0;
    // Unknown fails the run like lost does (nothing proves those logs came out), but it is reported apart.
    if (accounting.unknown > 0 || report.readerFailure !== undefined) {
      log(`exit 1: the output topics could not all be read (${accounting.unknown} accepted log(s) unknown)`);
      return 1;
    }
    return accounting.lost > 0 ? 1 : 0;
  } finally {
    if (pipeline !== undefined) {
      log('');
      log('stopping the local pipeline started for this run');
      await pipeline.stop();
    }
  }
}

async function accountingTarget(
  options: LoadOptions,
  local: boolean,
  env: z.infer<typeof loadEnv>,
): Promise<LoadRunOptions['kafka']> {
  if (!options.accounting) return { skipped: '--no-accounting given' };
  const brokers = options.brokers ?? (local ? env.KAFKA_BROKERS : undefined);
  if (brokers === undefined) {
    return {
      skipped: 'the target is not local and no --brokers was given, so the output topics cannot be read ' +
        '(pass --brokers HOST:PORT,… and, for MSK IAM, KAFKA_AUTH=aws-msk-iam AWS_REGION=…)',
    };
  }
  // Same connection code as the functions: static brokers locally, MSK IAM when KAFKA_AUTH says so.
  const kafka = readConfig(kafkaEnv, { ...process.env, KAFKA_BROKERS: brokers });
  return {
    connection: await connectionOptions(kafka, 'load'),
    topics: { complete: env.COMPLETE_TOPIC, partial: env.PARTIAL_TOPIC, deadLetter: env.DLQ_TOPIC },
  };
}

async function startPipeline(url: string): Promise<{ stop(): Promise<void> }> {
  // The functions log every accepted request at INFO: at hundreds of requests a second that would bury the
  // load report. Their own level still wins when the caller set one.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  const { startLocalPipeline } = await import('../scripts/start.ts');
  const port = new URL(url).port || '80';
  const pipeline = await startLocalPipeline({ env: { ...process.env, INGEST_PORT: port }, log });
  // Without an enrich runner every accepted log would count as lost: start one when the pipeline did not
  // (its health server answers on ENRICH_HEALTH_PORT when it did). startLocalPipeline has put the services'
  // addresses into the environment the runner reads.
  const enrichPort = readConfig(enrichLocalEnv).ENRICH_HEALTH_PORT;
  if (await listening(`http://127.0.0.1:${enrichPort}`)) return pipeline;
  log(`enrich: no runner answers on 127.0.0.1:${enrichPort}; starting one for this run`);
  try {
    const { start } = await import('../scripts/local/event-source/index.ts');
    const enrich = await start();
    return {
      async stop() {
        await enrich.stop().catch((error: unknown) => log(`enrich: stop failed: ${String(error)}`));
        await pipeline.stop();
      },
    };
  } catch (error) {
    await pipeline.stop();
    throw error;
  }
}

/** Whether something accepts TCP connections at the URL's host and port. */
function listening(url: string): Promise<boolean> {
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  return tcpOpen(target.hostname.replace(/^\[|\]$/g, ''), port, 1000);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
