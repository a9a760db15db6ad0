import { percentile, summarize } from '../../../load/lib/percentile.ts';

describe('percentile', () => {
  it('returns a measured value by nearest rank, never an interpolation', () => {
    // Prepare
    const sorted = [10, 20, 30, 40];

    // Act
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);

    // Assess
    expect(p50).toBe(20);
    expect(p99).toBe(40);
  });

  it('returns the single value of a one-element sample for every percentile', () => {
    expect([percentile([7], 1), percentile([7], 50), percentile([7], 100)]).toEqual([7, 7, 7]);
  });

  it('returns NaN for an empty sample', () => {
    expect(percentile([], 99)).toBeNaN();
  });

  it('rejects a percentile outside (0, 100]', () => {
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('sees p99 as the 99th of 100 samples, so one outlier in a hundred does not set it', () => {
    // Prepare
    const values = Array.from({ length: 100 }, (_, index) => (index === 42 ? 1000 : index % 10));

    // Act
    const summary = summarize(values);

    // Assess
    expect(summary).toEqual({ count: 100, p50: 5, p95: 9, p99: 9, max: 1000 });
  });

  it('summarizes without reordering the caller’s array', () => {
    // Prepare
    const values = [3, 1, 2];

    // Act
    summarize(values);

    // Assess
    expect(values).toEqual([3, 1, 2]);
  });
});
