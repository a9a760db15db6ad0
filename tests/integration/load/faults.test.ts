/**
 * `npm run faults -- --short` as a user runs it: every fault against the suite's own broker, redis-server and
 * PostgreSQL proxies, under load, then the table. The command's own verdict (exit code) is asserted, and
 * the table is read back so a failure names the row.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function runFaults(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['load/faults.ts', ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** The table's body rows as { fault, lost, verdict }. */
function tableRows(output: string): { fault: string; lost: string; verdict: string }[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| fault '))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map((cells) => ({ fault: cells[1] ?? '', lost: cells[6] ?? '', verdict: cells[10] ?? '' }));
}

describe('npm run faults -- --short', () => {
  it('runs every fault under load and loses no log in any row', async () => {
    // Act
    const { code, output } = await runFaults(['--short']);

    // Assess
    const rows = tableRows(output);
    expect(rows.map((row) => row.fault)).toEqual([
      'Redis down and back',
      'PostgreSQL down and back',
      'broker SIGKILL and restart',
      'enrich runner SIGKILL mid-batch',
      'producing outputs failing',
      'poison records',
      'one instance with a broken PostgreSQL',
    ]);
    expect({ rows, code, output: code === 0 ? '' : output }).toMatchObject({
      rows: rows.map((row) => ({ fault: row.fault, lost: '0', verdict: 'ok' })),
      code: 0,
    });
  }, 15 * 60_000);
});
