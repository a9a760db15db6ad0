/**
 * A plain-text table, columns padded to their widest cell, numbers right-aligned.
 */

export type Cell = string | number | undefined;

/**
 * @example
 * renderTable(['what', 'rec/s'], [['pass-through', 81234]]);
 */
export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = (cell: Cell) => (cell === undefined ? '-' : typeof cell === 'number' ? formatNumber(cell) : cell);
  const cells = rows.map((row) => header.map((_, index) => text(row[index])));
  const widths = header.map((title, index) => Math.max(title.length, ...cells.map((row) => (row[index] as string).length)));
  const numeric = header.map((_, index) => rows.every((row) => typeof row[index] !== 'string'));
  const line = (row: readonly string[]) =>
    row.map((cell, index) => (numeric[index] ? cell.padStart(widths[index] ?? 0) : cell.padEnd(widths[index] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(line)].join('\n');
}

/** Integers with thousands separators; small fractional values with two decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}
