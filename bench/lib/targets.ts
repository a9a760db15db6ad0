/**
 * The issue's targets (issue 11) and whether a run met them. Pure: the sections measure, `evaluateTargets`
 * puts the target next to each figure it applies to (some are relative to another row of the same run: the
 * drain to the pass-through, ingest to the bare server), and the table prints both.
 */

/** What one bench row measured; `key` says which target, if any, applies to it. */
export interface BenchRow {
  key: RowKey;
  measure: string;
  /** The figure, with its unit (`unit`): records/s, logs/s, KiB, ms, USD. */
  value: number | undefined;
  unit: string;
  p50?: number | undefined;
  p99?: number | undefined;
  note?: string;
  /** Records lost in the run (the paced end-to-end run). */
  lost?: number | undefined;
  /** The target's text and verdict, filled in by `evaluateTargets`. */
  target?: string;
  /** true met, false not met, undefined when the run could not tell (a figure missing). */
  met?: boolean | undefined;
}

export type RowKey =
  | 'enrich-handler'
  | 'ceiling'
  | 'drain-default'
  | 'drain'
  | 'paced'
  | 'http-bare'
  | 'ingest-single'
  | 'ingest-batch'
  | 'enrich-real'
  | 'lambda-cost'
  | 'bundle'
  | 'init'
  | 'other';

export const TARGETS = {
  /** (1) records/s of the enrich handler in-process, one core. */
  enrichHandlerRecordsPerSecond: 250_000,
  /** (3) the runner's default batch drains at least this share of the pass-through (2). */
  drainShareOfCeiling: 0.5,
  /** (3) end to end at 5,000 logs/s with npm start's defaults. */
  pacedP99Ms: 100,
  /** (4) single-log ingest at least this share of the bare Node server. */
  ingestShareOfBare: 0.5,
  /** Every function's index.mjs. */
  bundleBytes: 1024 * 1024,
  /** Every function's module init (cold start, this machine). */
  initMs: 300,
} as const;

const thousands = (value: number) => Math.round(value).toLocaleString('en-US');
const percent = (share: number) => `${Math.round(share * 100)} %`;

/**
 * The rows with `target` and `met` filled in where a target applies. Relative targets read the row they are
 * relative to (the first `ceiling`, the first `http-bare`); without it the verdict is undefined.
 *
 * @example
 * evaluateTargets([{ key: 'enrich-handler', measure: '(1) …', value: 142_874, unit: 'records/s' }]);
 * // [{ …, target: '≥ 250,000 records/s', met: false }]
 */
export function evaluateTargets(rows: readonly BenchRow[]): BenchRow[] {
  const ceiling = rows.find((row) => row.key === 'ceiling')?.value;
  const bare = rows.find((row) => row.key === 'http-bare')?.value;
  return rows.map((row) => {
    switch (row.key) {
      case 'enrich-handler':
        return judged(row, `≥ ${thousands(TARGETS.enrichHandlerRecordsPerSecond)} ${row.unit}`, atLeast(row.value, TARGETS.enrichHandlerRecordsPerSecond));
      case 'drain-default':
        return relative(row, ceiling, TARGETS.drainShareOfCeiling, '(2)');
      case 'ingest-single':
        return relative(row, bare, TARGETS.ingestShareOfBare, 'bare');
      case 'paced': {
        const met = row.p99 === undefined || row.lost === undefined ? undefined : row.p99 <= TARGETS.pacedP99Ms && row.lost === 0;
        return judged(row, `p99 ≤ ${TARGETS.pacedP99Ms} ms, 0 lost`, met);
      }
      case 'bundle':
        return judged(row, `≤ ${thousands(TARGETS.bundleBytes / 1024)} KiB`, atMost(row.value, TARGETS.bundleBytes / 1024));
      case 'init':
        return judged(row, `≤ ${TARGETS.initMs} ms`, atMost(row.value, TARGETS.initMs));
      default:
        return { ...row };
    }
  });
}

function relative(row: BenchRow, base: number | undefined, share: number, baseName: string): BenchRow {
  const text = `≥ ${percent(share)} of ${baseName}${base === undefined ? '' : ` (${thousands(base * share)})`}`;
  const met = base === undefined || !(base > 0) ? undefined : atLeast(row.value, base * share);
  return judged(row, text, met);
}

function judged(row: BenchRow, target: string, met: boolean | undefined): BenchRow {
  return { ...row, target, met };
}

function atLeast(value: number | undefined, bound: number): boolean | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : value >= bound;
}

function atMost(value: number | undefined, bound: number): boolean | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : value <= bound;
}

/** The verdict as printed. */
export function verdict(row: BenchRow): string {
  if (row.target === undefined) return '';
  return row.met === undefined ? 'unknown' : row.met ? 'met' : 'NOT met';
}
