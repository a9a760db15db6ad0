import { rowPasses, type FaultRow } from '../../../load/lib/faults/suite.ts';
import { formatFaultTable } from '../../../load/lib/faults/table.ts';

const row = (changes: Partial<FaultRow> = {}): FaultRow => ({
  fault: 'Redis down and back',
  accepted: 800,
  complete: 500,
  partial: 300,
  deadLetter: 0,
  lost: 0,
  duplicates: 2,
  recoveredMs: 420,
  refused: 0,
  findings: [],
  ...changes,
});

describe('fault table verdicts', () => {
  it('passes a row that lost nothing and whose checks held', () => {
    expect(rowPasses(row({ findings: [{ ok: true, text: 'fine' }] }))).toBe(true);
  });

  it.each([
    ['a lost log', row({ lost: 1 })],
    ['outputs that could not all be read', row({ lost: 'unknown' })],
    ['a failed check', row({ findings: [{ ok: false, text: 'breaker opened' }] })],
    ['a fault that could not run', row({ error: 'broker did not start' })],
    ['a run in which nothing was accepted', row({ accepted: 0, complete: 0, partial: 0 })],
  ])('fails a row with %s', (_, failing) => {
    expect(rowPasses(failing)).toBe(false);
  });
});

describe('formatFaultTable', () => {
  it('prints one aligned line per fault, unknown where nothing was measured, and the findings below', () => {
    const lines = formatFaultTable([
      row(),
      row({ fault: 'broker SIGKILL and restart', lost: 'unknown', recoveredMs: undefined, findings: [{ ok: false, text: 'output reader gave up' }] }),
    ]);

    expect(lines[0]).toMatch(/^\| fault +\| accepted \| complete \| partial \| dead-letter \| +lost \| duplicates \| refused \| recovered in \| verdict \|$/);
    expect(lines[2]).toMatch(/^\| Redis down and back +\| +800 \| +500 \| +300 \| +0 \| +0 \| +2 \| +0 \| +0\.4 s \| +ok \|$/);
    expect(lines[3]).toMatch(/\| +unknown \| +2 \| +0 \| +unknown \| +FAILED \|$/);
    expect(new Set(lines.slice(0, 4).map((line) => line.length)).size).toBe(1);
    expect(lines).toContain('- broker SIGKILL and restart: FAILED: output reader gave up');
  });
});
