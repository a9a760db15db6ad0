/**
 * `npm run bench`: throughput and latency on the real services, in one run, printed as one table with the
 * machine it ran on. Bounded (about 2–4 minutes on 2 cores); throwaway topics, its own database and Redis
 * logical database, so it can run next to `npm start`. Starts the services it needs if they are down, and
 * stops only those afterwards.
 *
 *   (1) the enrich handler in-process (the enrich engineer's bench module), our JSON and OTLP protobuf in and out
 *   (2) the ceiling: Kafka pass-through with the same client, no lookups
 *   (3) the full pipeline: a pre-filled raw topic drained by the local enrich runner, and its ratio to (2)
 *   (4) ingest over HTTP, single and batched, next to a bare Node server
 *   the enrich handler on batches of 500 against the real Redis and PostgreSQL (warm, and with the in-process
 *       cache cold), and from it the Lambda cost per million logs at the enrich function's memory (infra/cdk)
 *   every function's bundle size and module init (scripts/bundle-sizes.ts)
 * Each figure is printed with its target (issue 11) and whether this run met it (bench/lib/targets.ts).
 *
 * Environment (defaults): KAFKA_BROKERS (127.0.0.1:9092), BENCH_RECORDS (100000), BENCH_HTTP_SECONDS (8),
 * BENCH_BATCH (100 logs per batched HTTP request), BENCH_ENRICH_BATCHES (100,1000), BENCH_PACED_RATE (5000),
 * BENCH_PACED_SECONDS (10), BENCH_BATCH_WINDOW_MS (500), BENCH_FLEET_HOSTS (500), BENCH_ENRICH_HANDLER_BATCHES (2000), BENCH_DATABASE_URL (…/log_enrichment_bench), BENCH_REDIS_URL (…:6379/14),
 * BENCH_REAL_BATCH_SIZE (500), BENCH_REAL_BATCHES (200 timed batches; the cold-cache variant half), BENCH_REAL_WARMUP (20),
 * BENCH_BUNDLE_RUNS (5 fresh processes per function; 0 skips the init times).
 */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import type { Row } from './lib/sections.ts';

const benchEnv = z.object({
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  BENCH_RECORDS: z.coerce.number().int().positive().default(100_000),
  BENCH_HTTP_SECONDS: z.coerce.number().int().positive().default(8),
  BENCH_BATCH: z.coerce.number().int().min(2).max(1000).default(100),
  /** Runner batch sizes for the pipeline drain; the first (the runner's default, 100) also gets the paced run. */
  BENCH_ENRICH_BATCHES: z
    .string()
    .default('100,1000')
    .transform((value) => value.split(',').map(Number))
    .pipe(z.array(z.number().int().positive().max(10_000)).min(1)),
  /** Batches of 100 for the in-process enrich handler bench (bench/enrich.ts). */
  BENCH_ENRICH_HANDLER_BATCHES: z.coerce.number().int().positive().default(2000),
  BENCH_PACED_RATE: z.coerce.number().positive().default(5000),
  BENCH_PACED_SECONDS: z.coerce.number().positive().default(10),
  /** The runner's batching window in the pipeline runs (the mapping's default, 500 ms, unless set). */
  BENCH_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(300_000).default(500),
  // The bench's own database and Redis logical database: npm start uses log_enrichment and /0, tests
  // log_enrichment_test and /15.
  BENCH_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//).default('postgres://postgres@127.0.0.1:5432/log_enrichment_bench'),
  BENCH_REDIS_URL: z.string().regex(/^rediss?:\/\//).default('redis://127.0.0.1:6379/14'),
  /** Registered hosts besides the demo ones, so the source-IP keys spread over the partitions (bench/lib/fleet.ts). */
  BENCH_FLEET_HOSTS: z.coerce.number().int().min(0).max(10_000).default(500),
  /** The enrich handler against the real Redis and PostgreSQL: batch size, timed batches, warm-up batches. */
  BENCH_REAL_BATCH_SIZE: z.coerce.number().int().positive().max(10_000).default(500),
  BENCH_REAL_BATCHES: z.coerce.number().int().positive().default(200),
  BENCH_REAL_WARMUP: z.coerce.number().int().min(0).default(20),
  /** Fresh processes per function for the module-init time; 0 prints sizes only (init "unknown"). */
  BENCH_BUNDLE_RUNS: z.coerce.number().int().min(0).max(50).default(5),
});

const config = readConfig(benchEnv);
// Before any function module loads (they build their logger at import): per-request INFO logs and EMF
// blobs on stdout would both bury the table and cost the throughput being measured.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
// The services get their broker explicitly (servicesEnv); this copy is for the pipeline section, whose
// enrich runner is wired from process.env (bench/lib/sections.ts).
process.env.KAFKA_BROKERS = config.KAFKA_BROKERS;
const servicesEnv: NodeJS.ProcessEnv = { ...process.env, KAFKA_BROKERS: config.KAFKA_BROKERS };

const log = (line: string) => console.log(`[bench] ${line}`);

async function main(): Promise<void> {
  const { kafkaEnv } = await import('#shared/config.ts');
  const { connectionOptions } = await import('#shared/kafka/connection.ts');
  const { servicesUp, stopStarted } = await import('../scripts/services/index.ts');
  const { loadCatalog } = await import('../load/lib/catalog.ts');
  const { describeMachine, machineInfo } = await import('./lib/machine.ts');
  const sections = await import('./lib/sections.ts');
  const { renderTable } = await import('./lib/table.ts');
  const { evaluateTargets } = await import('./lib/targets.ts');

  const began = Date.now();
  const services = await servicesUp({ log, env: servicesEnv });
  try {
    const env = readConfig(kafkaEnv, { KAFKA_BROKERS: config.KAFKA_BROKERS });
    const { ensureDatabase } = await import('#shared/db/database.ts');
    const { migrate } = await import('#shared/db/migrate.ts');
    const { seedDemoMetadata, seedMetadata } = await import('../scripts/seed.ts');
    const { fleetHosts, withFleet } = await import('./lib/fleet.ts');
    await ensureDatabase(config.BENCH_DATABASE_URL);
    await migrate(config.BENCH_DATABASE_URL);
    await seedDemoMetadata(config.BENCH_DATABASE_URL, config.BENCH_REDIS_URL);
    const fleet = fleetHosts(config.BENCH_FLEET_HOSTS);
    await seedMetadata(config.BENCH_DATABASE_URL, config.BENCH_REDIS_URL, { hosts: fleet, services: [], networks: [] });
    log(`metadata: demo set + ${fleet.length} fleet hosts in ${config.BENCH_DATABASE_URL}`);
    const catalog = withFleet(await loadCatalog(), fleet);
    const context = { connection: await connectionOptions(env, 'bench'), kafkaEnv: env, catalog, log };

    const rows: Row[] = [];
    rows.push(...(await sections.enrichHandlerSection(context, config.BENCH_ENRICH_HANDLER_BATCHES)));
    const ceiling = await sections.passThroughSection(context, config.BENCH_RECORDS);
    rows.push(...ceiling.rows);
    rows.push(
      ...(await sections.pipelineSection(
        context,
        { databaseUrl: config.BENCH_DATABASE_URL, redisUrl: config.BENCH_REDIS_URL },
        {
          records: config.BENCH_RECORDS,
          batchSizes: config.BENCH_ENRICH_BATCHES,
          pacedRate: config.BENCH_PACED_RATE,
          pacedSeconds: config.BENCH_PACED_SECONDS,
          batchWindowMs: config.BENCH_BATCH_WINDOW_MS,
          ceiling: ceiling.recordsPerSecond,
        },
      )),
    );
    rows.push(...(await sections.httpSection(context, config.BENCH_HTTP_SECONDS, config.BENCH_BATCH)));
    rows.push(...(await sections.bundleSection(context, config.BENCH_BUNDLE_RUNS)));
    rows.push(
      ...(await sections.enrichRealSection(
        context,
        { databaseUrl: config.BENCH_DATABASE_URL, redisUrl: config.BENCH_REDIS_URL },
        { batchSize: config.BENCH_REAL_BATCH_SIZE, batches: config.BENCH_REAL_BATCHES, warmup: config.BENCH_REAL_WARMUP },
      )),
    );

    console.log('');
    console.log(`machine: ${describeMachine(machineInfo())}`);
    console.log(`bench took ${Math.round((Date.now() - began) / 1000)} s; targets from issue 11 (bench/lib/targets.ts)`);
    console.log('');
    console.log(renderTable(sections.COLUMNS, evaluateTargets(rows)));
  } finally {
    await stopStarted(services, { log, env: servicesEnv });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
