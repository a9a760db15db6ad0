/**
 * bench:import — how long the bulk metadata import takes on the real PostgreSQL and Redis (a benchmark, not a
 * test: nothing is asserted about time).
 *
 * Generates BENCH_IMPORT_HOSTS (100,000) hosts as a CSV file in memory and imports them through the use case the
 * API and the CLI call (`MetadataBulk`, wired by `createMetadataDependencies`: one transaction, one invalidation),
 * into the bench's own database (BENCH_DATABASE_URL, default log_enrichment_bench, created and migrated if
 * missing) and Redis (BENCH_REDIS_URL, default db 14), as `npm run bench` does. Then: the same file again
 * (every record unchanged), the file with every host changed (all updated, each old address invalidated), and
 * an export of the table (to a counter, not a file). The bench's hosts (names `bench-import-*`, addresses in
 * 100.96.0.0/15) are deleted before and after.
 *
 *   npm run bench:import
 *   BENCH_IMPORT_HOSTS=20000 npm run bench:import
 */
import { ensureDatabase } from '#shared/db/database.ts';
import { migrate } from '#shared/db/migrate.ts';
import { silentLog } from '#shared/log-port.ts';
import pg from 'pg';
import { createMetadataDependencies } from '../functions/metadata/dependencies.ts';
import type { ImportReport } from '../functions/metadata/src/bulk.ts';
import { describeMachine, machineInfo } from './lib/machine.ts';
import { renderTable } from './lib/table.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const HOSTS = Number(process.env.BENCH_IMPORT_HOSTS ?? 100_000);
if (!Number.isInteger(HOSTS) || HOSTS < 1 || HOSTS > 131_072) throw new Error('BENCH_IMPORT_HOSTS must be an integer from 1 to 131072');
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/log_enrichment_bench';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const PREFIX = 'bench-import-';
const RANGE = '100.96.0.0/15';

function hostsCsv(environment: string): string {
  const lines = ['hostname,ipAddress,datacenter,environment,costCenter,tags'];
  for (let i = 0; i < HOSTS; i += 1) {
    const ip = `100.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`${PREFIX}${i},${ip},dc-${i % 6},${environment},cc-${i % 40},"{""rack"":""r${i % 64}"",""row"":""${i % 12}""}"`);
  }
  return `${lines.join('\n')}\n`;
}

await ensureDatabase(DATABASE_URL);
await migrate(DATABASE_URL);
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
const clean = () => admin.query('DELETE FROM hosts WHERE hostname LIKE $1 OR ip_address << $2::cidr', [`${PREFIX}%`, RANGE]);
await clean();

const dependencies = createMetadataDependencies(
  { ...process.env, DATABASE_URL, REDIS_URL, DATABASE_TIMEOUT_MS: '30000', REDIS_TIMEOUT_MS: '2000' },
  { log: silentLog, metrics: { cacheInvalidationFailed: () => console.error('warning: cache invalidation failed') } },
);

const rows: (string | number)[][] = [];
async function timedImport(what: string, text: string): Promise<ImportReport> {
  const began = performance.now();
  const report = await dependencies.bulk.import({ kind: 'hosts', format: 'csv', text, mode: 'all-or-nothing' });
  const seconds = (performance.now() - began) / 1000;
  if (!report.committed) throw new Error(`${what}: not imported: ${JSON.stringify(report.problems.slice(0, 3))}`);
  rows.push([what, report.read, report.created, report.updated, report.unchanged, seconds.toFixed(2), Math.round(report.read / seconds)]);
  return report;
}

try {
  const production = hostsCsv('production');
  console.error(`bench:import: ${HOSTS} hosts, ${(Buffer.byteLength(production) / 1024 / 1024).toFixed(1)} MiB of CSV; ${describeMachine(machineInfo())}`);
  await timedImport('import, all new', production);
  await timedImport('same file again (unchanged)', production);
  await timedImport('every host changed (updated)', hostsCsv('staging'));

  const began = performance.now();
  let bytes = 0;
  let count = 0;
  for await (const page of dependencies.bulk.export('hosts', 'csv')) {
    for (const { line } of page) bytes += Buffer.byteLength(line);
    count += page.length;
  }
  const seconds = (performance.now() - began) / 1000;
  rows.push([`export (csv, ${(bytes / 1024 / 1024).toFixed(1)} MiB)`, count, '', '', '', seconds.toFixed(2), Math.round(count / seconds)]);

  console.log(renderTable(['run', 'records', 'created', 'updated', 'unchanged', 'seconds', 'records/s'], rows));
} finally {
  await clean();
  await dependencies.close();
  await admin.end();
}
