import { dueBy, logsInRequest, OpenLoopScheduler, planArrivals, scheduledAtMs } from '../../../load/lib/schedule.ts';

describe('planArrivals', () => {
  it('turns a log rate into a request rate for batched requests', () => {
    const plan = planArrivals({ rate: 500, durationSeconds: 60, batch: 10 });

    expect(plan).toEqual({ requestsPerSecond: 50, totalRequests: 3000, totalLogs: 30_000, batch: 10 });
  });

  it('sends a shorter last request when the total does not divide by the batch', () => {
    const plan = planArrivals({ rate: 25, durationSeconds: 1, batch: 10 });

    expect(plan.totalRequests).toBe(3);
    expect([0, 1, 2].map((index) => logsInRequest(plan, index))).toEqual([10, 10, 5]);
  });

  it('rejects a zero rate, a zero duration and a fractional batch', () => {
    expect(() => planArrivals({ rate: 0, durationSeconds: 1, batch: 1 })).toThrow(RangeError);
    expect(() => planArrivals({ rate: 1, durationSeconds: 0, batch: 1 })).toThrow(RangeError);
    expect(() => planArrivals({ rate: 1, durationSeconds: 1, batch: 1.5 })).toThrow(RangeError);
  });
});

describe('dueBy', () => {
  const plan = planArrivals({ rate: 100, durationSeconds: 1, batch: 1 }); // one request every 10 ms

  it('makes the first request due at once and one more every interval', () => {
    expect([dueBy(plan, -1), dueBy(plan, 0), dueBy(plan, 9.9), dueBy(plan, 10), dueBy(plan, 55)]).toEqual([0, 1, 1, 2, 6]);
  });

  it('never makes more requests due than the run holds', () => {
    expect(dueBy(plan, 60_000)).toBe(100);
  });

  it('spaces scheduled start times evenly', () => {
    expect([scheduledAtMs(plan, 0), scheduledAtMs(plan, 1), scheduledAtMs(plan, 99)]).toEqual([0, 10, 990]);
  });
});

describe('OpenLoopScheduler', () => {
  it('starts every due request at once however long earlier requests take (open loop)', () => {
    // Prepare: 10 requests in flight that have not answered
    const scheduler = new OpenLoopScheduler(planArrivals({ rate: 1000, durationSeconds: 1, batch: 1 }), 100);

    // Act
    const decision = scheduler.tick(9.5, 10);

    // Assess
    expect(decision).toEqual({ start: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dropped: 0 });
  });

  it('drops and counts due requests beyond the in-flight cap instead of delaying them', () => {
    // Prepare
    const scheduler = new OpenLoopScheduler(planArrivals({ rate: 1000, durationSeconds: 1, batch: 1 }), 4);

    // Act: 10 due, 2 already in flight, cap 4
    const first = scheduler.tick(9.5, 2);
    const later = scheduler.tick(10.5, 0);

    // Assess: the dropped ones are not replayed later
    expect(first).toEqual({ start: [0, 1], dropped: 8 });
    expect(later).toEqual({ start: [10], dropped: 0 });
    expect(scheduler.droppedTotal).toBe(8);
  });

  it('is done once every request was started or dropped', () => {
    // Prepare
    const scheduler = new OpenLoopScheduler(planArrivals({ rate: 10, durationSeconds: 1, batch: 1 }), 1);

    // Act
    scheduler.tick(500, 0);
    const beforeEnd = scheduler.done;
    scheduler.tick(900, 0);

    // Assess
    expect(beforeEnd).toBe(false);
    expect(scheduler.done).toBe(true);
    expect(scheduler.waitMs(900)).toBe(Number.POSITIVE_INFINITY);
  });

  it('says how long to wait for the next due request', () => {
    // Prepare: one request every 100 ms
    const scheduler = new OpenLoopScheduler(planArrivals({ rate: 10, durationSeconds: 1, batch: 1 }), 8);
    scheduler.tick(0, 0);

    // Act
    const wait = scheduler.waitMs(30);

    // Assess
    expect(wait).toBe(70);
  });
});
