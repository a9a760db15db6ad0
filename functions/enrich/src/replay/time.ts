/**
 * The times `npm run replay -- --since … --until …` takes (no I/O). A replay names a range of a topic by its
 * records' timestamps, which Kafka turns into offsets per partition (ListOffsets by timestamp), so the
 * CLI only needs an instant in epoch milliseconds. Accepted, and nothing else (a typo must not replay a
 * whole topic): an ISO 8601 date-time with a zone (`2026-12-01T16:00:00Z`, `…+01:00`), a date alone
 * (`2026-12-01`, midnight UTC), epoch milliseconds (`1764604800000`), or a duration before now (`90s`,
 * `15m`, `2h`, `7d`).
 */

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * @returns epoch milliseconds
 * @throws Error saying what is accepted, for anything else
 * @example
 * parseTime('2026-12-01T16:00:00Z'); // 1764604800000
 * parseTime('2h', Date.parse('2026-12-01T18:00:00Z')); // 1764604800000
 */
export function parseTime(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  const duration = DURATION.exec(trimmed);
  if (duration !== null) return now - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
  if (/^\d{10,}$/.test(trimmed)) return Number(trimmed);
  if (DATE_ONLY.test(trimmed) || DATE_TIME.test(trimmed)) {
    const ms = Date.parse(DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed);
    if (Number.isFinite(ms)) return ms;
  }
  throw new Error(`"${text}" is not a time: give an ISO 8601 date-time with a zone (2026-12-01T16:00:00Z), a date (2026-12-01), epoch milliseconds, or a duration ago (15m, 2h, 7d)`);
}
