/**
 * The bench's pure parts: targets judged against the figures (relative ones against the row they are relative
 * to), the table that prints them, the Lambda cost arithmetic and the parse of bench/enrich.ts's summary.
 */
import { lambdaCostPerMillionLogs, LAMBDA_ARM64_PRICE } from '../../../bench/lib/lambda-cost.ts';
import { bundleRows, parseEnrichBenchOutput } from '../../../bench/lib/sections.ts';
import { BENCH_COLUMNS, formatFigure, renderTable } from '../../../bench/lib/table.ts';
import { type BenchRow, evaluateTargets, TARGETS, verdict } from '../../../bench/lib/targets.ts';

const row = (key: BenchRow['key'], value: number | undefined, extra: Partial<BenchRow> = {}): BenchRow => ({
  key,
  measure: key,
  value,
  unit: 'records/s',
  ...extra,
});
const judged = (rows: BenchRow[], key: BenchRow['key']) => evaluateTargets(rows).find((each) => each.key === key) as BenchRow;

describe('evaluateTargets', () => {
  it('judges the enrich handler against 250,000 records/s, on both sides of the bound', () => {
    expect(judged([row('enrich-handler', 249_999)], 'enrich-handler')).toMatchObject({ target: '≥ 250,000 records/s', met: false });
    expect(judged([row('enrich-handler', 250_000)], 'enrich-handler').met).toBe(true);
  });

  it('judges the default drain against half of the pass-through of the same run', () => {
    const ceiling = row('ceiling', 80_000);
    expect(judged([ceiling, row('drain-default', 39_999)], 'drain-default')).toMatchObject({ target: '≥ 50 % of (2) (40,000)', met: false });
    expect(judged([ceiling, row('drain-default', 40_000)], 'drain-default').met).toBe(true);
    // Another batch size has no target.
    expect(judged([ceiling, row('drain', 10)], 'drain')).not.toHaveProperty('target');
  });

  it('cannot tell without the row a target is relative to, or without the figure', () => {
    expect(judged([row('drain-default', 40_000)], 'drain-default').met).toBeUndefined();
    expect(judged([row('http-bare', 0), row('ingest-single', 10)], 'ingest-single').met).toBeUndefined();
    expect(judged([row('http-bare', 60_000), row('ingest-single', undefined)], 'ingest-single').met).toBeUndefined();
    expect(verdict(judged([row('enrich-handler', undefined)], 'enrich-handler'))).toBe('unknown');
  });

  it('judges single-log ingest against half of the bare server', () => {
    const bare = row('http-bare', 60_000, { unit: 'req/s' });
    expect(judged([bare, row('ingest-single', 29_999)], 'ingest-single').met).toBe(false);
    expect(judged([bare, row('ingest-single', 30_000)], 'ingest-single').met).toBe(true);
  });

  it('needs both p99 ≤ 100 ms and nothing lost for the paced run', () => {
    expect(judged([row('paced', 5000, { p99: 100, lost: 0 })], 'paced')).toMatchObject({ target: 'p99 ≤ 100 ms, 0 lost', met: true });
    expect(judged([row('paced', 5000, { p99: 101, lost: 0 })], 'paced').met).toBe(false);
    expect(judged([row('paced', 5000, { p99: 50, lost: 1 })], 'paced').met).toBe(false);
    expect(judged([row('paced', 5000, { p99: 50 })], 'paced').met).toBeUndefined();
  });

  it('judges every bundle against 1,024 KiB and every init against 300 ms; an unmeasured init is unknown', () => {
    const rows = evaluateTargets(
      bundleRows(
        [
          { name: 'ingest', bytes: 1024 * 1024, initMs: { median: 300, min: 280, max: 320 } },
          { name: 'enrich', bytes: 1024 * 1024 + 1, initMs: undefined, error: 'import failed' },
        ],
        5,
      ),
    );
    expect(rows.map((each) => [each.measure, each.met])).toEqual([
      ['bundle ingest (index.mjs)', true],
      ['cold start ingest (module init, this machine)', true],
      ['bundle enrich (index.mjs)', false],
      ['cold start enrich (module init, this machine)', undefined],
    ]);
    expect(rows[3]).toMatchObject({ value: undefined, note: 'not measured: import failed' });
    expect(TARGETS.initMs).toBe(300);
  });
});

describe('the bench table', () => {
  it('prints each figure with its unit, its target and the verdict; an unmeasured figure as unknown, never a number', () => {
    const table = renderTable(
      BENCH_COLUMNS,
      evaluateTargets([
        row('ceiling', 80_000),
        row('drain-default', 20_000, { note: 'window 500 ms' }),
        row('init', undefined, { unit: 'ms', measure: 'cold start enrich' }),
        row('lambda-cost', 0.000747, { unit: 'USD', measure: 'cost' }),
      ]),
    );
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^measure\s+figure\s+p50 ms\s+p99 ms\s+target\s+met\s+note$/);
    expect(lines[3]).toMatch(/^drain-default\s+20,000 records\/s\s+-\s+-\s+≥ 50 % of \(2\) \(40,000\)\s+NOT met\s+window 500 ms$/);
    expect(lines[4]).toMatch(/^cold start enrich\s+unknown\s+-\s+-\s+≤ 300 ms\s+unknown$/);
    expect(lines[5]).toMatch(/\$0\.000747/);
  });

  it('formats figures by unit', () => {
    expect(formatFigure(1_824.4, 'KiB')).toBe('1,824 KiB');
    expect(formatFigure(0.4123, 'USD')).toBe('$0.412');
    expect(formatFigure(12.5, 'USD')).toBe('$12.50');
    expect(formatFigure(Number.NaN, 'ms')).toBe('unknown');
  });
});

describe('lambdaCostPerMillionLogs', () => {
  it('bills the duration rounded up to the ms, memory in GB, plus the request price, per million logs', () => {
    // 12.3 ms → 13 ms billed; 1 GB; 2,000 invocations of 500 logs.
    const expected = (0.013 * 1 * LAMBDA_ARM64_PRICE.perGbSecond + 0.2 / 1e6) * 2000;
    expect(lambdaCostPerMillionLogs({ batchMs: 12.3, batchSize: 500, memoryMb: 1024 })).toBeCloseTo(expected, 12);
    expect(lambdaCostPerMillionLogs({ batchMs: 12.3, batchSize: 500, memoryMb: 1024 })).toBeCloseTo(0.00074667, 7);
  });

  it('scales with memory and with batches per million', () => {
    const price = { perGbSecond: 1, perMillionRequests: 0 };
    expect(lambdaCostPerMillionLogs({ batchMs: 1000, batchSize: 1_000_000, memoryMb: 512, price })).toBe(0.5);
    expect(lambdaCostPerMillionLogs({ batchMs: 1000, batchSize: 500_000, memoryMb: 2048, price })).toBe(4);
    // Requests alone: one invocation per log costs the request price per million.
    expect(lambdaCostPerMillionLogs({ batchMs: 0, batchSize: 1, memoryMb: 1024, price: { perGbSecond: 1, perMillionRequests: 0.2 } })).toBeCloseTo(0.2, 12);
  });

  it('refuses a batch size or memory that is not positive', () => {
    expect(() => lambdaCostPerMillionLogs({ batchMs: 10, batchSize: 0, memoryMb: 1024 })).toThrow(RangeError);
    expect(() => lambdaCostPerMillionLogs({ batchMs: 10, batchSize: 500, memoryMb: 0 })).toThrow(RangeError);
    expect(() => lambdaCostPerMillionLogs({ batchMs: -1, batchSize: 500, memoryMb: 1024 })).toThrow(RangeError);
  });
});

describe("parseEnrichBenchOutput (bench/enrich.ts's summary lines)", () => {
  it('reads records/s and the per-batch p50/p99', () => {
    const output = [
      'records:            100000  (100000 outputs, 420 B/output)',
      'throughput:         142,874 records/s (one core, 700 ms)',
      'latency per record: p50 0.650 ms  p99 1.200 ms  (batch start → outputs handed to the publisher)',
    ].join('\n');
    expect(parseEnrichBenchOutput(output)).toEqual({ recordsPerSecond: 142_874, batchP50Ms: 0.65, batchP99Ms: 1.2 });
  });

  it('leaves out what the output does not say', () => {
    expect(parseEnrichBenchOutput('bench:enrich failed')).toEqual({});
  });
});
