import type { AccountingSummary } from '../../../load/lib/accounting.ts';
import type { DriveResult } from '../../../load/lib/http-driver.ts';
import { formatReport } from '../../../load/lib/report.ts';
import type { LoadReport } from '../../../load/lib/run.ts';

const http = (overrides: Partial<DriveResult> = {}): DriveResult => ({
  elapsedMs: 10_000,
  requestsSent: 4,
  logsPlanned: 4,
  dropped: 0,
  logsOffered: 4,
  logsAccepted: 2,
  logsRejected: 0,
  latenciesMs: [5, 6, 400, 1900],
  latenciesByStatusMs: new Map([
    ['202', [5, 6]],
    ['503', [400, 1900]],
  ]),
  statuses: new Map([
    ['202', 2],
    ['503', 2],
  ]),
  ...overrides,
});

const accounting = (overrides: Partial<AccountingSummary> = {}): AccountingSummary => ({
  accepted: 2,
  complete: 1,
  partial: 0,
  deadLetter: 0,
  lost: 0,
  unknown: 0,
  duplicates: 0,
  foreign: 0,
  acceptedToOutputMs: [20],
  receivedToEnrichedMs: [10],
  lostSample: [],
  unknownSample: [],
  ...overrides,
});

const line = (lines: readonly string[], label: string) => lines.find((text) => text.trimStart().startsWith(label));

describe('formatReport', () => {
  it('prints the latency of refused requests apart from the accepted ones', () => {
    // Prepare
    const report: LoadReport = { runId: 'r1', http: http(), accountingSkipped: 'test' };

    // Act
    const lines = formatReport(report);

    // Assess
    expect(line(lines, '503 latency')).toMatch(/p50 400 ms\s+p99 1900 ms\s+max 1900 ms/);
    expect(line(lines, '202 latency')).toBeUndefined();
  });

  it('says unknown, and how far each partition was read, when the outputs could not all be read', () => {
    // Prepare
    const report: LoadReport = {
      runId: 'r2',
      http: http(),
      accounting: accounting({ unknown: 1, unknownSample: ['b'] }),
      readerFailure: 'not every output record was read: enriched-logs-complete: 5 record(s) not read',
      coverage: {
        complete: false,
        partitions: [
          { topic: 'enriched-logs-complete', partition: 0, read: 10n, end: 15n },
          { topic: 'enriched-logs-complete', partition: 1, read: 7n, end: 7n },
        ],
      },
    };

    // Act
    const lines = formatReport(report);

    // Assess
    expect(line(lines, 'lost')).toMatch(/^\s+lost\s+0/);
    expect(line(lines, 'unknown')).toMatch(/^\s+unknown\s+1/);
    expect(lines.some((text) => text.includes('enriched-logs-complete[0] read up to offset 10 of end 15'))).toBe(true);
    // A partition read to its end is not listed as a shortfall.
    expect(lines.some((text) => text.includes('enriched-logs-complete[1]'))).toBe(false);
  });

  it('prints no unknown line when everything was read', () => {
    // Prepare
    const report: LoadReport = { runId: 'r3', http: http(), accounting: accounting({ lost: 1, lostSample: ['b'] }), coverage: { complete: true } };

    // Act
    const lines = formatReport(report);

    // Assess
    expect(line(lines, 'lost')).toMatch(/^\s+lost\s+1/);
    expect(line(lines, 'unknown')).toBeUndefined();
  });
});
