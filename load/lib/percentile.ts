/**
 * Percentiles by the nearest-rank method: the reported value is one that was actually measured, never an
 * interpolation, so "p99 = 12 ms" means at least 99 % of the samples took 12 ms or less.
 */

/** Summary of a latency sample, in the sample's unit (milliseconds everywhere in load/ and bench/). */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * The `p`-th percentile (0 < p ≤ 100) of `sorted`, which must be in ascending order; `NaN` when empty.
 *
 * @example
 * percentile([1, 2, 3, 4], 50); // 2
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/**
 * p50/p95/p99/max of an unsorted sample (the input is not modified).
 *
 * @example
 * summarize([5, 1, 3]); // { count: 3, p50: 3, p95: 5, p99: 5, max: 5 }
 */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}
