/**
 * `npm run metadata -- import <file> [--kind hosts|services|networks] [--format csv|ndjson] [--mode upsert-valid]`
 * `npm run metadata -- export <kind> [--format csv|ndjson] [> file]`
 *
 * The bulk import and export of the metadata API as a command, over the SAME use case (`MetadataBulk`, wired by
 * `createMetadataDependencies`: the function's pool, Redis client and invalidator) with no HTTP in between, so
 * none of the HTTP path's limits apply: a 100,000-host file is one PostgreSQL transaction and one cache
 * invalidation, and an export of any size streams to stdout one page at a time (bounded memory, backpressure).
 *
 * DATABASE_URL and REDIS_URL default to what `npm start` uses (database log_enrichment, Redis db 0). The kind is
 * `--kind`, or the first word of the file name (`hosts.csv`, `services-2026.ndjson`); the format is `--format`,
 * or the extension (`.csv`; `.ndjson`, `.jsonl`). `-` reads stdin (then `--kind` and `--format` are needed).
 *
 * Output: the import's summary on stdout (read, applied, rejected, the first problems by line); logs and the
 * export's summary on stderr (stdout is the file). Exit 0 when the import was applied (in `upsert-valid` mode
 * some records may have been reported), 1 when nothing was imported, 2 for a usage or configuration error.
 *
 * @example
 * npm run metadata -- import hosts.csv
 * npm run metadata -- import cmdb.ndjson --kind services --mode upsert-valid
 * npm run metadata -- export hosts --format ndjson > hosts.ndjson
 */
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, extname } from 'node:path';
import { text as readStream } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import type { Log } from '#shared/log-port.ts';
import { createMetadataDependencies } from '../functions/metadata/dependencies.ts';
import { BULK_KINDS, type BulkFormat, type BulkKind, csvHeader } from '../functions/metadata/src/bulk-formats.ts';
import { IMPORT_MODES, type ImportMode, type ImportReport } from '../functions/metadata/src/bulk.ts';

const USAGE = [
  'usage: npm run metadata -- import <file|-> [--kind hosts|services|networks] [--format csv|ndjson] [--mode all-or-nothing|upsert-valid]',
  '       npm run metadata -- export <hosts|services|networks> [--format csv|ndjson] [> file]',
].join('\n');
/** Problems printed by the summary (the report holds up to 1000, and counts all). */
const PRINTED_PROBLEMS = 20;

/** Logs to stderr, one line each: stdout carries the export. */
const stderrLog: Log = {
  debug: () => {},
  info: (message, ...attributes) => console.error(message, ...attributes.map((a) => JSON.stringify(a))),
  warn: (message, ...attributes) => console.error(`warning: ${message}`, ...attributes.map((a) => JSON.stringify(a))),
  error: (message, ...attributes) => console.error(`error: ${message}`, ...attributes.map((a) => JSON.stringify(a))),
};

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const isKind = (value: string | undefined): value is BulkKind => BULK_KINDS.includes(value as BulkKind);
const isFormat = (value: string | undefined): value is BulkFormat => value === 'csv' || value === 'ndjson';

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: { kind: { type: 'string' }, format: { type: 'string' }, mode: { type: 'string', default: 'all-or-nothing' } },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();
const [command, target] = positionals;
if (positionals.length !== 2 || (command !== 'import' && command !== 'export') || target === undefined) fail('expected a command and its argument');
if (values.format !== undefined && !isFormat(values.format)) fail(`--format must be csv or ndjson, got ${values.format}`);
if (!IMPORT_MODES.includes(values.mode as ImportMode)) fail(`--mode must be ${IMPORT_MODES.join(' or ')}, got ${values.mode}`);

const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/log_enrichment',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  // A command waits for Redis and PostgreSQL longer than a request does (the function's 50 ms is for lookups).
  REDIS_TIMEOUT_MS: process.env.REDIS_TIMEOUT_MS ?? '2000',
  DATABASE_TIMEOUT_MS: process.env.DATABASE_TIMEOUT_MS ?? '30000',
};
const dependencies = (() => {
  try {
    return createMetadataDependencies(env, {
      log: stderrLog,
      metrics: { cacheInvalidationFailed: () => console.error('warning: the cache invalidation failed; enrich may serve old metadata until its entries expire') },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

try {
  process.exitCode = command === 'import' ? await importFile(target) : await exportKind(target);
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await dependencies.close();
}

async function importFile(file: string): Promise<number> {
  const name = basename(file);
  const kind = values.kind ?? /^(hosts|services|networks)\b/.exec(name)?.[1];
  if (!isKind(kind)) fail(`cannot tell the kind of ${file}: name it hosts…, services… or networks…, or pass --kind`);
  const extension = extname(name).toLowerCase();
  const format = values.format ?? (extension === '.csv' ? 'csv' : extension === '.ndjson' || extension === '.jsonl' ? 'ndjson' : undefined);
  if (!isFormat(format)) fail(`cannot tell the format of ${file} from its extension: pass --format csv|ndjson`);
  const text = file === '-' ? await readStream(process.stdin) : await readFile(file, 'utf8');
  const began = performance.now();
  const report = await dependencies.bulk.import({ kind, format, text, mode: values.mode as ImportMode });
  const seconds = ((performance.now() - began) / 1000).toFixed(1);
  console.log(summary(file, report, seconds));
  return report.committed ? 0 : 1;
}

function summary(file: string, report: ImportReport, seconds: string): string {
  const lines = [
    `${file}: ${report.kind}, read ${report.read}, applied ${report.applied} (created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}), rejected ${report.rejected}, in ${seconds} s`,
  ];
  const total = report.problems.length + report.problemsOmitted;
  for (const problem of report.problems.slice(0, PRINTED_PROBLEMS)) lines.push(`  line ${problem.line}, ${problem.field}: ${problem.reason}`);
  if (total > PRINTED_PROBLEMS) lines.push(`  … ${total - PRINTED_PROBLEMS} more problems`);
  if (!report.committed) lines.push(`nothing was imported (mode ${report.mode})`);
  return lines.join('\n');
}

async function exportKind(kind: string): Promise<number> {
  if (!isKind(kind)) fail(`unknown kind ${kind}`);
  const format = values.format ?? 'csv';
  if (!isFormat(format)) fail(`--format must be csv or ndjson, got ${format}`);
  let count = 0;
  if (format === 'csv') await write(csvHeader(kind));
  for await (const page of dependencies.bulk.export(kind, format)) {
    await write(page.map((entry) => entry.line).join(''));
    count += page.length;
  }
  console.error(`exported ${count} ${kind}`);
  return 0;
}

/** Writes to stdout, waiting while its buffer is full: memory holds one page, however large the export. */
async function write(chunk: string): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
}
