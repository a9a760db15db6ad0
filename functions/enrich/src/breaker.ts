/**
 * An opossum circuit breaker that shares evidence, not verdicts, with the other function instances.
 *
 * Why share at all: Lambda scales out; without it, every new instance would rediscover a dead database by
 * paying its own volume of failed calls. Why not share the state itself: one instance with a broken path
 * to the source (a wrong URL, an AZ that cannot reach it, a bad deploy) would then open every healthy
 * instance's breaker, and a healthy instance's "closed" would re-open a really-down source to the fleet.
 *
 * The rule:
 * - Each instance opens, half-opens and closes on its own calls only (opossum's rolling window).
 * - When it opens, it files a report (`BreakerReports`, in Redis); Redis orders the reports with a counter
 *   and stamps its own time, so instance clocks are never compared. Closing is not shared: it would erase
 *   the evidence of instances that still fail.
 * - A closed instance that reads a report it has not seen from another instance makes its next call a
 *   probe: that call runs alone (concurrent calls of this instance wait for its outcome, bounded by the
 *   call timeout); if it fails, the breaker opens at once (without waiting for the volume threshold) and
 *   reports; if it succeeds, the instance stays closed and ignores further reports for one reset time.
 *   So a healthy instance pays at most one probe per reset time (a normal call that succeeds), and a
 *   really-down source costs each other instance one bounded call before it opens too.
 * - A report is evidence for twice the reset time: instances that keep failing re-open (and re-report)
 *   once per reset time, so it stays alive exactly as long as someone still fails. A report waiting for
 *   our next call (read during the quiet time, or with no call since) is dropped once Redis no longer holds
 *   it, or once it is older than that time to live by our own clock (counted from when we read it, which is
 *   after it was made, so it has expired by then): expired evidence never causes a probe.
 * - Local windows (the quiet time, a pending report's age) run on a monotonic clock: a wall-clock step
 *   (NTP, a resumed VM) neither ends nor stretches them.
 */
import CircuitBreaker from 'opossum';
import type { Log } from '#shared/log-port.ts';
import type { BreakerCounts, BreakerHealth, BreakerReports, BreakerStateName, SharedOpenReport } from './ports.ts';

export interface BreakerSettings {
  name: string;
  /** Client-side budget of one call; a slower call counts as a failure. */
  timeoutMs: number;
  resetMs: number;
  errorPercent: number;
  volume: number;
  windowMs: number;
  /** How long a shared report lives (RedisBreakerReports' `reportTtlMs`); default twice `resetMs`. */
  reportTtlMs?: number;
}

export interface SharedBreakerDeps {
  /**
   * Where reports are shared; absent for a breaker that stays in-process (the Redis breaker: an instance
   * that can read the shared reports has just reached Redis, so a report could only be wrong).
   */
  reports?: BreakerReports | undefined;
  /** Names this instance in the reports it makes, and tells its own reports from others'. */
  instanceId: string;
  log: Log;
  /** Monotonic milliseconds for the local windows (tests pass their own). */
  clock?: (() => number) | undefined;
}

type Task = () => Promise<unknown>;

const run = (task: Task): Promise<unknown> => task();

const monotonicNow = (): number => performance.now();

/**
 * True for opossum's fail-fast rejections (breaker open, or half-open with its one probe already out): the
 * task never ran, so there is nothing to log. Its timeout (`ETIMEDOUT`) is a real failure and is not one.
 */
export function isBreakerRejection(error: unknown): boolean {
  if (!(error instanceof Error) || !CircuitBreaker.isOurError(error)) return false;
  const code = (error as Error & { code?: string }).code;
  return code === 'EOPENBREAKER' || code === 'ESEMLOCKED';
}

function tokenOf(report: SharedOpenReport): string {
  return `${report.epoch}:${report.reportedAt}:${report.instanceId}`;
}

/**
 * @example
 * const settings = { name: 'postgres', timeoutMs: 300, resetMs: 5000, errorPercent: 50, volume: 3, windowMs: 10000 };
 * const postgres = new SharedBreaker(settings, { reports, instanceId: 'instance-1', log: logger });
 * await postgres.refresh();                        // with the batch's Redis read
 * const rows = await postgres.fire(() => source.fetch(request));
 */
export class SharedBreaker {
  readonly name: string;
  readonly #settings: BreakerSettings;
  readonly #reports: BreakerReports | undefined;
  readonly #instanceId: string;
  readonly #log: Log;
  /** Monotonic milliseconds, for local windows only. */
  readonly #clock: () => number;
  readonly #reportTtlMs: number;
  readonly #breaker: CircuitBreaker<[Task], unknown>;
  #openedAt: number | null = null;
  /** The last report read or made; `BreakerReports` keeps only the latest, so one token is enough to dedupe. */
  #lastReport: string | undefined;
  /** A report from another instance that our next call must probe, and when we read it (`#clock`). */
  #pending: { report: SharedOpenReport; readAt: number } | undefined;
  /** The probe in flight; concurrent calls wait for it. */
  #probe: Promise<void> | undefined;
  /** After a successful probe, reports are not probed again before this time (`#clock`). */
  #quietUntil = Number.NEGATIVE_INFINITY;

  constructor(settings: BreakerSettings, deps: SharedBreakerDeps) {
    this.name = settings.name;
    this.#settings = settings;
    this.#reports = deps.reports;
    this.#instanceId = deps.instanceId;
    this.#log = deps.log;
    this.#clock = deps.clock ?? monotonicNow;
    this.#reportTtlMs = settings.reportTtlMs ?? 2 * settings.resetMs;
    this.#breaker = new CircuitBreaker(run, {
      name: settings.name,
      timeout: settings.timeoutMs,
      resetTimeout: settings.resetMs,
      errorThresholdPercentage: settings.errorPercent,
      volumeThreshold: settings.volume,
      rollingCountTimeout: settings.windowMs,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
    this.#breaker.on('open', () => {
      // Wall-clock time: shown in health, never used to measure anything.
      this.#openedAt = Date.now();
      this.#pending = undefined;
      this.#log.warn('circuit breaker open', { breaker: this.name });
      this.#report();
    });
    this.#breaker.on('halfOpen', () => this.#log.info('circuit breaker half-open', { breaker: this.name }));
    this.#breaker.on('close', () => {
      this.#openedAt = null;
      this.#log.info('circuit breaker closed', { breaker: this.name });
    });
  }

  /**
   * Runs `task` through the breaker: rejects at once while open, or with the task's error / a timeout.
   * While a probe is out, waits for its outcome first.
   */
  async fire<T>(task: () => Promise<T>): Promise<T> {
    while (this.#probe !== undefined) await this.#probe;
    if (this.state === 'closed' && this.#clock() >= this.#quietUntil && this.#livePending() !== undefined) return this.#probeWith(task);
    return (await this.#breaker.fire(task)) as T;
  }

  /** Reads the latest shared report of this breaker; never rejects (Redis down: in-process only). */
  async refresh(): Promise<void> {
    const shared = this.#reports;
    if (shared === undefined) return;
    let reports: SharedOpenReport[];
    try {
      reports = await shared.read([this.name]);
    } catch (error) {
      this.#log.debug('could not read shared circuit breaker reports', { breaker: this.name, error });
      return;
    }
    // `read` answers the latest report while it lives: none means the one we were waiting to probe expired.
    if (!reports.some((report) => report.name === this.name)) this.#pending = undefined;
    for (const report of reports) this.consider(report);
  }

  /**
   * Takes in a shared report. Only a new report from another instance, read while closed, is acted on (the
   * next call probes); one read while open or half-open is older than our own next probe.
   */
  consider(report: SharedOpenReport): void {
    if (report.name !== this.name) return;
    const token = tokenOf(report);
    if (token === this.#lastReport) return;
    this.#lastReport = token;
    if (report.instanceId === this.#instanceId || this.state !== 'closed') return;
    if (this.#pending === undefined) {
      this.#log.info('another instance reported this source failing; the next call probes it', { breaker: this.name, by: report.instanceId });
    }
    this.#pending = { report, readAt: this.#clock() };
  }

  get state(): BreakerStateName {
    if (this.#breaker.opened) return 'open';
    if (this.#breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  get openedAt(): number | null {
    return this.#openedAt;
  }

  /**
   * `counts` is read when asked for: every batch reports its breakers to the metrics, which read only the
   * state, and summing opossum's rolling window on each batch was a visible share of the lookup's CPU.
   */
  health(): BreakerHealth {
    const counts = () => this.#counts();
    return {
      name: this.name,
      state: this.state,
      openedAt: this.#openedAt,
      probePending: this.#livePending() !== undefined || this.#probe !== undefined,
      get counts() {
        return counts();
      },
    };
  }

  shutdown(): void {
    this.#breaker.shutdown();
  }

  /** The pending report, unless it has outlived the reports' time to live since we read it (then dropped). */
  #livePending(): SharedOpenReport | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    if (this.#clock() - pending.readAt < this.#reportTtlMs) return pending.report;
    this.#pending = undefined;
    return undefined;
  }

  async #probeWith<T>(task: () => Promise<T>): Promise<T> {
    const report = this.#pending?.report;
    this.#pending = undefined;
    let settle: () => void = () => undefined;
    this.#probe = new Promise<void>((resolve) => {
      settle = resolve;
    });
    try {
      const result = (await this.#breaker.fire(task)) as T;
      this.#quietUntil = this.#clock() + this.#settings.resetMs;
      this.#log.info('probe after another instance reported a failure succeeded; staying closed', { breaker: this.name, by: report?.instanceId });
      return result;
    } catch (error) {
      // One failure is enough here: another instance already saw the source fail.
      if (this.state === 'closed') this.#breaker.open();
      throw error;
    } finally {
      this.#probe = undefined;
      settle();
    }
  }

  #report(): void {
    const shared = this.#reports;
    if (shared === undefined) return;
    shared.reportOpen(this.name, this.#instanceId).then(
      (report) => {
        this.#lastReport = tokenOf(report);
      },
      (error: unknown) => {
        // Expected while Redis is down or unreachable from here: the in-process state is then the only one.
        this.#log.debug('could not share circuit breaker open', { breaker: this.name, error });
      },
    );
  }

  #counts(): BreakerCounts {
    const stats = this.#breaker.stats;
    return { fires: stats.fires, failures: stats.failures, successes: stats.successes, rejects: stats.rejects, timeouts: stats.timeouts };
  }
}
