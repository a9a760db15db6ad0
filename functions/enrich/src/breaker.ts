/**
 * An opossum circuit breaker whose state is shared between function instances through a store (Redis).
 *
 * Why shared: Lambda scales out; without it, every new instance would rediscover a dead database by paying
 * the timeout on its first batches. Each transition (open, half-open, close) is saved, fire-and-forget; the
 * states other instances saved are applied with `adopt` (read in the batch's Redis round trip).
 *
 * Why we record `openedAt` ourselves: opossum's `toJSON().state.lastTimerAt` is when the breaker was
 * constructed, not when it opened, so restoring from it could half-open too early (toolchain notes).
 * A restored open breaker is rebuilt with `resetTimeout` set to the time left, then put back to the
 * configured value once its timer is running.
 */
import CircuitBreaker from 'opossum';
import { logger } from '#shared/observability.ts';
import type { BreakerCounts, BreakerHealth, BreakerStateName, BreakerStateStore, StoredBreakerState } from './ports.ts';

export interface BreakerSettings {
  name: string;
  /** Client-side budget of one call; a slower call counts as a failure. */
  timeoutMs: number;
  resetMs: number;
  errorPercent: number;
  volume: number;
  windowMs: number;
}

type Task = () => Promise<unknown>;

/** The `state` option opossum 10 accepts but @types/opossum does not declare. */
interface RestoreOptions {
  state?: { closed: boolean; open: boolean; halfOpen: boolean };
}

const run = (task: Task): Promise<unknown> => task();

/** Error codes opossum gives its own rejections. */
export function isBreakerRejection(error: unknown): boolean {
  return error instanceof Error && CircuitBreaker.isOurError(error);
}

export class SharedBreaker {
  readonly name: string;
  readonly #settings: BreakerSettings;
  readonly #store: BreakerStateStore | undefined;
  readonly #instanceId: string;
  readonly #now: () => number;
  #breaker: CircuitBreaker<[Task], unknown>;
  #openedAt: number | null = null;
  /** updatedAt of the newest state we saved or adopted; older remote states are ignored. */
  #knownAt = 0;
  #adopting = false;

  constructor(settings: BreakerSettings, store: BreakerStateStore | undefined, instanceId: string, now: () => number = Date.now) {
    this.name = settings.name;
    this.#settings = settings;
    this.#store = store;
    this.#instanceId = instanceId;
    this.#now = now;
    this.#breaker = this.#create(undefined);
  }

  /** Runs `task` through the breaker: rejects at once while open, or with the task's error / a timeout. */
  fire<T>(task: () => Promise<T>): Promise<T> {
    return this.#breaker.fire(task) as Promise<T>;
  }

  get state(): BreakerStateName {
    if (this.#breaker.opened) return 'open';
    if (this.#breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  get openedAt(): number | null {
    return this.#openedAt;
  }

  health(): BreakerHealth {
    return { name: this.name, state: this.state, openedAt: this.#openedAt, counts: this.#counts() };
  }

  snapshot(): StoredBreakerState {
    return { ...this.health(), updatedAt: this.#knownAt, instanceId: this.#instanceId };
  }

  /**
   * Applies a state another instance saved: an open breaker elsewhere opens ours (from its `openedAt`, so it
   * half-opens when theirs does); a close elsewhere (a probe that succeeded) closes ours. Our own and older
   * states are ignored; half-open is left to each instance's own probe.
   */
  adopt(remote: StoredBreakerState | undefined): void {
    if (remote === undefined || remote.name !== this.name || remote.instanceId === this.#instanceId) return;
    if (remote.updatedAt <= this.#knownAt) return;
    this.#knownAt = remote.updatedAt;
    const local = this.state;
    if (remote.state === 'open' && local === 'closed' && remote.openedAt !== null) {
      logger.info('circuit breaker opened by another instance', { breaker: this.name, openedAt: remote.openedAt, by: remote.instanceId });
      this.#breaker.shutdown();
      this.#breaker = this.#create(remote.openedAt);
    } else if (remote.state === 'closed' && local !== 'closed') {
      logger.info('circuit breaker closed by another instance', { breaker: this.name, by: remote.instanceId });
      this.#adopting = true;
      try {
        this.#breaker.close();
      } finally {
        this.#adopting = false;
      }
    }
  }

  shutdown(): void {
    this.#breaker.shutdown();
  }

  #create(openedAt: number | undefined): CircuitBreaker<[Task], unknown> {
    const settings = this.#settings;
    const options: CircuitBreaker.Options<[Task]> & RestoreOptions = {
      name: settings.name,
      timeout: settings.timeoutMs,
      resetTimeout: settings.resetMs,
      errorThresholdPercentage: settings.errorPercent,
      volumeThreshold: settings.volume,
      rollingCountTimeout: settings.windowMs,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    };
    if (openedAt !== undefined) {
      const left = openedAt + settings.resetMs - this.#now();
      this.#openedAt = openedAt;
      if (left <= 0) {
        options.state = { closed: false, open: false, halfOpen: true };
      } else {
        // No lastTimerAt: opossum would compare it with the shortened resetTimeout and half-open at once.
        options.state = { closed: false, open: true, halfOpen: false };
        options.resetTimeout = left;
      }
    }
    const breaker = new CircuitBreaker(run, options);
    // The restored timer is running with the time left; later openings wait the full reset time again.
    // `options` is public in opossum but missing from @types/opossum.
    (breaker as unknown as { options: { resetTimeout: number } }).options.resetTimeout = settings.resetMs;
    breaker.on('open', () => {
      this.#openedAt = this.#now();
      logger.warn('circuit breaker open', { breaker: this.name });
      this.#changed();
    });
    breaker.on('halfOpen', () => {
      logger.info('circuit breaker half-open', { breaker: this.name });
      this.#changed();
    });
    breaker.on('close', () => {
      this.#openedAt = null;
      logger.info('circuit breaker closed', { breaker: this.name });
      if (!this.#adopting) this.#changed();
    });
    return breaker;
  }

  #changed(): void {
    // Strictly increasing, so two transitions within one millisecond are still ordered.
    this.#knownAt = Math.max(this.#now(), this.#knownAt + 1);
    const store = this.#store;
    if (store === undefined) return;
    store.save(this.snapshot()).catch((error: unknown) => {
      // Expected while Redis is down: the in-process state is then the only state.
      logger.debug('could not share circuit breaker state', { breaker: this.name, error });
    });
  }

  #counts(): BreakerCounts {
    const stats = this.#breaker.stats;
    return { fires: stats.fires, failures: stats.failures, successes: stats.successes, rejects: stats.rejects, timeouts: stats.timeouts };
  }
}
