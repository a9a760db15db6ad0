/**
 * A plain-text table, columns padded to their widest cell, numbers right-aligned; and the bench's own table,
 * each figure with its unit, its target and whether it was met (`bench/lib/targets.ts`).
 */
import { type BenchRow, verdict } from './targets.ts';

export type Cell = string | number | undefined;

/** The bench table's columns. */
export const BENCH_COLUMNS = ['measure', 'figure', 'p50 ms', 'p99 ms', 'target', 'met', 'note'] as const;

/**
 * @example
 * renderTable(['what', 'rec/s'], [['pass-through', 81234]]);
 * renderTable(BENCH_COLUMNS, evaluateTargets(rows)); // bench rows: figure with unit, target, verdict
 */
export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[] | readonly BenchRow[]): string {
  const cellRows = rows.map((row) => (Array.isArray(row) ? (row as readonly Cell[]) : benchCells(row as BenchRow)));
  const text = (cell: Cell) => (cell === undefined ? '-' : typeof cell === 'number' ? formatNumber(cell) : cell);
  const cells = cellRows.map((row) => header.map((_, index) => text(row[index])));
  const widths = header.map((title, index) => Math.max(title.length, ...cells.map((row) => (row[index] as string).length)));
  const numeric = header.map((_, index) => cellRows.every((row) => typeof row[index] !== 'string') || RIGHT_ALIGNED.has(header[index] ?? ''));
  const line = (row: readonly string[]) =>
    row.map((cell, index) => (numeric[index] ? cell.padStart(widths[index] ?? 0) : cell.padEnd(widths[index] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(line)].join('\n');
}

/** Figures carry their unit as text, and are still read as numbers: right-aligned. */
const RIGHT_ALIGNED = new Set<string>(['figure']);

/** One bench row as the cells of BENCH_COLUMNS. */
export function benchCells(row: BenchRow): Cell[] {
  return [row.measure, formatFigure(row.value, row.unit), row.p50, row.p99, row.target ?? '', verdict(row), row.note ?? ''];
}

/** A figure with its unit: `142,874 records/s`, `1,824 KiB`, `$0.41`; `unknown` when it was not measured. */
export function formatFigure(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return 'unknown';
  if (unit === 'USD') return `$${value < 1 ? value.toPrecision(3) : value.toFixed(2)}`;
  return `${formatNumber(value)} ${unit}`;
}

/** Integers with thousands separators; small fractional values with two decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}
