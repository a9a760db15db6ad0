import { silentLog } from '#shared/log-port.ts';
import { isBreakerRejection, SharedBreaker } from '../../../functions/enrich/src/breaker.ts';
import { FakeBreakerReports } from './fakes.ts';

// volume 3: one failure of this instance's own calls is not enough to open (a failed probe is).
const SETTINGS = { name: 'postgres', timeoutMs: 1_000, errorPercent: 50, volume: 3, windowMs: 10_000 };
const fail = () => Promise.reject(new Error('down'));
const ok = async () => 'ok';
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('SharedBreaker', () => {
  const breakers: SharedBreaker[] = [];
  afterEach(() => {
    for (const breaker of breakers.splice(0)) breaker.shutdown();
  });
  function breaker(store: FakeBreakerReports | undefined, options: { resetMs?: number; instanceId?: string; now?: () => number; volume?: number } = {}): SharedBreaker {
    const created = new SharedBreaker(
      { ...SETTINGS, resetMs: options.resetMs ?? 60_000, volume: options.volume ?? SETTINGS.volume },
      { reports: store, instanceId: options.instanceId ?? 'me', log: silentLog, clock: options.now },
    );
    breakers.push(created);
    return created;
  }
  /** Another instance, on the same store, that opens on its first failure. */
  async function sickPeer(store: FakeBreakerReports, instanceId = 'sick'): Promise<SharedBreaker> {
    const peer = breaker(store, { instanceId, volume: 1 });
    await peer.fire(fail).catch(() => undefined);
    await flush();
    return peer;
  }
  /** `subject` probes a first report successfully (so it turns quiet), then reads a second one. */
  async function probedThenReportedAgain(store: FakeBreakerReports, subject: SharedBreaker): Promise<void> {
    await sickPeer(store, 'sick-1');
    await subject.refresh();
    await subject.fire(ok); // the probe
    await sickPeer(store, 'sick-2');
    await subject.refresh();
  }

  it('opens on its own failures and reports the open, stamped by the store', async () => {
    // Prepare
    const store = new FakeBreakerReports();
    const subject = breaker(store, { volume: 1 });
    // Act
    await subject.fire(fail).catch(() => undefined);
    await flush();
    // Assess
    expect(subject.state).toBe('open');
    expect(store.latest.get('postgres')).toMatchObject({ instanceId: 'me', epoch: 1 });
  });

  it('rejects at once while open, without running the task', async () => {
    const subject = breaker(new FakeBreakerReports(), { volume: 1 });
    await subject.fire(fail).catch(() => undefined);
    let ran = false;
    await expect(subject.fire(async () => { ran = true; })).rejects.toThrow('Breaker is open');
    expect(ran).toBe(false);
  });

  it('stays closed when another instance reports an open, and pays one probe that succeeds', async () => {
    // Prepare
    const store = new FakeBreakerReports();
    await sickPeer(store);
    const healthy = breaker(store);
    // Act
    await healthy.refresh();
    const pendingBefore = healthy.health().probePending;
    const answer = await healthy.fire(ok);
    // Assess
    expect(pendingBefore).toBe(true);
    expect(answer).toBe('ok');
    expect(healthy.state).toBe('closed');
    expect(healthy.health()).toMatchObject({ probePending: false, counts: { fires: 1, successes: 1 } });
  });

  it('opens after one failed probe, below its own volume threshold, and reports it too', async () => {
    // Prepare
    const store = new FakeBreakerReports();
    await sickPeer(store);
    const second = breaker(store);
    await second.refresh();
    // Act
    await expect(second.fire(fail)).rejects.toThrow('down');
    await flush();
    // Assess
    expect(second.state).toBe('open');
    expect(store.latest.get('postgres')).toMatchObject({ instanceId: 'me', epoch: 2 });
  });

  it('without a report, one failure below the volume threshold does not open', async () => {
    const subject = breaker(new FakeBreakerReports());
    await subject.refresh();
    await subject.fire(fail).catch(() => undefined);
    expect(subject.state).toBe('closed');
  });

  it('makes concurrent calls wait for the probe; after a failed probe they are rejected without running', async () => {
    // Prepare
    const store = new FakeBreakerReports();
    await sickPeer(store);
    const subject = breaker(store);
    await subject.refresh();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let concurrentRan = false;
    // Act
    const probe = subject.fire(async () => {
      await gate;
      throw new Error('down');
    });
    const concurrent = subject.fire(async () => {
      concurrentRan = true;
    });
    await flush();
    const ranBeforeTheProbeSettled = concurrentRan;
    release();
    // Assess
    await expect(probe).rejects.toThrow('down');
    await expect(concurrent).rejects.toThrow('Breaker is open');
    expect(ranBeforeTheProbeSettled).toBe(false);
    expect(concurrentRan).toBe(false);
  });

  it('lets concurrent calls run once the probe succeeded', async () => {
    const store = new FakeBreakerReports();
    await sickPeer(store);
    const subject = breaker(store);
    await subject.refresh();
    const results = await Promise.all([subject.fire(ok), subject.fire(ok), subject.fire(ok)]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(subject.health().counts.successes).toBe(3);
  });

  it('probes at most once per reset time however many reports arrive, and again after it', async () => {
    // Prepare: two sick instances keep reporting; our clock is ours to move
    let now = 1_000_000;
    const store = new FakeBreakerReports();
    const subject = breaker(store, { resetMs: 5_000, now: () => now });
    await sickPeer(store, 'sick-1');
    await subject.refresh();
    await subject.fire(ok); // the probe
    // Act 1: a new report within the reset time; a failure now is an ordinary call, not a probe
    await sickPeer(store, 'sick-2');
    await subject.refresh();
    await subject.fire(fail).catch(() => undefined);
    // Assess 1
    expect(subject.state).toBe('closed');
    // Act 2: the reset time has passed; the pending report is probed by the next call
    now += 5_000;
    await subject.fire(fail).catch(() => undefined);
    // Assess 2
    expect(subject.state).toBe('open');
  });

  it('does not probe the same report twice', async () => {
    let now = 0;
    const store = new FakeBreakerReports();
    await sickPeer(store);
    const subject = breaker(store, { resetMs: 5_000, now: () => now });
    await subject.refresh();
    await subject.fire(ok);
    now += 60_000;
    await subject.refresh(); // the same, unchanged report
    await subject.fire(fail).catch(() => undefined);
    expect(subject.state).toBe('closed');
    expect(subject.health().probePending).toBe(false);
  });

  it('drops a report read while quiet once it has expired: nothing pending, no probe after the quiet time', async () => {
    // Prepare: a successful probe starts the quiet time; another report is read during it
    let now = 1_000_000;
    const store = new FakeBreakerReports();
    const subject = breaker(store, { resetMs: 5_000, now: () => now });
    await probedThenReportedAgain(store, subject);
    const pendingWhileQuiet = subject.health().probePending;
    // Act: far past the quiet time and the report's time to live (twice the reset time), with no read in between
    now += 60_000;
    const pendingAfter = subject.health().probePending;
    await subject.fire(fail).catch(() => undefined);
    // Assess: an ordinary call failed (below the volume threshold), not a probe
    expect(pendingWhileQuiet).toBe(true);
    expect(pendingAfter).toBe(false);
    expect(subject.state).toBe('closed');
  });

  it('drops a pending report once the store no longer holds it', async () => {
    // Prepare
    let now = 1_000_000;
    const store = new FakeBreakerReports();
    const subject = breaker(store, { resetMs: 5_000, now: () => now });
    await probedThenReportedAgain(store, subject);
    // Act: the report expires in the store while we are quiet; the quiet time ends
    store.latest.delete('postgres');
    await subject.refresh();
    now += 5_000;
    await subject.fire(fail).catch(() => undefined);
    // Assess
    expect(subject.health().probePending).toBe(false);
    expect(subject.state).toBe('closed');
  });

  it('keeps its quiet time on a monotonic clock: a wall-clock step does not end it', async () => {
    // Prepare: the default clocks, built while the wall clock is ours to step; a successful probe, then a fresh report
    const wallClock = Date.now;
    let step = 0;
    Date.now = () => wallClock() + step;
    try {
      const store = new FakeBreakerReports();
      const subject = breaker(store, { resetMs: 60_000 });
      await probedThenReportedAgain(store, subject); // quiet for a minute
      // Act: the wall clock steps an hour ahead (NTP, a VM resumed), then a call fails
      step = 3_600_000;
      await subject.fire(fail).catch(() => undefined);
      // Assess: still quiet, so an ordinary call below the volume threshold, not a probe
      expect(subject.state).toBe('closed');
    } finally {
      Date.now = wallClock;
    }
  });

  it('ignores its own reports', async () => {
    // Prepare: we opened, reported, and closed again after a successful half-open probe
    const store = new FakeBreakerReports();
    const subject = breaker(store, { resetMs: 20, volume: 1 });
    await subject.fire(fail).catch(() => undefined);
    await flush();
    await new Promise((resolve) => setTimeout(resolve, 40));
    await subject.fire(ok);
    expect(subject.state).toBe('closed');
    // Act
    await subject.refresh();
    // Assess
    expect(subject.health().probePending).toBe(false);
  });

  it('ignores a report read while open: its own half-open probe decides', async () => {
    const store = new FakeBreakerReports();
    const subject = breaker(store, { resetMs: 20, volume: 1, instanceId: 'me' });
    await subject.fire(fail).catch(() => undefined);
    await sickPeer(store);
    await subject.refresh();
    await new Promise((resolve) => setTimeout(resolve, 40));
    await subject.fire(ok); // half-open probe
    expect(subject.state).toBe('closed');
    expect(subject.health().probePending).toBe(false);
  });

  it('keeps working on its in-process state when the store is down', async () => {
    const store = new FakeBreakerReports();
    store.down = true;
    const subject = breaker(store, { volume: 1 });
    await expect(subject.refresh()).resolves.toBeUndefined();
    await subject.fire(fail).catch(() => undefined);
    await flush();
    expect(subject.state).toBe('open');
  });

  it('stays in-process without a store', async () => {
    const subject = breaker(undefined, { volume: 1 });
    await subject.refresh();
    await subject.fire(fail).catch(() => undefined);
    expect(subject.state).toBe('open');
  });

  it('tells fail-fast rejections from timeouts', async () => {
    // Prepare
    const timing = new SharedBreaker({ ...SETTINGS, timeoutMs: 5, resetMs: 60_000, volume: 1 }, { instanceId: 'me', log: silentLog });
    breakers.push(timing);
    // Act
    const timeout = await timing.fire(() => new Promise((resolve) => setTimeout(resolve, 50))).catch((error: unknown) => error);
    const rejection = await timing.fire(ok).catch((error: unknown) => error);
    // Assess
    expect(isBreakerRejection(timeout)).toBe(false);
    expect(isBreakerRejection(rejection)).toBe(true);
    expect(isBreakerRejection(new Error('down'))).toBe(false);
  });
});
