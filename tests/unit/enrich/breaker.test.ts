import { SharedBreaker } from '../../../functions/enrich/src/breaker.ts';
import type { StoredBreakerState } from '../../../functions/enrich/src/ports.ts';
import { FakeRemoteCache } from './fakes.ts';

const SETTINGS = { name: 'postgres', timeoutMs: 1_000, errorPercent: 50, volume: 1, windowMs: 10_000 };
const fail = () => Promise.reject(new Error('down'));
const flush = () => new Promise((resolve) => setImmediate(resolve));

function storedOpen(openedAt: number, overrides: Partial<StoredBreakerState> = {}): StoredBreakerState {
  return {
    name: 'postgres',
    state: 'open',
    openedAt,
    updatedAt: openedAt,
    instanceId: 'other',
    counts: { fires: 3, failures: 3, successes: 0, rejects: 0, timeouts: 0 },
    ...overrides,
  };
}

describe('SharedBreaker', () => {
  const breakers: SharedBreaker[] = [];
  afterEach(() => {
    for (const breaker of breakers.splice(0)) breaker.shutdown();
  });
  function breaker(store: FakeRemoteCache, options: { resetMs?: number; instanceId?: string; now?: () => number } = {}): SharedBreaker {
    const created = new SharedBreaker({ ...SETTINGS, resetMs: options.resetMs ?? 60_000 }, store, options.instanceId ?? 'me', options.now);
    breakers.push(created);
    return created;
  }

  it('saves its own open time and counts when it opens', async () => {
    // Prepare
    const store = new FakeRemoteCache();
    const subject = breaker(store, { now: () => 1_000_000 });
    // Act
    await subject.fire(fail).catch(() => undefined);
    await flush();
    // Assess
    expect(subject.state).toBe('open');
    expect(store.breakerStates.get('postgres')).toMatchObject({
      state: 'open',
      openedAt: 1_000_000,
      instanceId: 'me',
      counts: { failures: 1 },
    });
  });

  it('rejects at once while open, without running the task', async () => {
    const subject = breaker(new FakeRemoteCache());
    await subject.fire(fail).catch(() => undefined);
    let ran = false;
    await expect(subject.fire(async () => { ran = true; })).rejects.toThrow('Breaker is open');
    expect(ran).toBe(false);
  });

  it('adopts an open state saved by another instance', () => {
    // Prepare
    const subject = breaker(new FakeRemoteCache());
    // Act
    subject.adopt(storedOpen(Date.now()));
    // Assess
    expect(subject.state).toBe('open');
  });

  it('starts half-open when the other instance opened it longer ago than the reset time', () => {
    const subject = breaker(new FakeRemoteCache(), { resetMs: 1_000 });
    subject.adopt(storedOpen(Date.now() - 5_000));
    expect(subject.state).toBe('halfOpen');
  });

  it('half-opens when the adopted open time plus the reset time is reached, not a full reset later', async () => {
    // Prepare: opened elsewhere 150 ms ago with a 200 ms reset: about 50 ms are left
    const subject = breaker(new FakeRemoteCache(), { resetMs: 200 });
    subject.adopt(storedOpen(Date.now() - 150));
    expect(subject.state).toBe('open');
    // Act
    await new Promise((resolve) => setTimeout(resolve, 120));
    // Assess
    expect(subject.state).toBe('halfOpen');
  });

  it('closes when another instance saved a close after our open, and ignores its own and older states', async () => {
    // Prepare
    const store = new FakeRemoteCache();
    const subject = breaker(store);
    await subject.fire(fail).catch(() => undefined);
    const ours = subject.snapshot();
    // Act + Assess
    subject.adopt({ ...ours, state: 'closed' }); // our own instance id: ignored
    expect(subject.state).toBe('open');
    subject.adopt({ ...ours, instanceId: 'other', state: 'closed', updatedAt: ours.updatedAt - 10 }); // older: ignored
    expect(subject.state).toBe('open');
    subject.adopt({ ...ours, instanceId: 'other', state: 'closed', updatedAt: ours.updatedAt + 10 });
    expect(subject.state).toBe('closed');
  });

  it('closes after a successful half-open probe and shares the close', async () => {
    // Prepare
    const store = new FakeRemoteCache();
    const subject = breaker(store, { resetMs: 1_000 });
    subject.adopt(storedOpen(Date.now() - 5_000));
    // Act
    await subject.fire(async () => 'ok');
    await flush();
    // Assess
    expect(subject.state).toBe('closed');
    expect(store.breakerStates.get('postgres')).toMatchObject({ state: 'closed', instanceId: 'me', openedAt: null });
  });

  it('keeps working on its in-process state when the store is down', async () => {
    const store = new FakeRemoteCache();
    store.down = true;
    const subject = breaker(store);
    await subject.fire(fail).catch(() => undefined);
    await flush();
    expect(subject.state).toBe('open');
  });
});
