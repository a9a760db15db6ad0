/**
 * Open-loop arrival schedule. Request `i` is due at `i / requestsPerSecond` seconds after the start,
 * whatever happened to the requests before it: a closed loop (send, await, send) slows down with the
 * server and so hides overload. When the client itself cannot keep up (too many requests in flight), a due
 * request is dropped and counted, never delayed, so the offered rate stays the stated one.
 */

export interface LoadShape {
  /** Logs per second offered. */
  rate: number;
  durationSeconds: number;
  /** Logs per request (1 = one JSON object per request; more = a JSON array). */
  batch: number;
}

export interface ArrivalPlan {
  requestsPerSecond: number;
  totalRequests: number;
  totalLogs: number;
  batch: number;
}

/**
 * @example
 * planArrivals({ rate: 500, durationSeconds: 60, batch: 10 }); // 50 requests/s, 3000 requests, 30000 logs
 */
export function planArrivals(shape: LoadShape): ArrivalPlan {
  const { rate, durationSeconds, batch } = shape;
  if (!(rate > 0)) throw new RangeError(`rate must be > 0, got ${rate}`);
  if (!(durationSeconds > 0)) throw new RangeError(`duration must be > 0, got ${durationSeconds}`);
  if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`batch must be an integer ≥ 1, got ${batch}`);
  const totalLogs = Math.max(1, Math.round(rate * durationSeconds));
  return {
    requestsPerSecond: rate / batch,
    totalRequests: Math.ceil(totalLogs / batch),
    totalLogs,
    batch,
  };
}

/** Logs carried by request `index`: `batch`, except a shorter last one when the total does not divide. */
export function logsInRequest(plan: ArrivalPlan, index: number): number {
  return Math.min(plan.batch, plan.totalLogs - index * plan.batch);
}

/** Milliseconds after the start at which request `index` is due. */
export function scheduledAtMs(plan: ArrivalPlan, index: number): number {
  return (index * 1000) / plan.requestsPerSecond;
}

/** How many requests are due by `elapsedMs` (request 0 is due at once). */
export function dueBy(plan: ArrivalPlan, elapsedMs: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(plan.totalRequests, Math.floor((elapsedMs * plan.requestsPerSecond) / 1000) + 1);
}

export interface TickDecision {
  /** Indices of the requests to start now, in order. */
  start: number[];
  /** Requests that were due but found the in-flight cap reached: dropped (client overload). */
  dropped: number;
}

/**
 * The scheduling state of one run: which requests were handed out or dropped so far. Pure: the caller
 * passes the clock and the in-flight count, so tests drive it without timers.
 *
 * @example
 * const scheduler = new OpenLoopScheduler(planArrivals({ rate: 100, durationSeconds: 1, batch: 1 }), 64);
 * const { start, dropped } = scheduler.tick(performance.now() - began, inFlight);
 */
export class OpenLoopScheduler {
  readonly plan: ArrivalPlan;
  readonly maxInFlight: number;
  #next = 0;
  #dropped = 0;

  constructor(plan: ArrivalPlan, maxInFlight: number) {
    if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
      throw new RangeError(`maxInFlight must be an integer ≥ 1, got ${maxInFlight}`);
    }
    this.plan = plan;
    this.maxInFlight = maxInFlight;
  }

  tick(elapsedMs: number, inFlight: number): TickDecision {
    const due = dueBy(this.plan, elapsedMs);
    const start: number[] = [];
    let dropped = 0;
    let busy = inFlight;
    for (; this.#next < due; this.#next += 1) {
      if (busy >= this.maxInFlight) {
        dropped += 1;
        continue;
      }
      start.push(this.#next);
      busy += 1;
    }
    this.#dropped += dropped;
    return { start, dropped };
  }

  /** Every request was either started or dropped. */
  get done(): boolean {
    return this.#next >= this.plan.totalRequests;
  }

  get droppedTotal(): number {
    return this.#dropped;
  }

  /** Milliseconds until the next request is due (0 when one is already due; `Infinity` when done). */
  waitMs(elapsedMs: number): number {
    if (this.done) return Number.POSITIVE_INFINITY;
    return Math.max(0, scheduledAtMs(this.plan, this.#next) - elapsedMs);
  }
}
