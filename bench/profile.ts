/**
 * `npm run profile`: a V8 CPU profile of the pipeline drain (bench row 3): a pre-filled throwaway raw topic
 * drained by the local enrich runner with its defaults (batch 100, window 500 ms), real Redis, PostgreSQL and
 * Kafka as `npm run bench` sets them up. The profiler runs only while the runner drains (the inspector's
 * Profiler, the same sampler as `node --cpu-prof`, started after the pre-fill and stopped when the last
 * output record is seen), so set-up does not dilute it. Run it under the bench lock (`flock
 * /tmp/pipeline-tests.lock npm run profile`) on a quiet machine.
 *
 * Writes to `--out` (default /tmp/prof-drain): `drain.cpuprofile` (open it in Chrome DevTools or speedscope),
 * `drain.collapsed` (collapsed stacks, ms), `summary.txt` (time by area and the top self-time frames, also
 * printed), and, with `--svg FILE`, a flame graph drawn by the vendored flamegraph.pl (needs perl).
 *
 *   npm run profile -- --records 30000 --out /tmp/prof-drain-before --svg docs/profiles/drain-before.svg
 *   npm run profile -- --batch 1000                # another runner batch size
 *   npm run profile -- --measure                   # no profiler: pass-through, drains at 100 and 1000, paced run
 *   npm run profile -- --from x.cpuprofile --out /tmp/x --svg x.svg --title T   # summarise and draw any profile
 *
 * Options: --records N (BENCH_RECORDS, default 30000), --batch N and --window MS (default: the runner's own),
 * --interval µs (sampling, default 500), --title TEXT (the SVG's title). KAFKA_BROKERS, BENCH_DATABASE_URL,
 * BENCH_REDIS_URL and BENCH_FLEET_HOSTS as in bench/bench.ts.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string' },
    batch: { type: 'string' },
    window: { type: 'string' },
    interval: { type: 'string', default: '500' },
    out: { type: 'string', default: '/tmp/prof-drain' },
    svg: { type: 'string' },
    title: { type: 'string' },
    measure: { type: 'boolean', default: false },
    from: { type: 'string' },
    'paced-rate': { type: 'string', default: '5000' },
    'paced-seconds': { type: 'string', default: '10' },
  },
});

const profileEnv = z.object({
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  BENCH_RECORDS: z.coerce.number().int().positive().default(30_000),
  BENCH_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//).default('postgres://postgres@127.0.0.1:5432/log_enrichment_bench'),
  BENCH_REDIS_URL: z.string().regex(/^rediss?:\/\//).default('redis://127.0.0.1:6379/14'),
  BENCH_FLEET_HOSTS: z.coerce.number().int().min(0).max(10_000).default(500),
});
const config = readConfig(profileEnv);
const records = args.records === undefined ? config.BENCH_RECORDS : Number(args.records);
const batchSize = args.batch === undefined ? undefined : Number(args.batch);
const batchWindowMs = args.window === undefined ? undefined : Number(args.window);
// As bench/bench.ts: before any function module loads, so per-record logs and EMF blobs stay off.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.KAFKA_BROKERS = config.KAFKA_BROKERS;

const log = (line: string) => console.log(`[profile] ${line}`);

async function main(): Promise<void> {
  if (args.from !== undefined) {
    // Another profile (`node --cpu-prof` of the handler bench, an import, the ingest server): no services.
    const { readFile } = await import('node:fs/promises');
    await report(JSON.parse(await readFile(args.from, 'utf8')) as import('./lib/cpuprofile.ts').CpuProfile);
    return;
  }
  const { kafkaEnv } = await import('#shared/config.ts');
  const { connectionOptions } = await import('#shared/kafka/connection.ts');
  const { ensureDatabase } = await import('#shared/db/database.ts');
  const { migrate } = await import('#shared/db/migrate.ts');
  const { seedDemoMetadata, seedMetadata } = await import('../scripts/seed.ts');
  const { loadCatalog } = await import('../load/lib/catalog.ts');
  const { fleetHosts, withFleet } = await import('./lib/fleet.ts');
  const sections = await import('./lib/sections.ts');
  const { drainOnce } = await import('./lib/drain.ts');

  const env = readConfig(kafkaEnv, { KAFKA_BROKERS: config.KAFKA_BROKERS });
  await ensureDatabase(config.BENCH_DATABASE_URL);
  await migrate(config.BENCH_DATABASE_URL);
  await seedDemoMetadata(config.BENCH_DATABASE_URL, config.BENCH_REDIS_URL);
  const fleet = fleetHosts(config.BENCH_FLEET_HOSTS);
  await seedMetadata(config.BENCH_DATABASE_URL, config.BENCH_REDIS_URL, { hosts: fleet, services: [], networks: [] });
  const catalog = withFleet(await loadCatalog(), fleet);
  const context = { connection: await connectionOptions(env, 'bench'), kafkaEnv: env, catalog, log };
  const target = { databaseUrl: config.BENCH_DATABASE_URL, redisUrl: config.BENCH_REDIS_URL };

  if (args.measure) {
    const { renderTable } = await import('./lib/table.ts');
    const ceiling = await sections.passThroughSection(context, records);
    const rows = [
      ...ceiling.rows,
      ...(await sections.pipelineSection(context, target, {
        records,
        batchSizes: batchSize === undefined ? [100, 1000] : [batchSize],
        pacedRate: Number(args['paced-rate']),
        pacedSeconds: Number(args['paced-seconds']),
        batchWindowMs: batchWindowMs ?? 500,
        ceiling: ceiling.recordsPerSecond,
      })),
    ];
    console.log(renderTable(sections.COLUMNS, rows));
    return;
  }

  const session = new Session();
  session.connect();
  let profiling = false;
  const drained = await drainOnce(context, target, {
    records,
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(batchWindowMs === undefined ? {} : { batchWindowMs }),
    // After the pre-fill, before the runner starts: its start-up (group join) is in the profile, a few % of it.
    beforeStart: async () => {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: Number(args.interval) });
      await session.post('Profiler.start');
      profiling = true;
    },
    afterDrain: async () => {
      const { profile } = await session.post('Profiler.stop');
      profiling = false;
      await report(profile as unknown as import('./lib/cpuprofile.ts').CpuProfile);
    },
  });
  if (profiling) await session.post('Profiler.stop');
  session.disconnect();
  log(
    `drain: ${Math.round(drained.recordsPerSecond)} records/s under the profiler (${drained.records} records, ${drained.seconds.toFixed(1)} s` +
      `${drained.complete ? '' : ', INCOMPLETE'}; the profiler costs some throughput: measure with --measure)`,
  );
}

async function report(profile: import('./lib/cpuprofile.ts').CpuProfile): Promise<void> {
  const { byArea, collapsedStacks, formatShares, topSelf } = await import('./lib/cpuprofile.ts');
  const out = args.out;
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'drain.cpuprofile'), JSON.stringify(profile));
  const collapsed = collapsedStacks(profile);
  await writeFile(join(out, 'drain.collapsed'), collapsed);
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  const summary = [
    args.from === undefined
      ? `profile: ${seconds.toFixed(1)} s, ${profile.samples.length} samples, runner batch ${batchSize ?? 'default'}, window ${batchWindowMs ?? 'default'}`
      : `profile: ${args.from}, ${seconds.toFixed(1)} s, ${profile.samples.length} samples`,
    '',
    'time by area (first frame from the leaf that names one):',
    ...formatShares(byArea(profile)),
    '',
    'top frames by self time:',
    ...formatShares(topSelf(profile, 30)),
  ].join('\n');
  await writeFile(join(out, 'summary.txt'), `${summary}\n`);
  console.log(summary);
  log(`wrote ${join(out, 'drain.cpuprofile')}, drain.collapsed, summary.txt`);
  if (args.svg !== undefined) {
    const script = fileURLToPath(new URL('./vendor/flamegraph.pl', import.meta.url));
    const title = args.title ?? `pipeline drain, runner batch ${batchSize ?? 100} (ms of profile time; (idle) = waiting)`;
    const svg = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        'perl',
        [script, '--title', title, '--countname', 'ms', '--minwidth', '0.5', '--width', '1400', '--hash'],
        { maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`flamegraph.pl failed: ${error.message}\n${stderr}`))),
      );
      child.stdin?.end(collapsed);
    });
    await mkdir(dirname(args.svg), { recursive: true });
    await writeFile(args.svg, svg);
    log(`wrote ${args.svg} (${Math.round(svg.length / 1024)} KiB)`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
