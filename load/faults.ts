/**
 * `npm run faults [-- --short] [--only redis,broker] [--rate N] [--duration S]`
 *
 * Each fault, one after the other, in the middle of a load run against a pipeline of the suite's own (its
 * own broker, redis-server and PostgreSQL proxies: the machine's shared services are never touched), then
 * one table: logs accepted, complete, partial, dead-letter, lost, duplicates, refused requests, time to
 * recover. `--short` is the variant `npm test` runs (lower rate, shorter runs).
 *
 * Exit code: 0 when every row lost nothing and every check held; 1 otherwise (a lost log, a count that
 * could not be read, a check that failed, a fault that could not run); 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { loadCatalog } from './lib/catalog.ts';
import { allFaults } from './lib/faults/faults.ts';
import { Lab } from './lib/faults/lab.ts';
import { type FaultRow, type FaultSettings, rowPasses, runFault, settle } from './lib/faults/suite.ts';
import { formatFaultTable } from './lib/faults/table.ts';

const log = (line: string) => console.log(line);

const PROFILES: Record<'full' | 'short', FaultSettings> = {
  full: { rate: 300, durationSeconds: 20, injectAtSeconds: 5, holdSeconds: 6, drainTimeoutSeconds: 90 },
  short: { rate: 100, durationSeconds: 10, injectAtSeconds: 2, holdSeconds: 3, drainTimeoutSeconds: 60 },
};

function options(argv: readonly string[]): { settings: FaultSettings; only: string[] } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      short: { type: 'boolean', default: false },
      only: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
    },
    strict: true,
  });
  const settings = { ...PROFILES[values.short ? 'short' : 'full'] };
  const positive = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${name} must be a positive whole number, got "${raw}"`);
    return value;
  };
  settings.rate = positive('rate', values.rate) ?? settings.rate;
  const duration = positive('duration', values.duration);
  if (duration !== undefined) {
    if (duration < settings.injectAtSeconds + settings.holdSeconds) {
      throw new UsageError(`--duration must be at least ${settings.injectAtSeconds + settings.holdSeconds} s (inject at + hold)`);
    }
    settings.durationSeconds = duration;
  }
  const only = values.only?.split(',').map((part) => part.trim().toLowerCase()).filter((part) => part.length > 0) ?? [];
  return { settings, only };
}

class UsageError extends Error {}

async function main(argv: readonly string[]): Promise<number> {
  const { settings, only } = options(argv);
  const faults = allFaults().filter((fault) => only.length === 0 || only.some((word) => fault.name.toLowerCase().includes(word)));
  if (faults.length === 0) throw new UsageError(`--only matches no fault; faults: ${allFaults().map((fault) => fault.name).join('; ')}`);
  log(
    `faults: ${faults.length} fault(s), each in a ${settings.durationSeconds} s load run at ${settings.rate} logs/s ` +
      `(injected at ${settings.injectAtSeconds} s, cleared ${settings.holdSeconds} s later)`,
  );
  const lab = await Lab.start({ log, batchWindowMs: 100 });
  const rows: FaultRow[] = [];
  try {
    const catalog = await loadCatalog();
    for (const fault of faults) {
      rows.push(await runFault(lab, fault, settings, catalog, log));
      await settle(lab);
    }
  } finally {
    await lab.stop(rows.length < faults.length || rows.some((row) => !rowPasses(row)));
  }
  log('');
  for (const line of formatFaultTable(rows)) log(line);
  log('');
  const failed = rows.filter((row) => !rowPasses(row));
  log(failed.length === 0 ? `faults: every row 0 lost, every check held` : `faults: ${failed.length} row(s) FAILED`);
  return failed.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`faults: ${error.message}`);
      process.exit(2);
    }
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
