/**
 * The fault table `npm run faults` prints. Pure: rows in, lines out.
 */
import { type FaultRow, rowPasses } from './suite.ts';

const COLUMNS = ['fault', 'accepted', 'complete', 'partial', 'dead-letter', 'lost', 'duplicates', 'refused', 'recovered in', 'verdict'] as const;

function seconds(ms: number | undefined): string {
  return ms === undefined ? 'unknown' : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * @example
 * formatFaultTable([{ fault: 'Redis down and back', accepted: 900, complete: 700, partial: 200, deadLetter: 0,
 *   lost: 0, duplicates: 0, refused: 0, recoveredMs: 420, findings: [] }]);
 */
export function formatFaultTable(rows: readonly FaultRow[]): string[] {
  const cells = rows.map((row) => [
    row.fault,
    String(row.accepted),
    String(row.complete),
    String(row.partial),
    String(row.deadLetter),
    String(row.lost),
    String(row.duplicates),
    String(row.refused),
    seconds(row.recoveredMs),
    rowPasses(row) ? 'ok' : 'FAILED',
  ]);
  const widths = COLUMNS.map((title, column) => Math.max(title.length, ...cells.map((line) => (line[column] ?? '').length)));
  const render = (line: readonly string[]) =>
    `| ${line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join(' | ')} |`;
  const lines = [render(COLUMNS), `|${widths.map((width, column) => `${column === 0 ? ':' : '-'}${'-'.repeat(width)}${column === 0 ? '-' : ':'}`).join('|')}|`];
  for (const line of cells) lines.push(render(line));
  const notes: string[] = [];
  for (const row of rows) {
    for (const finding of row.findings) notes.push(`- ${row.fault}: ${finding.ok ? '' : 'FAILED: '}${finding.text}`);
    if (row.error !== undefined) notes.push(`- ${row.fault}: FAILED to run: ${row.error}`);
  }
  return notes.length === 0 ? lines : [...lines, '', ...notes];
}
