/**
 * The times `npm run replay -- --since … --until …` takes (no I/O). A replay names a range of a topic by its
 * records' timestamps, which Kafka turns into offsets per partition (ListOffsets by timestamp), so the
 * CLI only needs an instant in epoch milliseconds. Accepted, and nothing else (a typo must not replay a
 * whole topic): an ISO 8601 date-time with a zone (`2026-12-01T16:00:00Z`, `…+01:00`), a date alone
 * (`2026-12-01`, midnight UTC), an epoch number of 10 digits or more read by magnitude as the log contract
 * reads one (layers/shared/src/schemas/log.ts: below 1e11 seconds, what `date +%s` prints; below 1e14
 * milliseconds; anything larger is refused as ambiguous), or a duration before now (`90s`, `15m`, `2h`,
 * `7d`). Refused as well: a date whose parts do not exist (`2026-02-30` would roll over to March), and any
 * time before 1970-01-01 (Kafka has no offset for a negative timestamp).
 */

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;
/** The log contract's bounds (layers/shared/src/schemas/log.ts, TIMESTAMP_RULE). */
const EPOCH_SECONDS_BELOW = 1e11;
const EPOCH_MILLIS_BELOW = 1e14;
const ACCEPTED =
  'give an ISO 8601 date-time with a zone (2026-12-01T16:00:00Z), a date (2026-12-01), epoch seconds or milliseconds (below 1e11 seconds, below 1e14 milliseconds), or a duration ago (15m, 2h, 7d)';

/**
 * @returns epoch milliseconds, never negative
 * @throws Error saying what is accepted, for anything else
 * @example
 * parseTime('2026-12-01T16:00:00Z'); // 1764604800000
 * parseTime('1764604800'); // 1764604800000 (seconds: below 1e11)
 * parseTime('2h', Date.parse('2026-12-01T18:00:00Z')); // 1764604800000
 */
export function parseTime(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  return notBefore1970(text, instantOf(text, trimmed, now));
}

function instantOf(text: string, trimmed: string, now: number): number {
  const duration = DURATION.exec(trimmed);
  if (duration !== null) return now - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
  if (/^\d{10,}$/.test(trimmed)) {
    const value = Number(trimmed);
    if (value < EPOCH_SECONDS_BELOW) return value * 1000;
    if (value < EPOCH_MILLIS_BELOW) return value;
    throw new Error(`"${text}" is ambiguous as an epoch number: below 1e11 it is seconds, below 1e14 milliseconds, and nothing larger is taken`);
  }
  const parts = DATE_ONLY.exec(trimmed) ?? DATE_TIME.exec(trimmed);
  if (parts !== null) {
    const ms = Date.parse(DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed);
    if (Number.isFinite(ms) && exists(parts)) return ms;
  }
  throw new Error(`"${text}" is not a time: ${ACCEPTED}`);
}

/** The date and time as written are a real one (Date.parse rolls 2026-02-30 over to 2026-03-02, 24:00 to the next day). */
function exists(parts: RegExpExecArray): boolean {
  const [year, month, day, hour = 0, minute = 0, second = 0] = parts.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const written = new Date(Date.UTC(year as number, (month as number) - 1, day, hour, minute, second));
  return (
    written.getUTCFullYear() === year &&
    written.getUTCMonth() === (month as number) - 1 &&
    written.getUTCDate() === day &&
    written.getUTCHours() === hour &&
    written.getUTCMinutes() === minute &&
    written.getUTCSeconds() === second
  );
}

function notBefore1970(text: string, ms: number): number {
  if (Number.isFinite(ms) && ms >= 0) return ms;
  throw new Error(`"${text}" is before 1970-01-01T00:00:00Z: Kafka's record timestamps start there`);
}
